"""Cheap stand-in browsers for the capacity benchmark, many per process.

``python -m bench.load_client`` holds any number of aiortc peer connections, driven by
JSON lines on stdin (``{"id": N, "cmd": ..., "k": agent}``), one reply per command
(``{"id": N, "ok": true, "result": {...}}``), like ``bench/peers.py``.

Each client is a real RTCPeerConnection (ICE, DTLS, SRTP, RTP, RTCP as a browser does)
made as cheap as it can be, so that the CPU goes to the gateway under test:

- it sends a 1 kHz tone **encoded once per process** by aiortc's own encoder (Opus or
  PCMU, whichever the gateway's answer chose), handed to aiortc's sender as ready
  packets: no encoding per client;
- what comes back is metered where aiortc would put it in its jitter buffer
  (``bench/frame_meter.py``: late, missing, silent frames) and decoded here only to
  check each frame for the echoed tone; aiortc's decoder thread never gets it.

Its own pacing is checked too (``send_late``: frames this process handed out more than
the late bound after their due time), so an overloaded load generator shows in the
results instead of passing for a slow gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import math
import re
import time
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.g711 import PcmuEncoder
from aiortc.codecs.opus import OpusEncoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from bench.frame_meter import LATE_S, FrameMeter
from bench.peers import PipeServer
from gateway.pcm import SAMPLE_RATE
from webrtc.ice import restrict_host_addresses
from webrtc.libopus import LIBOPUS, Decoder

TONE_HZ = 1000.0
AMPLITUDE = 8000  # of 32767
TONE_FRACTION = 0.25  # a frame "has the tone" at 25 % of the amplitude sent
FRAME_S = 0.020
CLOCK = {"opus": 48000, "pcmu": 8000}
Floats = npt.NDArray[np.float64]


def _tone_frame(pts: int) -> av.AudioFrame:
    t = (np.arange(960) + pts) / 48000
    pcm = (AMPLITUDE * np.sin(2 * math.pi * TONE_HZ * t)).astype("<i2")
    frame = av.AudioFrame(format="s16", layout="mono", samples=960)
    frame.planes[0].update(pcm.tobytes())
    frame.pts = pts
    frame.sample_rate = 48000
    frame.time_base = fractions.Fraction(1, 48000)
    return frame


def encoded_tone(codec: str, frames: int = 50) -> list[bytes]:
    """``frames`` x 20 ms of the tone, as aiortc's encoder for ``codec`` sends it."""
    encoder = OpusEncoder() if codec == "opus" else PcmuEncoder()
    out: list[bytes] = []
    pts = 0
    while len(out) < frames:
        payloads, _ = encoder.encode(_tone_frame(pts))
        out.extend(payloads)
        pts += 960
    return out[:frames]


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
        self._ulaw = _ulaw_table()
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


def _ulaw_table() -> Floats:
    codes = np.arange(256)
    u = ~codes & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign, -magnitude, magnitude).astype(np.float64) / 32768


class MeteringBuffer:
    """Takes aiortc's jitter-buffer place: meters each packet and decodes nothing
    further (it returns no frame, so aiortc's decoder thread stays idle)."""

    capacity = 1

    def __init__(self) -> None:
        self.meter: FrameMeter | None = None
        self.detector: ToneDetector | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if self.meter is not None and self.detector is not None:
            data: bytes = packet._data  # type: ignore[attr-defined]  # aiortc's depayloaded bytes
            self.meter.add(time.monotonic(), packet.sequence_number, packet.timestamp,
                           self.detector.has_tone(data))
        return False, None


class PacketTrack(MediaStreamTrack):
    """A microphone that hands aiortc ready-made packets of the tone, paced."""

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


class Client:
    def __init__(self, tones: dict[str, list[bytes]], late_s: float) -> None:
        self.late_s = late_s
        self.pc = RTCPeerConnection()
        self.track = PacketTrack(tones, late_s)
        self.pc.addTrack(self.track)
        self.buffer = MeteringBuffer()
        receiver = self.pc.getTransceivers()[0].receiver
        # aiortc offers no hook for received RTP; its jitter buffer is private state.
        setattr(receiver, "_RTCRtpReceiver__jitter_buffer", self.buffer)  # noqa: B010

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, sdp: str, timeout: float = 15) -> str:
        codec = answer_codec(sdp)
        self.buffer.detector = ToneDetector(codec)
        self.buffer.meter = FrameMeter(CLOCK[codec], self.late_s)
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
        self.track.ready.set()
        return codec

    def take(self) -> dict[str, Any]:
        assert self.buffer.meter is not None
        stats = self.buffer.meter.take()
        out: dict[str, Any] = stats.as_json() | {"send_late": self.track.send_late,
                                                  "sent": self.track.sent}
        self.track.send_late = self.track.sent = 0
        return out

    async def close(self) -> None:
        await self.pc.close()


class Server(PipeServer):
    def __init__(self, late_s: float) -> None:
        super().__init__()
        self.late_s = late_s
        self.tones = {codec: encoded_tone(codec) for codec in CLOCK}
        self.clients: dict[int, Client] = {}

    async def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        cmd = msg["cmd"]
        k = int(msg.get("k", -1))
        if cmd == "new":
            self.clients[k] = Client(self.tones, self.late_s)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--late-ms", type=float, default=1000 * LATE_S)
    args = parser.parse_args()
    restrict_host_addresses(["127.0.0.1"])
    asyncio.run(Server(args.late_ms / 1000).run())


if __name__ == "__main__":
    main()
