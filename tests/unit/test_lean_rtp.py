"""The lean load clients' RTP by hand (bench/lean_rtp.py): headers as aiortc writes them,
fields read past CSRCs, extensions and padding, and the echoed-tone check."""

from __future__ import annotations

import math

import numpy as np
import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from bench.lean_rtp import OPUS, RtpSendHeader, ToneCheck, is_rtcp, rtp_fields
from bench.load_client import AMPLITUDE, TONE_FRACTION, TONE_HZ, encoded_tone

THRESHOLD = TONE_FRACTION * AMPLITUDE / 32768


def _aiortc_packet(seq: int, ts: int, payload: bytes, mid: str | None = "0",
                   csrc: tuple[int, ...] = (), padding: int = 0) -> bytes:
    """A packet as aiortc's sender writes it (one payload per frame: marker set)."""
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
        RTCRtpHeaderExtensionParameters(
            id=2, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level")]))
    packet = RtpPacket(payload_type=111, marker=1, sequence_number=seq, timestamp=ts,
                       ssrc=0x12345678, payload=payload)
    packet.extensions.mid = mid
    packet.csrc = list(csrc)
    packet.padding_size = padding
    return packet.serialize(extensions)


def test_the_header_is_aiortcs_byte_for_byte() -> None:
    payload = bytes(range(40))
    for seq, ts in ((0, 0), (65535, 4294967295), (1234, 99999)):
        ours = RtpSendHeader(0x12345678, 111, mid="0", mid_id=1).packet(seq, ts, payload)
        assert ours == _aiortc_packet(seq, ts, payload)
    assert (RtpSendHeader(0x12345678, 111).packet(7, 8, payload)
            == _aiortc_packet(7, 8, payload, mid=None))


def test_sequence_number_and_timestamp_wrap() -> None:
    header = RtpSendHeader(1, 0)
    _, seq, ts, _, _ = rtp_fields(header.packet(65536 + 5, (1 << 32) + 9, b"x"))
    assert (seq, ts) == (5, 9)


@pytest.mark.parametrize(("csrc", "padding", "mid"),
                         [((), 0, None), ((), 0, "0"), ((7, 8, 9), 0, "audio"),
                          ((1,), 4, "0"), ((), 1, None)])
def test_fields_are_read_past_csrcs_extensions_and_padding(
        csrc: tuple[int, ...], padding: int, mid: str | None) -> None:
    payload = b"\xaa" * 33
    data = _aiortc_packet(4321, 123456789, payload, mid=mid, csrc=csrc, padding=padding)
    pt, seq, ts, start, end = rtp_fields(data)
    parsed = RtpPacket.parse(data)
    assert (pt, seq, ts) == (111, 4321, 123456789) == (
        parsed.payload_type, parsed.sequence_number, parsed.timestamp)
    assert data[start:end] == payload == parsed.payload


@pytest.mark.parametrize("data", [b"", b"\x80" * 11, b"\x40" + b"\x00" * 20,
                                  b"\x90" + b"\x00" * 13,  # extension bit, no extension
                                  b"\x8f" + b"\x00" * 20,  # 15 CSRCs announced, 2 there
                                  b"\xa0" + b"\x00" * 12,  # padding of 0 bytes
                                  b"\xa0" + b"\x00" * 11 + b"\x09"])  # padding past the header
def test_what_is_not_rtp_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        rtp_fields(data)


def test_rtcp_is_told_from_rtp() -> None:
    assert is_rtcp(b"\x80\xc8" + b"\x00" * 6)  # sender report
    assert is_rtcp(b"\x81\xc9" + b"\x00" * 6)  # receiver report
    assert not is_rtcp(_aiortc_packet(1, 2, b"x"))  # payload type 111, marker set
    assert not is_rtcp(RtpSendHeader(1, 0, marker=False).packet(1, 2, b"x"))


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
