"""The browser leg's audio packets moved by the line itself, past aiortc's per-packet Python.

Why: at 12 calls a worker's event loop spent ~4 % of a core per call on aiortc's
per-packet path, for PCMU as much as for Opus, so not on codecs. Sending built an
``RtpPacket``, its header extensions and their serialisation, then went through
``RTCDtlsTransport._send_rtp`` and aioice's ``Connection.send``/``sendto`` coroutines;
receiving had aioice try to parse every packet as STUN, queue it, and aiortc's DTLS task
take it off the queue, decrypt it, parse an ``RtpPacket`` and hand it through the
receiver's coroutine to our buffer. The capacity benchmark's load clients did the same
by hand (``bench/load_client.py``) and went from ~3 to ~1 % of a core per call.
Here, A/B at 12 calls (``bench.capacity --levels 12 --seconds 40``, alternating, load
0.6-2.6): the workers' event-loop threads 45.2/44.9 % of a core against 58.5/57.5 %
with aiortc's path for Opus, 40.5 against 57.1 % for PCMU; the workers 5.7 against
6.8-6.9 % of a core per call. The rest of the loop's time is the codecs, the track's
pacing and the SRTP calls themselves.

What aiortc still does, exactly as before: offer and answer, ICE with consent freshness
checks, the DTLS handshake and the SRTP keys, RTCP both ways (its sender's reports with
the packet, octet and timestamp counts this module keeps up to date; its receiver's
reports from the statistics this module feeds), the DTLS close.

What this module does instead, once the connection is up (``FastPath.start``):

- **sending**: the line's track pushes each payload to ``send`` (``LineTrack.push_to``:
  its pacing and codec-clock timestamps as before), which sends it itself: the
  RTP header by struct (``webrtc/rtp_header.py``: the sender's SSRC, the negotiated
  payload type, marker set as aiortc sets it, the ``sdes:mid`` extension when
  negotiated), SRTP-protected with the DTLS transport's keys, written to the nominated
  ICE pair's socket. The sequence number runs on across calls for the line's life; the
  timestamp is a random origin plus the track's pts, as aiortc's was. aiortc's sender
  is given a ``ParkedTrack`` that never yields a frame.
- **receiving**: aioice's socket callbacks are wrapped; an SRTP packet of a payload type
  we decode is taken before aioice's STUN parse and aiortc's queue, decrypted, read by
  struct, counted in aiortc's receiver statistics (``StreamStatistics``: what
  ``getStats`` inbound-rtp and the receiver reports to the browser are made of) and
  handed to the line's buffer and decoder (``webrtc/decoding.py``). STUN, DTLS, RTCP and
  any other payload type are passed on untouched.

The browser sees the same packets as before, bar the random origins. Not kept up: the
sender's retransmission history (audio is never NACKed here: aiortc negotiates no
``nack`` for audio) and the receiver's list of recently active SSRCs
(``getSynchronizationSources``, unused). The DTLS transport's byte and packet counts
(``getStats`` "transport") are kept as aiortc counts them.

**Kill switch**: ``HEADSET_AIORTC_RTP=1`` in the worker's environment keeps aiortc's own
per-packet path (for A/B runs in the benchmark, or if this path misbehaves).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import struct
import time
from collections.abc import Callable
from typing import Any, Protocol

import av
import pylibsrtp
from aiortc import MediaStreamTrack, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpreceiver import StreamStatistics

from webrtc.rtp_header import MID_URI, RtpSendHeader, rtp_fields

log = logging.getLogger(__name__)

KILL_SWITCH = "HEADSET_AIORTC_RTP"
_SSRC = struct.Struct("!I")
_NTP_OFFSET = 2_208_988_800  # seconds from 1900 (NTP's epoch) to 1970 (Unix's)
# aiortc's private state this module reads and writes (name-mangled attributes).
_SENDER_NTP = "_RTCRtpSender__ntp_timestamp"
_SENDER_RTP = "_RTCRtpSender__rtp_timestamp"
_SENDER_OCTETS = "_RTCRtpSender__octet_count"
SENDER_PACKETS = "_RTCRtpSender__packet_count"
SENDER_STATS = "_RTCRtpSender__stats"  # where the browser's receiver reports land
_DTLS_TX_BYTES = "_RTCDtlsTransport__tx_bytes"
_DTLS_TX_PACKETS = "_RTCDtlsTransport__tx_packets"
_DTLS_RX_BYTES = "_RTCDtlsTransport__rx_bytes"
_DTLS_RX_PACKETS = "_RTCDtlsTransport__rx_packets"
RECEIVER_STREAMS = "_RTCRtpReceiver__remote_streams"


def ntp_now() -> int:
    """Now as a 64-bit NTP timestamp (what aiortc's ``clock.current_ntp_time`` gives),
    from integer nanoseconds: aiortc's goes through ``datetime`` and cost about 4 % of
    a worker's event loop at one call per packet."""
    seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    return ((seconds + _NTP_OFFSET) << 32) | (nanoseconds << 32) // 1_000_000_000


def aiortc_moves_rtp() -> bool:
    """Whether the kill switch is on: aiortc's own per-packet path, not this one."""
    return os.environ.get(KILL_SWITCH, "") == "1"


class PayloadSource(Protocol):
    def push_to(self, send: Callable[[bytes, int], None] | None) -> None:
        """Call ``send(payload, pts)`` (pts in the codec's clock) on the event loop for
        each payload from now on; ``None`` stops."""
        ...


class PayloadSink(Protocol):
    def decodes(self, payload_type: int) -> bool: ...

    def receive(self, payload_type: int, seq: int, timestamp: int, payload: bytes) -> None:
        ...


class ParkedTrack(MediaStreamTrack):
    """The track aiortc's sender is given on the fast path: it never yields, so the
    sender's loop waits in ``recv`` until the sender is stopped (its task cancelled)."""

    kind = "audio"

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await asyncio.get_running_loop().create_future()  # never set
        raise MediaStreamError  # not reached


class _Seen:
    """The two fields aiortc's ``StreamStatistics.add`` reads from a packet; one per
    line, refilled for every packet instead of an ``RtpPacket`` each."""

    __slots__ = ("sequence_number", "timestamp")

    def __init__(self) -> None:
        self.sequence_number = 0
        self.timestamp = 0


class FastPath:
    """One line's audio packets both ways (see the module docstring). Made after the
    answer, started once the connection is up, closed before the peer connection."""

    def __init__(self, transceiver: RTCRtpTransceiver, source: PayloadSource,
                 sink: PayloadSink) -> None:
        self._transceiver = transceiver
        self._source = source
        self._sink = sink
        self._seq = random.getrandbits(16)
        self._origin = random.getrandbits(32)
        self._hooked: list[Any] = []  # aioice StunProtocols whose datagrams we take
        self._started = False
        self._closed = False
        self._send_failures = 0
        self._receive_failures = 0
        self._pair: Any = None
        self._sendto: Callable[[bytes, tuple[str, int]], None] | None = None
        self._addr: tuple[str, int] = ("", 0)
        self._stats_ssrc: int | None = None
        self._stats: StreamStatistics | None = None
        self._seen = _Seen()

    @property
    def mime_type(self) -> str:
        """The codec the browser leg sends and receives."""
        codecs = self._transceiver._codecs
        return str(codecs[0].mimeType) if codecs else ""

    @property
    def running(self) -> bool:
        return self._started and not self._closed

    def start(self) -> None:
        """Take the audio over: call once the peer connection is connected (the SRTP
        keys and the nominated pair exist)."""
        if self._started or self._closed:
            return
        self._started = True
        transceiver = self._transceiver
        sender = transceiver.sender
        codec = transceiver._codecs[0]
        assert codec.payloadType is not None
        mid_id = next((e.id for e in transceiver._headerExtensions if e.uri == MID_URI),
                      None)
        self._header = RtpSendHeader(sender._ssrc, codec.payloadType, transceiver.mid,
                                     mid_id)
        self._sender = vars(sender)
        self._dtls = sender.transport
        self._dtls_vars = vars(self._dtls)
        self._connection = self._dtls.transport._connection  # aioice's Connection
        receiver = vars(transceiver.receiver)
        self._remote_streams: dict[int, StreamStatistics] = receiver[RECEIVER_STREAMS]
        # From the transceiver: aiortc gives its receiver the codecs only after this.
        self._clock_rates = {c.payloadType: c.clockRate for c in transceiver._codecs}
        # RTP payload types only (64-95 would read as RTCP on a multiplexed port).
        self._fast_types = frozenset(c.payloadType for c in transceiver._codecs
                                     if c.payloadType is not None
                                     and not 64 <= c.payloadType <= 95
                                     and self._sink.decodes(c.payloadType))
        for protocol in self._connection._protocols:
            vars(protocol)["datagram_received"] = self._receiver(protocol.datagram_received)
            self._hooked.append(protocol)
        self._source.push_to(self._send_safely)
        log.debug("fast RTP path on: payload types %s received here, %d sockets hooked",
                  sorted(self._fast_types), len(self._hooked))

    async def close(self) -> None:
        """Give the sockets back to aioice and stop sending (idempotent)."""
        self._closed = True
        for protocol in self._hooked:
            vars(protocol).pop("datagram_received", None)
        self._hooked.clear()
        if self._started:
            self._source.push_to(None)

    # -- sending ------------------------------------------------------------------------

    def _send_safely(self, payload: bytes, pts: int) -> None:
        try:
            self.send(payload, pts)
        except Exception:  # one packet's failure must not silence the line
            self._send_failures += 1
            if self._send_failures == 1:
                log.exception("fast RTP path: sending failed (logged once)")

    def send(self, payload: bytes, pts: int) -> None:
        """One payload to the browser, as aiortc's sender would have sent it."""
        pair = self._connection._nominated.get(1)
        if pair is not self._pair:  # the nominated pair's socket and address, cached
            self._pair = pair
            self._sendto = pair.protocol.transport.sendto if pair is not None else None
            self._addr = pair.remote_addr if pair is not None else ("", 0)
        if self._sendto is None or self._dtls._state is not DtlsState.CONNECTED:
            return  # aiortc's sender would not be sending either
        timestamp = (self._origin + pts) & 0xFFFFFFFF
        data = self._dtls._tx_srtp.protect(self._header.packet(self._seq, timestamp, payload))
        self._sendto(data, self._addr)
        self._seq = (self._seq + 1) & 0xFFFF
        dtls = self._dtls_vars
        dtls[_DTLS_TX_BYTES] += len(data)
        dtls[_DTLS_TX_PACKETS] += 1
        # What aiortc's sender puts in its RTCP sender reports and outbound-rtp stats.
        sender = self._sender
        sender[_SENDER_NTP] = ntp_now()
        sender[_SENDER_RTP] = timestamp
        sender[_SENDER_OCTETS] += len(payload)
        sender[SENDER_PACKETS] += 1

    # -- receiving ----------------------------------------------------------------------

    def _receiver(self, forward: Callable[[bytes, Any], None]) -> Callable[[bytes, Any], None]:
        fast_types = self._fast_types

        def datagram_received(data: bytes, addr: Any) -> None:
            # RTP's first byte is 128-191 (version 2); STUN's and DTLS's are below 64.
            if len(data) > 12 and 127 < data[0] < 192 and (data[1] & 0x7F) in fast_types:
                try:
                    self._received(data)
                except Exception:  # one packet's failure must not deafen the line
                    self._receive_failures += 1
                    if self._receive_failures == 1:
                        log.exception("fast RTP path: receiving failed (logged once)")
            else:
                forward(data, addr)  # STUN, DTLS, RTCP, other payloads: as usual

        return datagram_received

    def _received(self, data: bytes) -> None:
        dtls = self._dtls_vars
        dtls[_DTLS_RX_BYTES] += len(data)
        dtls[_DTLS_RX_PACKETS] += 1
        try:
            plain = self._dtls._rx_srtp.unprotect(data)
            pt, seq, timestamp, start, end = rtp_fields(plain)
        except (pylibsrtp.Error, ValueError):
            return  # aiortc drops these too
        ssrc = _SSRC.unpack_from(plain, 8)[0]
        stats = self._stats
        if ssrc != self._stats_ssrc or stats is None:
            stats = self._remote_streams.get(ssrc)
            if stats is None:
                stats = self._remote_streams[ssrc] = StreamStatistics(self._clock_rates[pt])
            self._stats, self._stats_ssrc = stats, ssrc
        seen = self._seen
        seen.sequence_number = seq
        seen.timestamp = timestamp
        stats.add(seen)  # type: ignore[arg-type]  # reads only these two fields
        self._sink.receive(pt, seq, timestamp, plain[start:end])
