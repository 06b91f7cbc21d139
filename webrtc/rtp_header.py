"""RTP packets by struct, as aiortc's sender writes them and as its receiver reads them.

The browser leg's fast path (``webrtc/rtp_fast_path.py``) and the capacity benchmark's
lean load clients (``bench/lean_rtp.py``) move audio themselves once aiortc has set the
connection up: a few struct calls per packet instead of aiortc's ``RtpPacket`` objects,
header-extension maps and coroutines. These are the pure parts, testable without a
network:

- ``RtpSendHeader``: the bytes aiortc's sender puts before a payload (12-byte header,
  marker set as aiortc sets it on a one-payload audio frame, the one-byte ``sdes:mid``
  header extension when it was negotiated);
- ``rtp_fields``: payload type, sequence number, timestamp and where the payload lies in
  a received packet (CSRC list, header extension and padding skipped);
- ``is_rtcp``: RTCP, not RTP, on a multiplexed port.
"""

from __future__ import annotations

import struct

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
_HEADER = struct.Struct("!BBHII")
_SEQ_TS = struct.Struct("!HI")


class RtpSendHeader:
    """One sender's RTP header: SSRC, payload type and extensions fixed, sequence number
    and timestamp per packet."""

    def __init__(self, ssrc: int, payload_type: int, mid: str | None = None,
                 mid_id: int | None = None, marker: bool = True) -> None:
        ext = b""
        if mid is not None and mid_id is not None:
            value = mid.encode()
            if not 1 <= len(value) <= 16 or not 1 <= mid_id <= 14:
                raise ValueError("mid does not fit a one-byte header extension")
            element = bytes([mid_id << 4 | (len(value) - 1)]) + value
            element += b"\x00" * (-len(element) % 4)
            ext = struct.pack("!HH", 0xBEDE, len(element) // 4) + element
        self.first = 0x80 | (0x10 if ext else 0)
        self.second = (0x80 if marker else 0) | payload_type
        self.ssrc = ssrc
        self.ext = ext

    def packet(self, seq: int, timestamp: int, payload: bytes) -> bytes:
        return (_HEADER.pack(self.first, self.second, seq & 0xFFFF, timestamp & 0xFFFFFFFF,
                             self.ssrc) + self.ext + payload)


def is_rtcp(data: bytes) -> bool:
    """RTCP, not RTP, on a multiplexed port (RFC 5761: payload type 64-80 with the
    marker bit; the test aiortc makes)."""
    return len(data) >= 2 and 192 <= data[1] <= 208


def rtp_fields(data: bytes) -> tuple[int, int, int, int, int]:
    """(payload type, sequence number, timestamp, payload start, payload end) of an RTP
    packet; ValueError if it is not one."""
    n = len(data)
    if n < 12 or data[0] >> 6 != 2:
        raise ValueError("not an RTP packet")
    first = data[0]
    start = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if n < start + 4:
            raise ValueError("truncated header extension")
        start += 4 + 4 * ((data[start + 2] << 8) | data[start + 3])
    if start > n:
        raise ValueError("truncated RTP packet")
    end = n
    if first & 0x20:
        if not data[-1] or data[-1] > n - start:
            raise ValueError("invalid RTP padding")
        end -= data[-1]
    seq, timestamp = _SEQ_TS.unpack_from(data, 2)
    return data[1] & 0x7F, seq, timestamp, start, end
