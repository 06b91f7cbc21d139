"""A receive buffer for the browser's audio that adds no delay of its own.

aiortc's audio ``JitterBuffer`` waits for 4 packets (80 ms) before it releases one and,
once a single packet is lost, stays about 14 packets (~280 ms) behind for the rest of
the call (aiortc issue #543). For a phone call that delay is worse than a lost 20 ms.

This buffer releases each packet the moment it arrives, in sequence order: a packet
older than one already released (late or duplicated) is dropped, and a gap is simply
skipped. Smoothing of arrival jitter happens later, on decoded PCM, in the bounded
queue that the pjsua2 clock drains (``sip_bridge/audio_port.py``): there a late frame
costs at most one queue slot, never a permanent delay.

It keeps aiortc's interface: ``add(packet) -> (pli_flag, frame | None)``; the fast path
(``webrtc/rtp_fast_path.py``) calls ``release`` with the fields it read itself. When media
timing is on (``webrtc/media_timing.py``, ``timed = True``), it keeps the arrival time of
the last few frames it released, for the line to look up by the decoded frame's pts:
aiortc rewrites a released frame's timestamp to a zero-based one (the pts the decoded
frame carries) after ``add`` returns, so the frame objects are kept, not their
timestamps at release.
"""

from __future__ import annotations

import time
from collections import deque

from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket


def _newer(a: int, b: int) -> bool:
    """True if 16-bit sequence number ``a`` comes after ``b`` (RFC 3550 wrap-around)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


class ReleaseOnArrivalBuffer:
    """In-order, no-wait audio receive buffer (see module docstring)."""

    capacity = 1

    def __init__(self) -> None:
        self._last: int | None = None
        self.released = 0
        self.dropped_late = 0
        self.lost = 0
        self.timed = False
        self._arrivals: deque[tuple[JitterFrame, float]] = deque(maxlen=32)

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        data: bytes = packet._data  # type: ignore[attr-defined]  # set by aiortc's depayloader
        return False, self.release(packet.sequence_number, packet.timestamp, data)

    def release(self, seq: int, timestamp: int, data: bytes) -> JitterFrame | None:
        """The packet's frame if it is released now, else ``None`` (the fast path's
        entry: fields read by struct, no ``RtpPacket``)."""
        last = self._last
        if last is not None:
            if not _newer(seq, last):
                self.dropped_late += 1
                return None
            self.lost += ((seq - last) & 0xFFFF) - 1
        self._last = seq
        self.released += 1
        frame = JitterFrame(data=data, timestamp=timestamp)
        if self.timed:
            self._arrivals.append((frame, time.monotonic()))
        return frame

    def arrival_of(self, pts: int) -> float | None:
        """When the frame that decoded to ``pts`` arrived (timing on), else ``None``."""
        arrivals = self._arrivals
        while arrivals:
            frame, at = arrivals.popleft()
            if frame.timestamp == pts:
                return at
        return None


def install(receiver: object) -> ReleaseOnArrivalBuffer:
    """Replace an aiortc audio receiver's jitter buffer with ours (before RTP flows)."""
    buffer = ReleaseOnArrivalBuffer()
    # aiortc offers no setting for it; the attribute is name-mangled private state.
    attribute = "_RTCRtpReceiver__jitter_buffer"
    if not hasattr(receiver, attribute):
        raise RuntimeError("this aiortc version has no audio jitter buffer to replace")
    setattr(receiver, attribute, buffer)
    return buffer
