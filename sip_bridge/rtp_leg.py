"""The SIP leg's RTP carried by the worker's event loop itself (direct media).

Why: with pjmedia carrying the SIP leg, every call crossed threads twice every 20 ms.
pjmedia's clock thread called into Python for each call (``onFrameRequested`` and
``onFrameReceived``, taking the GIL from the event loop each time) and handed frames
to the loop through queues and wake-ups. At capacity the clock threads were about a
third of the workers' CPU, and each hand-over is a thread wake-up, the most expensive
thing this VM does (~35 µs of CPU). Here a packet from the far end is read by the same
event loop that talks to the browser, decoded, and its audio handed to the line at
once; the browser's audio is encoded and sent the moment it is decoded. No clock, no
thread hop, no conference bridge.

What this costs: there is no jitter buffer on this leg. Packets are relayed as they
come, and each end's own jitter buffer (the browser's NetEq, the PBX's or phone's)
re-times them, which is how a media relay such as Janus's SIP plugin works. The
line's PCM queue (``gateway/pcm.py``) still conceals a missing frame toward the browser.

``RtpLeg`` is a ``MediaLeg`` for the browser line (``webrtc/line.py``): ``push`` sends
a 20 ms PCM frame to the far end, ``pop`` gives the next frame from it (``heard``). It speaks
G.711 (the G.711 tables and filters of ``webrtc/encoding.py`` and ``decoding.py``),
RFC 4733 DTMF out, and counts what a quality report needs (RFC 3550 jitter).
It does not send RTCP: nothing on a PBX's or trunk's side requires it. While a call is
plain (no conference, no music), the line does not go through PCM at all: ``relay_to``
and ``take_payload`` carry the payloads as they are when the browser's codec is the
call's, or transcoded straight between Opus and G.711 at 8 kHz (``webrtc/narrowband.py``).

Threads: the engine thread makes the leg (it needs the port for the SDP) and tells it
the far end's SDP (``use``) through ``call_soon_threadsafe``; everything else runs on
the worker's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
import time
from collections.abc import Callable
from typing import cast

from gateway.pcm import FRAME_BYTES, HeardQueue, PcmQueue
from gateway.quality import RtpCounters
from sip_bridge.media_source import MediaSource
from sip_bridge.sdp import Codec, RemoteAudio
from webrtc import libopus, narrowband
from webrtc.decoding import G711ToPcm
from webrtc.encoding import G711Packets
from webrtc.rtp_header import RtpSendHeader, rtp_fields

log = logging.getLogger(__name__)

QUEUE_FRAMES = 3  # toward the browser, as with pjmedia (sip_bridge/audio_port.py)
SAMPLES = 160  # one 20 ms G.711 frame at 8 kHz
_SSRC = struct.Struct("!I")
_FFMPEG_NAMES = {"pcmu": "pcm_mulaw", "pcma": "pcm_alaw"}
_DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11,
                "A": 12, "B": 13, "C": 14, "D": 15}
DTMF_TONE_MS = 100
DTMF_GAP_MS = 60
_DTMF_VOLUME = 10  # dBm0 below full scale, as phones send


def dtmf_payload(event: int, end: bool, duration: int) -> bytes:
    """An RFC 4733 telephone-event payload."""
    return struct.pack("!BBH", event, (0x80 if end else 0) | _DTMF_VOLUME, duration)


def dtmf_events(digits: str) -> list[int]:
    """The RFC 4733 event codes of ``digits``; ValueError for anything else."""
    try:
        return [_DTMF_EVENTS[d] for d in digits.upper()]
    except KeyError as exc:
        raise ValueError(f"not a DTMF digit: {exc.args[0]!r}") from None


class PortRange:
    """RTP ports for this worker's calls, bound as they are needed (even numbers, as
    RTP's convention leaves the odd one above for RTCP)."""

    def __init__(self, bind: str, first: int, count: int) -> None:
        self._bind = bind
        self._first = first + first % 2
        self._count = max(1, count // 2)
        self._next = 0

    def bind(self) -> socket.socket:
        """A UDP socket on the next free port; OSError when every port is taken."""
        for _ in range(self._count):
            port = self._first + 2 * self._next
            self._next = (self._next + 1) % self._count
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((self._bind, port))
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            return sock
        raise OSError("no free RTP port in the worker's range")


class RtpLeg(HeardQueue, asyncio.DatagramProtocol):
    """One SIP call's RTP (see the module docstring)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        self.heard = PcmQueue(QUEUE_FRAMES)
        self.held = False  # we put the far end on hold: audio still goes (music)
        self._transport: asyncio.DatagramTransport | None = None
        self._remote: RemoteAudio | None = None
        self._source = MediaSource()
        self._listening = False
        self._addr: tuple[str, int] | None = None  # where our RTP goes (None: it does not)
        self._codec: Codec | None = None
        self._header: RtpSendHeader | None = None
        self._encoder: G711Packets | None = None
        self._decoder: G711ToPcm | None = None
        self._seq = random.getrandbits(16)
        self._timestamp = random.getrandbits(32)
        self._ssrc = random.getrandbits(32)
        self._pending = b""
        self._dtmf_busy = False
        self._closed = False
        # Relaying: the browser's codec, and where the far end's payloads go as they are
        # (or transcoded 8 kHz to 8 kHz, when the browser speaks Opus).
        self._relay: Callable[[bytes, int, int], None] | None = None
        self._browser_mime = ""
        self._relaying = False
        self._transcoder: narrowband.NarrowbandOpus | None = None
        self._last_timestamp: int | None = None
        # Counters for the quality report.
        self._sent = 0
        self._received = 0
        self._first_seq: int | None = None
        self._highest = 0  # extended highest sequence number
        self._jitter = 0.0  # RFC 3550 interarrival jitter, in timestamp units
        self._last_transit: float | None = None
        self._bad = 0

    # -- set-up (engine thread makes it; the event loop opens and closes it) -------------

    async def open(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._closed:
            return
        await loop.create_datagram_endpoint(lambda: self, sock=self.sock)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._closed:
            transport.close()
            return
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def close(self) -> None:
        self._closed = True
        self.heard.watch(None)
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        else:
            self.sock.close()

    def use(self, remote: RemoteAudio, codec: Codec, payload_type: int) -> None:
        """The far end's SDP, and the codec (in its payload type) the call uses."""
        self._remote = remote
        self._source.described((remote.address, remote.port))
        self._listening = remote.listens and remote.address != "0.0.0.0"
        self._addr = self._source.target if self._listening else None
        if codec != self._codec:
            self._codec = codec
            self._encoder = G711Packets(_FFMPEG_NAMES[codec.name])
            self._decoder = G711ToPcm(_FFMPEG_NAMES[codec.name])
            self._pending = b""
        self._choose_relaying()
        if self._header is None or self._header.second & 0x7F != payload_type:
            self._header = RtpSendHeader(self._ssrc, payload_type, marker=False)

    # -- MediaLeg: the browser line's side ------------------------------------------------

    def push(self, pcm: bytes) -> None:
        """Send one 20 ms frame of the agent's audio (or the music on hold)."""
        encoder, header, addr, transport = (self._encoder, self._header, self._addr,
                                            self._transport)
        if encoder is None or header is None or transport is None:
            return
        payload = encoder.encode(pcm)
        timestamp = self._timestamp
        self._timestamp = (timestamp + SAMPLES) & 0xFFFFFFFF
        if addr is None or self._dtmf_busy or payload is None:
            return  # time still passes for the far end
        self._send(header.packet(self._seq, timestamp, payload), addr)

    def relay_to(self, send: Callable[[bytes, int, int], None] | None,
                 mime_type: str) -> None:
        """Hand each payload of the far end to ``send(payload, gap, samples)`` in the
        browser's codec (``mime_type``), instead of decoding it to the worker's audio:
        as it is while the call's codec is the browser's, transcoded at 8 kHz when the
        browser's is Opus (``webrtc/narrowband.py``). ``gap`` (samples the far end
        skipped before it) and ``samples`` (its length) count in the browser's clock."""
        self._relay = send
        self._browser_mime = mime_type.lower() if send is not None else ""
        self._last_timestamp = None
        self._choose_relaying()

    def _choose_relaying(self) -> None:
        codec, mime = self._codec, self._browser_mime
        self._relaying = codec is not None and mime == f"audio/{codec.name}"
        transcoder = None
        lib = narrowband.library()
        if codec is not None and mime == "audio/opus" and lib is not None:
            name = _FFMPEG_NAMES[codec.name]
            transcoder = self._transcoder
            if transcoder is None or transcoder.codec_name != name:
                transcoder = narrowband.NarrowbandOpus(name, lib)
            self._relaying = True
        self._transcoder = transcoder

    def take_payload(self, payload: bytes) -> bool:
        """Send the browser's payload to the far end (transcoded if the browser speaks
        Opus), if the call is relayed; ``False`` if it is not (decode it instead)."""
        if not self._relaying:
            return False
        transcoder = self._transcoder
        if transcoder is not None:
            try:
                payload = transcoder.from_browser(payload)
            except libopus.OpusError:
                # A corrupt packet is a lost one: its time passes for the far end.
                self._timestamp = (self._timestamp + SAMPLES) & 0xFFFFFFFF
                return True
        header, addr = self._header, self._addr
        timestamp = self._timestamp
        self._timestamp = (timestamp + len(payload)) & 0xFFFFFFFF  # G.711: byte = sample
        if header is not None and addr is not None and not self._dtmf_busy:
            self._send(header.packet(self._seq, timestamp, payload), addr)
        return True

    # -- the far end's packets -----------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        decoder, source = self._decoder, self._source
        if decoder is None or not source.heard(addr, len(data) > 12 and data[0] >> 6 == 2):
            return  # not yet negotiated, or not (yet) the far end's media address
        if source.moved:
            source.moved = False
            log.info("the far end's RTP comes from %s:%d, not its SDP's address: following it",
                     *addr)
            if self._listening:
                self._addr = source.target
        try:
            pt, seq, timestamp, start, end = rtp_fields(data)
        except ValueError:
            self._bad += 1
            return
        header = self._header
        if header is None or pt != header.second & 0x7F:
            return  # DTMF, comfort noise or another codec: nothing to play
        self._count(seq, timestamp)
        relay = self._relay
        if relay is not None and self._relaying:
            payload = data[start:end]
            last, self._last_timestamp = self._last_timestamp, timestamp
            # Samples lost before this payload, so the browser's timestamps keep time.
            gap = 0 if last is None else ((timestamp - last) & 0xFFFFFFFF) - len(payload)
            gap = gap if 0 < gap < 8000 else 0
            transcoder = self._transcoder
            if transcoder is None:
                relay(payload, gap, len(payload))
                return
            for packet, packet_gap in transcoder.to_browser(payload, gap):
                relay(packet, packet_gap, transcoder.browser_samples)
            return
        try:
            pcm = decoder.decode(data[start:end])
        except (ValueError, IndexError):
            self._bad += 1
            return
        pending = self._pending + pcm if self._pending else pcm
        while len(pending) >= FRAME_BYTES:
            self.heard.push(pending[:FRAME_BYTES])
            pending = pending[FRAME_BYTES:]
        self._pending = pending

    def error_received(self, exc: Exception) -> None:
        # An ICMP port-unreachable from a far end that has gone: the call's signalling
        # will end the call.
        log.debug("RTP to the far end: %s", exc)

    def _count(self, seq: int, timestamp: int) -> None:
        if self._first_seq is None:
            self._first_seq = self._highest = seq
        else:
            delta = (seq - self._highest) & 0xFFFF
            if 0 < delta < 0x8000:
                self._highest += delta
        self._received += 1
        # RFC 3550 A.8: transit time in timestamp units, smoothed by 1/16.
        assert self._codec is not None
        transit = time.monotonic() * self._codec.clock_rate - timestamp
        last = self._last_transit
        if last is not None:
            self._jitter += (abs(transit - last) - self._jitter) / 16
        self._last_transit = transit

    def counters(self) -> RtpCounters | None:
        """This leg's figures for the quality report; ``None`` before any packet."""
        codec = self._codec
        if codec is None or self._first_seq is None:
            return None
        expected = self._highest - self._first_seq + 1
        return RtpCounters(
            received=self._received,
            lost=max(0, expected - self._received),
            jitter_ms=self._jitter / (codec.clock_rate / 1000),
            sent=self._sent,
            peer_lost=None, peer_jitter_ms=None, rtt_ms=None,
        )

    # -- DTMF ----------------------------------------------------------------------------

    async def send_dtmf(self, digits: str) -> bool:
        """Send ``digits`` as RFC 4733 events; ``False`` if the far end did not offer
        telephone-event (the engine then sends SIP INFO)."""
        events = dtmf_events(digits)
        remote = self._remote
        if remote is None or remote.dtmf_payload_type is None:
            return False
        event_header = RtpSendHeader(self._ssrc, remote.dtmf_payload_type, marker=False)
        first_header = RtpSendHeader(self._ssrc, remote.dtmf_payload_type, marker=True)
        step = SAMPLES
        for event in events:
            self._dtmf_busy = True
            try:
                start = self._timestamp
                duration = 0
                for index in range(DTMF_TONE_MS // 20):
                    duration += step
                    header = first_header if index == 0 else event_header
                    self._send_event(header, start, dtmf_payload(event, False, duration))
                    await asyncio.sleep(0.02)
                for _ in range(3):  # the end packet, sent three times (RFC 4733 2.5.1.4)
                    self._send_event(event_header, start, dtmf_payload(event, True, duration))
                # Audio resumes after the event's time, however much the line pushed.
                if (self._timestamp - start) & 0xFFFFFFFF < duration:
                    self._timestamp = (start + duration) & 0xFFFFFFFF
            finally:
                self._dtmf_busy = False
            await asyncio.sleep(DTMF_GAP_MS / 1000)
        return True

    def _send_event(self, header: RtpSendHeader, timestamp: int, payload: bytes) -> None:
        if self._addr is not None:
            self._send(header.packet(self._seq, timestamp, payload), self._addr)

    def _send(self, packet: bytes, addr: tuple[str, int]) -> None:
        transport = self._transport
        if transport is None:
            return
        transport.sendto(packet, addr)
        self._seq = (self._seq + 1) & 0xFFFF
        self._sent += 1
