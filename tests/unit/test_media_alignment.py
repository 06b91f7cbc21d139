"""Frames handed on without waiting: FollowClock deadlines and the Aligner's resampling."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest

from webrtc import media_timing
from webrtc.pacing import FollowClock
from webrtc.resampling import Aligner


def test_follow_clock_waits_for_the_other_clock_with_grace_then_keeps_time() -> None:
    clock = FollowClock(0.02, 0.04)
    assert clock.deadline(5.0) == 5.0  # nothing sent yet: at once
    clock.sent(5.0, handed_over=True)
    assert clock.deadline(5.001) == pytest.approx(5.06)  # a late tick is not pre-empted
    clock.sent(5.06, handed_over=False)
    assert clock.deadline(5.061) == pytest.approx(5.08)  # on our own: every 20 ms
    clock.sent(5.3, handed_over=False)  # woke very late: no burst to catch up
    assert clock.deadline(5.3) == pytest.approx(5.3)
    clock.restart()
    assert clock.deadline(9.0) == 9.0


def _frames(rate: int, layout: str, samples: int, count: int, impulse_at: int
            ) -> list[av.AudioFrame]:
    channels = 2 if layout == "stereo" else 1
    out = []
    for k in range(count):
        pcm = np.zeros(samples * channels, dtype="<i2")
        if k == impulse_at:
            pcm[:channels] = 20000
        frame = av.AudioFrame(format="s16", layout=layout, samples=samples)
        frame.planes[0].update(pcm.tobytes())
        frame.pts = k * samples
        frame.sample_rate = rate
        frame.time_base = fractions.Fraction(1, rate)
        out.append(frame)
    return out


@pytest.mark.parametrize(("src", "dst"), [
    ((48000, "stereo", 960), (16000, "mono", 320)),  # browser -> worker
    ((16000, "mono", 320), (48000, "stereo", 960)),  # worker -> Opus
    ((16000, "mono", 320), (8000, "mono", 160)),  # worker -> G.711
])
def test_every_input_frame_gives_one_whole_frame_at_once(
        src: tuple[int, str, int], dst: tuple[int, str, int]) -> None:
    rate, layout, samples = dst
    aligner = Aligner(rate, layout, samples)
    channels = 2 if layout == "stereo" else 1
    outputs = [aligner.convert(f) for f in _frames(*src, count=6, impulse_at=3)]
    assert [len(o) for o in outputs] == [1] * 6
    assert all(len(o[0]) == samples * 2 * channels for o in outputs)
    # The impulse comes out of the frame that carried it in (after the filter delay, a
    # few ms), not a frame later.
    heard = np.abs(np.frombuffer(outputs[3][0], dtype="<i2")[::channels])
    assert heard.max() > 2000 and int(np.argmax(heard)) < samples // 4


def test_stage_histograms_sum_and_summarise() -> None:
    times = media_timing.StageTimes()
    for ms in (1, 2, 3, 4, 100):
        times.record("up.queue", ms / 1000)
    times.record("down.queue", 10.0)  # beyond the last bin: kept in it
    taken = times.take()
    assert times.take()["up.queue"] == {}
    merged: dict[str, dict[int, int]] = {}
    media_timing.merge(merged, {k: {str(b): n for b, n in v.items()} for k, v in taken.items()})
    media_timing.merge(merged, taken)
    up = media_timing.summary(merged["up.queue"])
    assert up["n"] == 10 and up["p50"] == pytest.approx(3.25) and up["p95"] == pytest.approx(100.25)
    assert media_timing.summary(merged["down.queue"])["p50"] == media_timing.BINS * 0.5 - 0.25
    assert media_timing.summary({}) == {"n": 0}
