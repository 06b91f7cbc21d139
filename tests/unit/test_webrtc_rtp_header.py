"""RTP headers by struct (webrtc/rtp_header.py): written byte for byte as aiortc's sender
writes them, fields read past CSRCs, extensions and padding, RTCP told from RTP."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from webrtc.rtp_header import RtpSendHeader, is_rtcp, rtp_fields


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


def test_a_mid_that_does_not_fit_one_byte_extensions_is_refused() -> None:
    with pytest.raises(ValueError):
        RtpSendHeader(1, 111, mid="x" * 17, mid_id=1)
    with pytest.raises(ValueError):
        RtpSendHeader(1, 111, mid="0", mid_id=15)
