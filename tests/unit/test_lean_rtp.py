"""The lean load clients' echoed-tone check (bench/lean_rtp.py); the RTP header it uses is
tested with its module (tests/unit/test_webrtc_rtp_header.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.lean_rtp import OPUS, ToneCheck
from bench.load_client import AMPLITUDE, TONE_FRACTION, TONE_HZ, encoded_tone

THRESHOLD = TONE_FRACTION * AMPLITUDE / 32768


def _pcmu(freq: float, amplitude: float) -> bytes:
    from tests.lab.sipp import ulaw_encode
    t = np.arange(160) / 8000
    return bytes(ulaw_encode((amplitude * np.sin(2 * math.pi * freq * t)).astype("<i2")))


def test_pcmu_tone_is_heard_and_silence_or_another_tone_is_not() -> None:
    check = ToneCheck("pcmu", TONE_HZ, THRESHOLD)
    assert all(check(p) for p in encoded_tone("pcmu", 10))
    assert check.amplitude(encoded_tone("pcmu", 1, voice=False)[0]) == pytest.approx(
        AMPLITUDE / 32768, rel=0.05)
    assert not check(b"\xff" * 160)  # u-law silence
    assert not check(_pcmu(500, AMPLITUDE))
    assert not check(_pcmu(TONE_HZ, AMPLITUDE * TONE_FRACTION / 2))
    assert not check(b"\xff" * 80)  # not a 20 ms frame


def test_pcmu_verdicts_are_the_same_when_a_frame_comes_again() -> None:
    # The check remembers PCMU verdicts by the frame's bytes: a second pass over the same
    # frames, and the frames in another order, must be judged as the first time.
    frames = [*encoded_tone("pcmu", 30), b"\xff" * 160, _pcmu(500, AMPLITUDE)]
    fresh = [ToneCheck("pcmu", TONE_HZ, THRESHOLD)(p) for p in frames]
    check = ToneCheck("pcmu", TONE_HZ, THRESHOLD)
    assert [check(p) for p in frames] == fresh
    assert [check(p) for p in reversed(frames)] == fresh[::-1]
    assert fresh[-2:] == [False, False] and all(fresh[:-2])


@pytest.mark.skipif(OPUS is None, reason="libopus not installed")
def test_opus_tone_is_heard_and_silence_is_not() -> None:
    from webrtc.libopus import LIBOPUS, Encoder
    assert LIBOPUS is not None
    check = ToneCheck("opus", TONE_HZ, THRESHOLD)
    tone = encoded_tone("opus", 20)
    heard = [check(p) for p in tone]
    assert all(heard[1:])  # a fresh decoder's first frame may fade in
    encoder = Encoder(LIBOPUS, 32000)
    silence = [encoder.encode(bytes(640)) for _ in range(20)]
    assert not any(check(p) for p in silence)
    t = np.arange(320 * 20) / 16000
    other = (AMPLITUDE * np.sin(2 * math.pi * 500 * t)).astype("<i2").tobytes()
    assert not any(check(encoder.encode(other[640 * i: 640 * (i + 1)])) for i in range(20))
    assert not check(b"\xff\xff\xff")  # a corrupt packet: no tone, no exception


def test_an_answer_capping_opus_at_8_khz_is_recognised() -> None:
    from bench.load_client import narrowband_answer
    capped = ("m=audio 9 UDP/TLS/RTP/SAVPF 96 0\r\na=rtpmap:96 opus/48000/2\r\n"
              "a=fmtp:96 maxplaybackrate=8000;sprop-maxcapturerate=8000\r\n")
    assert narrowband_answer(capped)
    assert not narrowband_answer(capped.replace("maxplaybackrate=8000", "maxplaybackrate=16000"))
    assert not narrowband_answer(capped.replace("a=fmtp:96 ", "a=fmtp:97 "))
    assert not narrowband_answer("m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n")


@pytest.mark.skipif(OPUS is None, reason="libopus not installed")
def test_a_narrowband_opus_tone_is_silk_narrowband_and_heard() -> None:
    frames = encoded_tone("opus", 20, narrowband=True)
    assert {p[0] >> 3 for p in frames} <= {0, 1, 2, 3}  # TOC configs: SILK narrowband
    check = ToneCheck("opus", TONE_HZ, THRESHOLD)
    assert all(check(p) for p in frames[2:])  # a fresh decoder may fade in
