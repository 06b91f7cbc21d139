"""The line's track pushing payloads to the fast path: each frame the call's clock hands
over goes out at once, a silent clock is filled in at frame steps, a pause sends nothing
and moves the timestamp on."""

from __future__ import annotations

import asyncio

from gateway.pcm import FRAME_BYTES, SAMPLE_RATE
from tests.lab.tone import tone_samples
from tests.support.media_leg import QueueLeg
from webrtc.line import LineTrack

STEP = 160  # PCMU: 20 ms in the codec's 8 kHz clock


class _Sent:
    """What the track pushed, with a way to wait for the n-th payload."""

    def __init__(self) -> None:
        self.items: list[tuple[bytes, int]] = []
        self._changed = asyncio.Event()

    def __call__(self, payload: bytes, pts: int) -> None:
        self.items.append((payload, pts))
        self._changed.set()

    async def until(self, count: int) -> None:
        async def reached() -> None:
            while len(self.items) < count:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(reached(), 5)


def _tone_frames(count: int) -> list[bytes]:
    data = tone_samples(1000, count * 0.02, SAMPLE_RATE).astype("<i2").tobytes()
    return [data[i:i + FRAME_BYTES] for i in range(0, len(data), FRAME_BYTES)][:count]


def _track(leg: QueueLeg, sent: _Sent) -> LineTrack:
    track = LineTrack()
    track.encode_as("audio/PCMU")
    leg.listen(track.wake)
    track.push_to(sent)
    track.follow(leg)
    return track


async def test_handed_over_frames_go_out_at_once_in_order_from_any_thread() -> None:
    leg, sent = QueueLeg(), _Sent()
    track = _track(leg, sent)
    await sent.until(1)  # on resume the first frame goes out at once (silence here)
    frames = _tone_frames(5)
    # The pjmedia clock thread hands frames over: wake() comes from another thread.
    await asyncio.to_thread(leg.hand_over, frames)
    await sent.until(6)
    payloads = [p for p, _ in sent.items[1:6]]
    assert all(len(p) == STEP for p in payloads)
    assert len(set(payloads)) > 1  # the tone, not silence repeated
    assert payloads[0] != sent.items[0][0]
    pts = [t for _, t in sent.items[:6]]
    assert pts == [pts[0] + i * STEP for i in range(6)]
    track.push_to(None)
    track.stop()


async def test_a_silent_clock_is_filled_in_then_a_pause_sends_nothing_and_skips_time() -> None:
    leg, sent = QueueLeg(), _Sent()
    track = _track(leg, sent)
    leg.hand_over(_tone_frames(1))
    await sent.until(4)  # the handed-over frame, then filled in on deadlines
    pts = [t for _, t in sent.items[:4]]
    assert pts == [pts[0] + i * STEP for i in range(4)]
    loop = asyncio.get_running_loop()
    track.follow(None)
    paused_at, count = loop.time(), len(sent.items)
    await asyncio.sleep(0.2)  # a pause of a measurable length, not a wait for state
    assert len(sent.items) == count  # nothing sent while no call is on the line
    track.follow(leg)
    await sent.until(count + 1)
    paused = loop.time() - paused_at
    jump = sent.items[count][1] - sent.items[count - 1][1]
    # The timestamp moved on by the pause, in whole frames (at 8 kHz).
    assert jump % STEP == 0
    assert (paused - 0.02) * 8000 <= jump <= (paused + 0.06) * 8000
    track.push_to(None)
    count = len(sent.items)
    leg.hand_over(_tone_frames(2))
    await asyncio.sleep(0.1)
    assert len(sent.items) == count  # stopped: nothing pushed any more
    assert leg.waiting == 2  # not even taken from the leg
    track.stop()
