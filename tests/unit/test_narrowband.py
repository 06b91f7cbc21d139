"""Opus to and from G.711 at 8 kHz (webrtc/narrowband.py), with the system libopus."""

from __future__ import annotations

import numpy as np
import pytest

from tests.lab.sipp import ulaw_decode_table, ulaw_encode
from tests.lab.tone import tone_present, tone_samples
from webrtc import libopus, narrowband

pytestmark = pytest.mark.skipif(narrowband.library() is None,
                                reason="no system libopus (Debian libopus0)")


@pytest.fixture
def transcoder() -> narrowband.NarrowbandOpus:
    lib = narrowband.library()
    assert lib is not None
    return narrowband.NarrowbandOpus("pcm_mulaw", lib)


def _opus_heard(packets: list[bytes]) -> np.ndarray:
    lib = narrowband.library()
    assert lib is not None
    decoder = libopus.Decoder(lib, rate=48000)
    return np.frombuffer(b"".join(decoder.decode(p) for p in packets), dtype="<i2")


def test_the_far_ends_tone_reaches_the_browser_as_opus(
        transcoder: narrowband.NarrowbandOpus) -> None:
    g711 = ulaw_encode(tone_samples(1000, 1.0, 8000))
    out = [transcoder.to_browser(g711[i:i + 160], 0) for i in range(0, len(g711), 160)]
    assert all(len(packets) == 1 for packets in out)  # one 20 ms packet for each
    packets = [packet for packets in out for packet, _gap in packets]
    assert tone_present(_opus_heard(packets)[24000:], 48000, 1000)
    assert narrowband.NarrowbandOpus.browser_samples == 960  # 20 ms at 48 kHz


def test_the_browsers_opus_reaches_the_far_end_as_g711_of_the_same_length(
        transcoder: narrowband.NarrowbandOpus) -> None:
    lib = narrowband.library()
    assert lib is not None
    browser = libopus.Encoder(lib, 32000)  # 16 kHz, as a browser would send any rate
    pcm = tone_samples(1000, 1.0, 16000).tobytes()
    payloads = [transcoder.from_browser(browser.encode(pcm[i:i + 640]))
                for i in range(0, len(pcm), 640)]
    assert {len(p) for p in payloads} == {160}  # G.711: a byte a sample, 8 kHz
    heard = ulaw_decode_table()[np.frombuffer(b"".join(payloads), dtype=np.uint8)]
    assert tone_present(heard[4000:], 8000, 1000)


def test_a_corrupt_packet_is_refused(transcoder: narrowband.NarrowbandOpus) -> None:
    with pytest.raises(libopus.OpusError):
        transcoder.from_browser(b"\xff\xff\xff")


def test_other_packet_lengths_are_regrouped_in_20_ms_and_gaps_keep_time(
        transcoder: narrowband.NarrowbandOpus) -> None:
    ten_ms, thirty_ms = b"\xff" * 80, b"\xff" * 240
    assert transcoder.to_browser(ten_ms, 0) == []
    assert [gap for _p, gap in transcoder.to_browser(ten_ms, 0)] == [0]
    assert [gap for _p, gap in transcoder.to_browser(thirty_ms, 0)] == [0]
    # 10 ms are held; a loss of 160 samples then drops them too: 240 samples in all,
    # told (in 48 kHz ticks) with the next packet out.
    assert transcoder.to_browser(ten_ms, 160) == []
    assert [gap for _p, gap in transcoder.to_browser(thirty_ms, 0)] == [(160 + 80) * 6, 0]
    assert [gap for _p, gap in transcoder.to_browser(b"\xff" * 160, 0)] == [0]
