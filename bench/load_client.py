"""Cheap stand-in browsers for the capacity benchmark, many per process.

``python -m bench.load_client`` holds any number of aiortc peer connections, driven by
JSON lines on stdin (``{"id": N, "cmd": ..., "k": agent}``), one reply per command
(``{"id": N, "ok": true, "result": {...}}``), like ``bench/peers.py``.

Each client is a real RTCPeerConnection made as cheap as it can be, so that the CPU goes
to the gateway under test. By default it is **lean**: aiortc does everything a browser's
peer does to set the call up, then hands the audio over to this module.

What aiortc still does, as for any peer: the offer and the answer (the offer is aiortc's,
with its codecs, ``a=ssrc`` and header extensions), ICE (checks, nomination, consent
checks every few seconds for as long as the connection lives), the DTLS handshake and the
SRTP keys, RTCP from its sender (sender reports and SDES every 0.5-1.5 s, their packet,
octet and timestamp counts kept up to date by the lean path), RTCP received (the
gateway's reports reach aiortc as usual), the DTLS close at the end.

What the lean path does instead of aiortc, once the connection is up:

- **sending**: one timer for the whole process, every 20 ms on an absolute schedule,
  sends one packet per client: the 12-byte RTP header built with struct (the sender's
  SSRC, the negotiated payload type, marker set, its own sequence number and timestamp
  from random origins) plus the same one-byte ``sdes:mid`` header extension aiortc's
  sender adds, then a payload of a 1 kHz tone **encoded once per process** by aiortc's
  own encoder (Opus or PCMU, whichever the answer chose; Opus capped at narrowband by
  libopus when the answer says ``maxplaybackrate=8000``, as Chromium then sends it),
  SRTP-protected with the DTLS
  transport's keys and written to the nominated ICE pair's socket. aiortc's own sender
  loop waits forever on a track that never gives a frame. The packets on the wire are
  the ones aiortc would send, byte for byte, bar the sequence and timestamp origins.
- **receiving**: SRTP packets are taken from the ICE connection before aiortc's queue,
  decrypted with the DTLS transport's keys, and only their sequence number, timestamp
  and payload are read (CSRCs, header extensions and padding skipped); each packet is
  metered (``bench/frame_meter.py``: late, missing, silent frames) and **checked for
  the echoed tone, every frame** (``bench/lean_rtp.py``: libopus to 8 kHz, or the PCMU
  table, then one cosine/sine pair; a frame without the tone counts as lost).

What the lean client does not do that a browser does: it sends **no RTCP receiver
reports** (aiortc's receiver never sees a packet, so the gateway's view of the browser
leg's loss and jitter, ``remote-inbound-rtp``, stays empty), no NACK or other feedback,
no transport-wide congestion feedback (aiortc sends none for audio either), and it plays
nothing out (no jitter buffer, no decoder beyond the tone check). Its packets all leave
in one burst per 20 ms tick (every client of the process at once, a few tens of
microseconds apart) instead of at each browser's own phase. The DTLS transport's byte
and packet counters (``getStats`` "transport") no longer count the audio.

``--stock`` keeps the older, costlier path (aiortc's sender and receiver per packet, a
pacing task per client) for comparison (``bench/client_cost.py``). The process runs on
uvloop when it is installed (``--loop asyncio`` to refuse it), **dozing** by default
(``bench/doze.py``): every turn of the loop ends asleep to the next 10 ms tick, so the
gateway's packets wait in the sockets instead of waking the process one by one (a
wake-up its sender pays for in ``sendto``). Received frames are thus stamped up to a
tick late, which the late bound (60 ms) leaves room for.

Its own pacing is checked too (``send_late``: frames this process handed out more than
the late bound after their due time), so an overloaded load generator shows in the
results instead of passing for a slow gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import gc
import logging
import random
import re
import time
from collections.abc import Callable, Coroutine
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pylibsrtp
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription, clock
from aiortc.codecs.g711 import PcmuEncoder
from aiortc.codecs.opus import OpusEncoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtp import RtpPacket

from bench import stimulus
from bench.doze import Doze, next_boundary
from bench.frame_meter import LATE_S, FrameMeter
from bench.lean_rtp import MID_URI, RtpSendHeader, ToneCheck, is_rtcp, rtp_fields
from bench.peers import PipeServer
from bench.realtime import make_realtime, priority
from gateway.loop_pacing import new_event_loop
from gateway.pcm import SAMPLE_RATE
from tests.lab.sipp import ulaw_decode_table
from webrtc.ice import restrict_host_addresses
from webrtc.libopus import LIBOPUS, NARROWBAND, Decoder, Encoder

log = logging.getLogger(__name__)

TONE_HZ = stimulus.TONE_HZ
AMPLITUDE = 8000  # of 32767
TONE_FRACTION = 0.25  # a frame "has the tone" at 25 % of the amplitude sent
FRAME_S = 0.020
CLOCK = {"opus": 48000, "pcmu": 8000}
Floats = npt.NDArray[np.float64]


NARROWBAND_BITRATE = 32000
VOICE_LEVEL = 10000  # of 32767: the voice's peaks, over the tone (bench/stimulus.py)
STIMULUS_S = 5.0  # the loop each client says over and over


def _frame(pcm: npt.NDArray[np.int16], pts: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="mono", samples=960)
    frame.planes[0].update(pcm[pts:pts + 960].tobytes())
    frame.pts = pts
    frame.sample_rate = 48000
    frame.time_base = fractions.Fraction(1, 48000)
    return frame


def encoded_tone(codec: str, frames: int = int(STIMULUS_S * 50),
                 voice: bool = True, narrowband: bool = False) -> list[bytes]:
    """``frames`` x 20 ms of the tone under a speech-like voice (``voice=False``: the
    tone alone), as aiortc's encoder for ``codec`` sends it. The voice makes the
    gateway's Opus encoder work as it does for speech (``bench/stimulus.py``).
    ``narrowband``: Opus as Chromium sends it to an answer with ``maxplaybackrate=8000``
    (libopus capped at narrowband, 32 kbit/s: libwebrtc's default rate)."""
    # A few frames more than asked: an encoder may hold the first one back.
    pcm = stimulus.spoken_tone((frames + 4) * FRAME_S, 48000, AMPLITUDE / 32767,
                               VOICE_LEVEL / 32767 if voice else 0.0)
    if codec == "opus" and narrowband:
        if LIBOPUS is None:
            raise RuntimeError("libopus not found (Debian: libopus0)")
        capped = Encoder(LIBOPUS, NARROWBAND_BITRATE, NARROWBAND, rate=48000)
        return [capped.encode(pcm[i * 960:(i + 1) * 960].tobytes()) for i in range(frames)]
    encoder = OpusEncoder() if codec == "opus" else PcmuEncoder()
    out: list[bytes] = []
    pts = 0
    while len(out) < frames:
        payloads, _ = encoder.encode(_frame(pcm, pts))
        out.extend(payloads)
        pts += 960
    return out[:frames]


def narrowband_answer(sdp: str) -> bool:
    """Whether the answer caps the Opus it will play at 8 kHz (RFC 7587
    ``maxplaybackrate``), which libwebrtc obeys by encoding narrowband."""
    opus = re.search(r"^a=rtpmap:(\d+) opus/", sdp, re.M | re.I)
    if opus is None:
        return False
    fmtp = re.search(rf"^a=fmtp:{opus.group(1)} (.*)$", sdp, re.M)
    rate = re.search(r"(?:^|;)\s*maxplaybackrate=(\d+)", fmtp.group(1)) if fmtp else None
    return rate is not None and int(rate.group(1)) <= 8000


class ToneDetector:
    """One DFT bin at the tone's frequency, per decoded frame."""

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self._decoder: Any = None
        self._libopus: Decoder | None = None
        if codec == "opus" and LIBOPUS is not None:
            # libopus straight to 16 kHz: a third of av's cost at 48 kHz, same verdict.
            self._libopus = Decoder(LIBOPUS)
        elif codec == "opus":
            self._decoder = av.CodecContext.create("libopus", "r")
            self._decoder.format = "s16"
            self._decoder.layout = "mono"
            self._decoder.sample_rate = 48000
        self._ulaw = ulaw_decode_table()
        self._basis: dict[tuple[int, int], npt.NDArray[np.complex128]] = {}
        self.threshold = TONE_FRACTION * AMPLITUDE / 32768

    def has_tone(self, payload: bytes) -> bool:
        if self.codec == "pcmu":
            x = self._ulaw[np.frombuffer(payload, dtype=np.uint8)]
            return self._amplitude(x, 8000) >= self.threshold
        if self._libopus is not None:
            pcm16 = np.frombuffer(self._libopus.decode(payload), dtype="<i2")
            return self._amplitude(pcm16 / 32768, SAMPLE_RATE) >= self.threshold
        packet = av.Packet(payload)
        level = 0.0
        for frame in self._decoder.decode(packet):
            pcm = frame.to_ndarray().reshape(-1)[:: len(frame.layout.channels)]
            level = max(level, self._amplitude(pcm.astype(np.float64) / 32768,
                                               frame.sample_rate))
        return level >= self.threshold

    def _amplitude(self, x: Floats, rate: int) -> float:
        key = (len(x), rate)
        basis = self._basis.get(key)
        if basis is None:
            basis = np.exp(-2j * np.pi * TONE_HZ * np.arange(len(x)) / rate)
            self._basis[key] = basis
        return float(2 * abs(np.dot(x, basis)) / max(len(x), 1))


class MeteringBuffer:
    """Takes aiortc's jitter-buffer place: meters each packet and decodes nothing
    further (it returns no frame, so aiortc's decoder thread stays idle). On the lean
    path it sees only what arrives before the lean path takes over."""

    capacity = 1

    def __init__(self) -> None:
        self.meter: FrameMeter | None = None
        self.has_tone: Callable[[bytes], bool] | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if self.meter is not None and self.has_tone is not None:
            data: bytes = packet._data  # type: ignore[attr-defined]  # aiortc's depayloaded bytes
            self.meter.add(time.monotonic(), packet.sequence_number, packet.timestamp,
                           self.has_tone(data))
        return False, None


class PacketTrack(MediaStreamTrack):
    """A microphone that hands aiortc ready-made packets of the tone, paced (the stock
    path). On the lean path it never gives a packet (``ready`` is never set) and only
    keeps the counts the lean path's sending adds to."""

    kind = "audio"

    def __init__(self, tones: dict[str, list[bytes]], late_s: float) -> None:
        super().__init__()
        self._tones = tones
        self.late_s = late_s
        self.codec: str | None = None
        self.ready = asyncio.Event()
        self._start: float | None = None
        self._n = 0
        self.send_late = 0
        self.sent = 0

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        await self.ready.wait()
        assert self.codec is not None
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            self._n += 1
            due = self._start + self._n * FRAME_S
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > self.late_s:
                self.send_late += 1
        payloads = self._tones[self.codec]
        packet = av.Packet(payloads[self._n % len(payloads)])
        rate = CLOCK[self.codec]
        packet.pts = self._n * rate // 50
        packet.time_base = fractions.Fraction(1, rate)
        self.sent += 1
        return packet


def answer_codec(sdp: str) -> str:
    """"opus" or "pcmu": the first codec of the answer's audio line."""
    m = re.search(r"^m=audio \S+ \S+ (\d+)", sdp, re.M)
    r = re.search(rf"^a=rtpmap:{m.group(1)} (\w+)/", sdp, re.M) if m else None
    name = r.group(1).lower() if r else ""
    if name not in CLOCK:
        raise ValueError(f"unexpected codec in the answer: {name!r}")
    return name


class Ticker:
    """One timer for every lean client of the process: a tick every 20 ms on an absolute
    schedule (a tick that comes late is followed at once by the next one due, as a paced
    track catches up), each tick one packet for every client."""

    def __init__(self, late_s: float, phase: float = 0.0) -> None:
        self.late_s = late_s
        self.phase = phase  # where in 20 ms the process's sends go (a dozing loop's too)
        self.paths: list[LeanPath] = []
        self._handle: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._n = 0

    def add(self, path: LeanPath) -> None:
        self.paths.append(path)
        if self._handle is None:
            loop = asyncio.get_running_loop()
            # On the process's 20 ms grid of the monotonic clock (a hair early, for
            # uvloop's millisecond timers): a dozing loop (bench/doze.py) wakes on it.
            start = next_boundary(loop.time(), FRAME_S, self.phase) - 0.001
            self._start, self._n = start, 0
            self._handle = loop.call_at(self._start, self._tick)

    def remove(self, path: LeanPath) -> None:
        if path in self.paths:
            self.paths.remove(path)
        if not self.paths and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        late = loop.time() - (self._start + self._n * FRAME_S) > self.late_s
        ntp = clock.current_ntp_time()
        failed = False
        for path in self.paths:
            try:
                path.send(late, ntp)
            except Exception:  # one client's failure must not stop the others' audio
                log.exception("lean client: sending failed; its audio stops")
                path.failed = failed = True
        if failed:
            self.paths = [path for path in self.paths if not path.failed]
        self._n += 1
        self._handle = (loop.call_at(self._start + self._n * FRAME_S, self._tick)
                        if self.paths else None)


class LeanPath:
    """One connected client's audio, moved here instead of through aiortc's sender and
    receiver (see the module's docstring)."""

    def __init__(self, pc: RTCPeerConnection, track: PacketTrack, payloads: list[bytes],
                 meter: FrameMeter, has_tone: Callable[[bytes], bool]) -> None:
        transceiver = pc.getTransceivers()[0]
        sender = transceiver.sender
        self._sender_vars = vars(sender)  # its RTCP sender report's counts, private
        self._dtls = sender.transport
        self._connection = self._dtls.transport._connection  # aioice's Connection
        codec = transceiver._codecs[0]
        mid_id = next((e.id for e in transceiver._headerExtensions if e.uri == MID_URI),
                      None)
        assert codec.payloadType is not None
        self.header = RtpSendHeader(sender._ssrc, codec.payloadType, transceiver.mid, mid_id)
        self.payload_type = codec.payloadType
        self._step = codec.clockRate // 50
        self._track = track
        self._payloads = payloads
        self.meter = meter
        self.has_tone = has_tone
        self._seq = random.getrandbits(16)
        self._ts = random.getrandbits(32)
        self._n = 0
        self._octets = 0
        self.failed = False
        self._hooked: list[Any] = []  # aioice's StunProtocols whose datagrams we take
        self._pair: Any = None
        self._sendto: Callable[[bytes, tuple[str, int]], None] | None = None
        self._addr: tuple[str, int] = ("", 0)

    def install(self) -> None:
        """Take received SRTP from the ICE connection's sockets, before aioice tries
        to read it as STUN and queues it for aiortc."""
        for protocol in self._connection._protocols:
            forward = protocol.datagram_received
            vars(protocol)["datagram_received"] = self._receiver(forward)
            self._hooked.append(protocol)

    def uninstall(self) -> None:
        for protocol in self._hooked:
            vars(protocol).pop("datagram_received", None)
        self._hooked.clear()

    def send(self, late: bool, ntp: int) -> None:
        pair = self._connection._nominated.get(1)
        if pair is not self._pair:  # the nominated pair's socket and address, cached
            self._pair = pair
            self._sendto = pair.protocol.transport.sendto if pair is not None else None
            self._addr = pair.remote_addr if pair is not None else ("", 0)
        if self._sendto is None or self._dtls._state is not DtlsState.CONNECTED:
            return
        payload = self._payloads[self._n % len(self._payloads)]
        packet = self.header.packet(self._seq, self._ts, payload)
        self._sendto(self._dtls._tx_srtp.protect(packet), self._addr)
        # What aiortc's sender puts in its RTCP sender reports.
        sender = self._sender_vars
        self._octets += len(payload)
        sender["_RTCRtpSender__ntp_timestamp"] = ntp
        sender["_RTCRtpSender__rtp_timestamp"] = self._ts
        sender["_RTCRtpSender__octet_count"] = self._octets
        sender["_RTCRtpSender__packet_count"] = self._n + 1
        self._n += 1
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + self._step) & 0xFFFFFFFF
        self._track.sent += 1
        if late:
            self._track.send_late += 1

    def _receiver(self, forward: Callable[[bytes, Any], None]) -> Callable[[bytes, Any], None]:
        dtls, meter, has_tone = self._dtls, self.meter, self.has_tone
        payload_type = self.payload_type

        def datagram_received(data: bytes, addr: Any) -> None:
            # RTP's first byte is 128-191 (version 2); STUN's and DTLS's are below 64.
            if 127 < data[0] < 192 and not is_rtcp(data):
                try:
                    plain = dtls._rx_srtp.unprotect(data)
                    pt, seq, timestamp, start, end = rtp_fields(plain)
                except (pylibsrtp.Error, ValueError):
                    return  # aiortc drops these too
                if pt == payload_type:
                    meter.add(time.monotonic(), seq, timestamp, has_tone(plain[start:end]))
                return
            forward(data, addr)  # STUN, DTLS, RTCP: aioice and aiortc as usual

        return datagram_received


class Client:
    def __init__(self, tones: dict[str, list[bytes]], late_s: float,
                 ticker: Ticker | None = None) -> None:
        self.late_s = late_s
        self.tones = tones
        self.ticker = ticker  # None: the stock path
        self.pc = RTCPeerConnection()
        self.track = PacketTrack(tones, late_s)
        self.pc.addTrack(self.track)
        self.buffer = MeteringBuffer()
        self.lean: LeanPath | None = None
        receiver = self.pc.getTransceivers()[0].receiver
        # aiortc offers no hook for received RTP; its jitter buffer is private state.
        setattr(receiver, "_RTCRtpReceiver__jitter_buffer", self.buffer)  # noqa: B010

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, sdp: str, timeout: float = 15) -> str:
        codec = answer_codec(sdp)
        meter = FrameMeter(CLOCK[codec], self.late_s)
        if self.ticker is None:
            self.buffer.has_tone = ToneDetector(codec).has_tone
        else:
            self.buffer.has_tone = ToneCheck(codec, TONE_HZ,
                                             TONE_FRACTION * AMPLITUDE / 32768)
        self.buffer.meter = meter
        self.track.codec = codec
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        connected = asyncio.Event()

        def changed() -> None:
            if self.pc.connectionState in ("connected", "failed", "closed"):
                connected.set()

        self.pc.on("connectionstatechange", changed)
        changed()
        await asyncio.wait_for(connected.wait(), timeout)
        if self.pc.connectionState != "connected":
            raise RuntimeError(f"peer connection {self.pc.connectionState}")
        if self.ticker is None:
            self.track.ready.set()
        else:  # the track stays silent: aiortc's sender loop waits on it for good
            payloads = self.tones[codec]
            if codec == "opus" and narrowband_answer(sdp):  # as Chromium would send
                if "opus/nb" not in self.tones:
                    self.tones["opus/nb"] = encoded_tone("opus", narrowband=True)
                payloads = self.tones["opus/nb"]
            self.lean = LeanPath(self.pc, self.track, payloads, meter,
                                 self.buffer.has_tone)
            self.lean.install()
            self.ticker.add(self.lean)
        return codec

    def take(self) -> dict[str, Any]:
        assert self.buffer.meter is not None
        stats = self.buffer.meter.take()
        out: dict[str, Any] = stats.as_json() | {"send_late": self.track.send_late,
                                                  "sent": self.track.sent}
        self.track.send_late = self.track.sent = 0
        return out

    async def close(self) -> None:
        if self.lean is not None:
            assert self.ticker is not None
            self.ticker.remove(self.lean)
            self.lean.uninstall()
            self.lean = None
        await self.pc.close()


class Server(PipeServer):
    def __init__(self, late_s: float, lean: bool = True, phase: float = 0.0) -> None:
        super().__init__()
        self.late_s = late_s
        self.tones = {codec: encoded_tone(codec) for codec in CLOCK}
        self.clients: dict[int, Client] = {}
        self.ticker = Ticker(late_s, phase) if lean else None

    async def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        cmd = msg["cmd"]
        k = int(msg.get("k", -1))
        if cmd == "new":
            self.clients[k] = Client(self.tones, self.late_s, self.ticker)
            return {}
        if cmd == "offer":
            return {"sdp": await self.clients[k].offer()}
        if cmd == "accept":
            return {"codec": await self.clients[k].accept(str(msg["sdp"]))}
        if cmd == "take":  # one window's figures for each client named
            return {str(c): self.clients[c].take() for c in msg["clients"]
                    if c in self.clients and self.clients[c].buffer.meter is not None}
        if cmd == "close":
            client = self.clients.pop(k, None)
            if client is not None:
                await client.close()
            return {}
        if cmd == "count":
            return {"clients": len(self.clients),
                    "open": sum(c.pc.connectionState != "closed"
                                for c in self.clients.values())}
        raise ValueError(f"unknown command {cmd!r}")

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()


LOOPS = ("uvloop", "dozing", "paced", "asyncio")
# A/B at 64 PCMU calls, 20 s windows, alternating (session 10): the clients used 33 and
# 31 % of a core dozing against 42 and 44 % on plain uvloop, the machine 145 and 126 %
# against 162 and 179 %; bad frames 0.17 and 0 % against 0 and 2.2 %.
DEFAULT_LOOP = "dozing"
TICK_MS = 10.0


def run(main: Coroutine[Any, Any, None], loop: str = "uvloop", tick_ms: float = TICK_MS,
        phase: float = 0.0) -> str:
    """Run ``main`` on uvloop when asked and installed; ``dozing``: on uvloop (else
    asyncio's loop) put on ``tick_ms`` ticks by ``bench/doze.py``; ``paced``: on asyncio's
    loop paced by its selector (``gateway/loop_pacing.py``); else on asyncio's own loop.
    Returns the loop used."""
    if loop == "paced":
        with asyncio.Runner(loop_factory=lambda: new_event_loop(tick_ms / 1000)) as runner:
            runner.run(main)
        return "paced"
    if loop == "dozing":
        main = _dozing(main, tick_ms / 1000, phase)
    if loop in ("uvloop", "dozing"):
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return loop
    asyncio.run(main)
    return "dozing/asyncio" if loop == "dozing" else "asyncio"


async def _dozing(main: Coroutine[Any, Any, None], tick: float, phase: float) -> None:
    doze = Doze(tick, phase)
    doze.start()
    try:
        await main
    finally:
        doze.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--late-ms", type=float, default=1000 * LATE_S)
    parser.add_argument("--stock", action="store_true",
                        help="aiortc's own per-packet sender and receiver (the older path)")
    parser.add_argument("--loop", choices=LOOPS, default=DEFAULT_LOOP,
                        help="event loop (uvloop falls back to asyncio when missing)")
    parser.add_argument("--tick-ms", type=float, default=TICK_MS,
                        help="the paced loop's tick")
    parser.add_argument("--realtime", type=priority, default=0, metavar="PRIORITY",
                        help="run on the SCHED_FIFO real-time class at this priority "
                             "(1-99; root): see bench/realtime.py")
    args = parser.parse_args()
    if args.realtime:
        make_realtime(args.realtime)
    restrict_host_addresses(["127.0.0.1"])
    # The modules' objects (av, numpy, aiortc) are never garbage: out of the collector's
    # way, so a full collection does not walk them and stall every client's audio.
    gc.collect()
    gc.freeze()
    # Each process sends at its own point of the 20 ms, as browsers do (not in step).
    phase = random.uniform(0, FRAME_S)
    run(Server(args.late_ms / 1000, lean=not args.stock, phase=phase).run(), args.loop,
        args.tick_ms, phase)


if __name__ == "__main__":
    main()
