"""aiortc peers for the call-cost bench, in their own process.

``python -m bench.peers serve`` holds the agents' browser stand-ins (one
RTCPeerConnection each) and is driven by JSON lines on stdin; every command gets one
reply ``{"id": N, "ok": true, "result": {...}}``. Keeping the peers here keeps their
Opus/SRTP work out of the gateway's main process, so the processes measured are the
line workers alone.

``python -m bench.peers pair --codec opus`` is the baseline: two RTCPeerConnections in
one process sending a tone to each other. It prints ``{"event": "connected"}`` once both
are connected and media flows, and stops (printing its stats) when stdin closes or
reads ``stop``.

Round trip: a ``BurstTrack`` switches a 1 kHz tone on at a frame boundary and notes
when that frame left ``recv()`` (aiortc encodes and sends it at once). The listener
finds the onset in the received PCM with a sliding 3-period single-bin DFT
(Goertzel-like); a sample j of a frame returned by the receiving track at time t is
taken to sound at t + j/rate, so a zero-delay pipe would read 0 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from webrtc import jitter
from webrtc.ice import restrict_host_addresses

RATE = 48000
SAMPLES = 960  # 20 ms
TONE_HZ = 1000.0
AMPLITUDE = 8000  # of 32767, like tests/support/rtc_client.py
ONSET_FRACTION = 0.4  # onset: windowed tone amplitude reaches 40 % of what was sent
QUIET_FRACTION = 0.1
QUIET_FRAMES = 5  # 100 ms of quiet between bursts
_CODEC_MIME = {"opus": "audio/opus", "pcmu": "audio/PCMU"}

Floats = npt.NDArray[np.float64]


class BurstTrack(MediaStreamTrack):
    """A paced 48 kHz microphone: a steady tone, silence, or timed tone bursts."""

    kind = "audio"

    def __init__(self, freq: float = TONE_HZ) -> None:
        super().__init__()
        self.freq = freq
        self.continuous = True
        self._pts = 0
        self._start: float | None = None
        self._burst_left = 0
        self._burst_sample = 0
        self._onset: asyncio.Future[float] | None = None

    def burst(self, frames: int) -> asyncio.Future[float]:
        """Start a tone burst of ``frames`` x 20 ms on the next frame; resolves to the
        monotonic time at which its first frame was handed to the encoder."""
        self._onset = asyncio.get_running_loop().create_future()
        self._burst_left = frames
        self._burst_sample = 0
        return self._onset

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += SAMPLES
            delay = self._start + self._pts / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        if self.continuous:
            pcm = self._sine(self._pts)
        elif self._burst_left > 0:
            pcm = self._sine(self._burst_sample)  # phase 0 at the burst's first sample
            self._burst_sample += SAMPLES
            self._burst_left -= 1
            if self._onset is not None and not self._onset.done():
                self._onset.set_result(time.monotonic())
        else:
            pcm = np.zeros(SAMPLES, dtype="<i2")
        frame = av.AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(pcm.tobytes())
        frame.pts = self._pts
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        return frame

    def _sine(self, first: int) -> npt.NDArray[np.int16]:
        t = (np.arange(SAMPLES) + first) / RATE
        return (AMPLITUDE * np.sin(2 * math.pi * self.freq * t)).astype("<i2")


def tone_amplitude(x: Floats, rate: int, freq: float) -> float:
    """Amplitude (fraction of full scale) of ``freq`` in ``x``, one DFT bin."""
    n = np.arange(len(x))
    z = np.sum(x * np.exp(-2j * np.pi * freq * n / rate))
    return float(2 * abs(z) / max(len(x), 1))


def sliding_amplitude(x: Floats, rate: int, freq: float) -> tuple[Floats, int]:
    """Tone amplitude of every window of 3 periods in ``x``; (amplitudes, window)."""
    window = max(4, round(3 * rate / freq))
    n = np.arange(len(x))
    z = x * np.exp(-2j * np.pi * freq * n / rate)
    cs = np.concatenate(([0j], np.cumsum(z)))
    amps = 2 * np.abs(cs[window:] - cs[:-window]) / window
    return amps.astype(np.float64), window


@dataclass
class _Heard:
    t: float
    x: Floats
    rate: int


class Listener:
    """Reads the received track: counts frames and gaps, finds burst onsets."""

    def __init__(self, freq: float = TONE_HZ) -> None:
        self.freq = freq
        self.expected = AMPLITUDE / 32768
        self.frames = 0
        self.tone_frames = 0
        self.late = 0  # gaps of more than 2 frame times between received frames
        self.max_gap = 0.0
        self.codec_rate = 0
        self._last_t: float | None = None
        self._prev: _Heard | None = None
        self._onset: asyncio.Future[float] | None = None
        self._not_before = 0.0
        self._quiet: asyncio.Future[None] | None = None
        self._quiet_frames = 0

    def reset_stats(self) -> None:
        self.frames = self.tone_frames = self.late = 0
        self.max_gap = 0.0

    def expect_onset(self, not_before: float) -> asyncio.Future[float]:
        """The sound time of the next tone onset at or after ``not_before``."""
        self._onset = asyncio.get_running_loop().create_future()
        self._not_before = not_before
        return self._onset

    def expect_quiet(self) -> asyncio.Future[None]:
        self._quiet = asyncio.get_running_loop().create_future()
        self._quiet_frames = 0
        return self._quiet

    async def run(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.monotonic()
            assert isinstance(frame, av.AudioFrame)
            channels = len(frame.layout.channels)
            pcm = frame.to_ndarray().reshape(-1)[: frame.samples * channels : channels]
            self.on_frame(now, pcm.astype(np.float64) / 32768, frame.sample_rate)

    def on_frame(self, now: float, x: Floats, rate: int) -> None:
        self.codec_rate = rate
        self.frames += 1
        if self._last_t is not None:
            gap = now - self._last_t
            self.max_gap = max(self.max_gap, gap)
            if gap > 0.045:
                self.late += 1
        self._last_t = now
        level = tone_amplitude(x, rate, self.freq)
        if level >= ONSET_FRACTION * self.expected:
            self.tone_frames += 1
        heard = _Heard(now, x, rate)
        if self._onset is not None and not self._onset.done():
            self._find_onset(heard)
        if self._quiet is not None and not self._quiet.done():
            self._quiet_frames = self._quiet_frames + 1 if (
                level < QUIET_FRACTION * self.expected) else 0
            if self._quiet_frames >= QUIET_FRAMES:
                self._quiet.set_result(None)
        self._prev = heard

    def _find_onset(self, cur: _Heard) -> None:
        assert self._onset is not None
        prev = self._prev if self._prev is not None and self._prev.rate == cur.rate else None
        x = np.concatenate((prev.x, cur.x)) if prev is not None else cur.x
        amps, window = sliding_amplitude(x, cur.rate, self.freq)
        # A step-on sine fills the window linearly: the threshold is crossed when the
        # tone occupies ONSET_FRACTION of it.
        shift = round(window * (1 - ONSET_FRACTION))
        for index in np.nonzero(amps >= ONSET_FRACTION * self.expected)[0]:
            sample = int(index) + shift
            if prev is not None and sample < len(prev.x):
                t = prev.t + sample / cur.rate
            else:
                t = cur.t + (sample - (len(prev.x) if prev is not None else 0)) / cur.rate
            if t >= self._not_before:
                self._onset.set_result(t)
                return


class Client:
    """One agent's browser stand-in."""

    def __init__(self, jitter_mode: str) -> None:
        self.pc = RTCPeerConnection()
        self.mic = BurstTrack()
        self.pc.addTrack(self.mic)
        self.jitter_mode = jitter_mode
        if jitter_mode == "arrival":
            jitter.install(self.pc.getTransceivers()[0].receiver)
        self.listener = Listener()
        self._reader: asyncio.Task[None] | None = None
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self.listener.run(track))

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, sdp: str, timeout: float = 10) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        await wait_connected(self.pc, timeout)

    async def rtt(self, count: int, burst_frames: int, timeout: float = 3) -> dict[str, Any]:
        """``count`` bursts, each after the echo of the last one has died away."""
        self.mic.continuous = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listener.expect_quiet(), timeout)
        delays: list[float] = []
        misses = 0
        for _ in range(count):
            sent = await self.mic.burst(burst_frames)
            heard = self.listener.expect_onset(sent)
            try:
                onset = await asyncio.wait_for(heard, timeout)
                delays.append(1000 * (onset - sent))
            except TimeoutError:
                misses += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.listener.expect_quiet(), timeout)
        return {"ms": delays, "misses": misses}

    def stats(self) -> dict[str, Any]:
        lis = self.listener
        out = {"frames": lis.frames, "tone_frames": lis.tone_frames, "late": lis.late,
               "max_gap_ms": round(1000 * lis.max_gap, 1), "rate": lis.codec_rate}
        lis.reset_stats()
        return out

    async def close(self) -> None:
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


async def wait_connected(pc: RTCPeerConnection, timeout: float) -> None:
    done = asyncio.Event()

    def changed() -> None:
        if pc.connectionState in ("connected", "failed", "closed"):
            done.set()

    pc.on("connectionstatechange", changed)
    changed()
    await asyncio.wait_for(done.wait(), timeout)
    if pc.connectionState != "connected":
        raise RuntimeError(f"peer connection {pc.connectionState}")


# -- serve: the agents' peers, driven over stdin/stdout --------------------------------


class PipeServer:
    """Answers JSON commands read line by line from stdin, one reply line each on stdout
    (``{"id", "ok", "result" | "error"}``); commands run concurrently. Subclasses give
    ``handle`` and ``close`` (called once stdin ends and every command has answered)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            task = loop.create_task(self._serve(json.loads(line)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.close()

    async def _serve(self, msg: dict[str, Any]) -> None:
        try:
            reply = {"id": msg["id"], "ok": True, "result": await self.handle(msg)}
        except Exception as exc:  # every failure goes back to the driver
            reply = {"id": msg["id"], "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        emit(reply)


class Server(PipeServer):
    def __init__(self) -> None:
        super().__init__()
        self.clients: dict[int, Client] = {}

    async def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        cmd = msg["cmd"]
        k = int(msg.get("k", 0))
        if cmd == "new":
            self.clients[k] = Client(str(msg.get("jitter", "aiortc")))
            return {}
        if cmd == "one_way_pair":
            return await one_way_pair(str(msg.get("codec", "opus")), int(msg["count"]),
                                      float(msg.get("loss", 0)))
        client = self.clients[k]
        if cmd == "offer":
            return {"sdp": await client.offer()}
        if cmd == "accept":
            await client.accept(str(msg["sdp"]))
            return {}
        if cmd == "continuous":
            client.mic.continuous = bool(msg["on"])
            return {}
        if cmd == "stats":
            return client.stats()
        if cmd == "rtt":
            return await client.rtt(int(msg["count"]), int(msg.get("burst_frames", 10)))
        if cmd == "burst":  # one-way latency: stamp a burst leaving this client
            return {"sent": await client.mic.burst(int(msg.get("frames", 10)))}
        if cmd == "onset":  # one-way latency: the next onset heard after not_before
            try:
                onset = await asyncio.wait_for(client.listener.expect_onset(
                    float(msg["not_before"])), float(msg.get("within", 3)))
            except TimeoutError:
                return {"onset": None}
            return {"onset": onset}
        if cmd == "quiet":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.listener.expect_quiet(),
                                       float(msg.get("within", 3)))
            return {}
        if cmd == "loss":
            drop_outgoing_rtp(client.pc, float(msg["rate"]))
            return {}
        if cmd == "close":
            await self.clients.pop(k).close()
            return {}
        raise ValueError(f"unknown command {cmd!r}")

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()


def drop_outgoing_rtp(pc: RTCPeerConnection, rate: float, seed: int = 1) -> None:
    """Lose ``rate`` of the RTP packets this peer sends (RTCP untouched), as a lossy
    uplink would: the receiving end's jitter buffer sees the gaps."""
    rng = random.Random(seed)
    transport = pc.getSenders()[0].transport
    send_rtp = transport._send_rtp

    async def lossy(data: bytes) -> None:
        # RTCP shares this path; its packet types (200-204) sit where RTP has M+PT.
        if 192 <= data[1] <= 223 or rng.random() >= rate:
            await send_rtp(data)

    setattr(transport, "_send_rtp", lossy)  # noqa: B010 - a method replaced on one object


async def one_way_pair(codec: str, count: int, loss: float, timeout: float = 3) -> dict[str, Any]:
    """Baseline: a bare aiortc pair in this process, A's bursts heard by B (release on
    arrival, as the gateway's receiver), with ``loss`` of A's packets dropped."""
    a, b = Client("arrival"), Client("arrival")
    _prefer(a.pc.getTransceivers()[0], codec)
    offer = await a.offer()
    await b.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    _prefer(b.pc.getTransceivers()[0], codec)
    await b.pc.setLocalDescription(await b.pc.createAnswer())
    await a.accept(str(b.pc.localDescription.sdp))
    await wait_connected(b.pc, 10)
    if loss:
        drop_outgoing_rtp(a.pc, loss)
    a.mic.continuous = False
    delays: list[float] = []
    misses = 0
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(b.listener.expect_quiet(), timeout)
        for _ in range(count):
            heard = b.listener.expect_onset(time.monotonic())
            sent = await a.mic.burst(10)
            try:
                delays.append(1000 * (await asyncio.wait_for(heard, timeout) - sent))
            except TimeoutError:
                misses += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(b.listener.expect_quiet(), timeout)
    finally:
        await a.close()
        await b.close()
    return {"ms": delays, "misses": misses}


def emit(msg: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


# -- pair: the bare aiortc baseline ----------------------------------------------------


def _prefer(transceiver: RTCRtpTransceiver, codec: str) -> None:
    wanted = _CODEC_MIME[codec].lower()
    caps = RTCRtpSender.getCapabilities("audio").codecs
    transceiver.setCodecPreferences([c for c in caps if c.mimeType.lower() == wanted])


async def run_pair(codec: str) -> None:
    a, b = Client("aiortc"), Client("aiortc")
    _prefer(a.pc.getTransceivers()[0], codec)
    offer = await a.offer()
    await b.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    _prefer(b.pc.getTransceivers()[0], codec)
    await b.pc.setLocalDescription(await b.pc.createAnswer())
    await a.accept(str(b.pc.localDescription.sdp))
    await wait_connected(b.pc, 10)
    # Media flows once both listeners hear the other's tone.
    while not (a.listener.tone_frames and b.listener.tone_frames):
        await asyncio.sleep(0.02)
    a.stats()
    b.stats()
    emit({"event": "connected"})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while (line := await reader.readline()) and line.strip() != b"stop":
        pass
    emit({"event": "stats", "a": a.stats(), "b": b.stats()})
    await a.close()
    await b.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("serve")
    pair = sub.add_parser("pair")
    pair.add_argument("--codec", choices=sorted(_CODEC_MIME), default="opus")
    args = parser.parse_args()
    restrict_host_addresses(["127.0.0.1"])
    if args.mode == "serve":
        asyncio.run(Server().run())
    else:
        asyncio.run(run_pair(args.codec))


if __name__ == "__main__":
    main()
