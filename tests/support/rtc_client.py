"""A stand-in browser for gateway tests: a real aiortc peer that sends a tone and
listens for one. (The page itself is tested with headless Chromium.)"""

from __future__ import annotations

import asyncio
import fractions
import itertools
import math
import time
from collections import deque

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from tests.lab.tone import tone_present
from webrtc.pacing import Pacer

RATE = 48000
SAMPLES = 960
LISTEN_RATE = 16000


class ToneTrack(MediaStreamTrack):
    """A paced 48 kHz microphone playing a sine (0 Hz = silence)."""

    kind = "audio"

    def __init__(self, freq: float) -> None:
        super().__init__()
        self.freq = freq
        self._pacer = Pacer(RATE)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        pts = await self._pacer.next_pts(SAMPLES)
        t = (np.arange(SAMPLES) + pts) / RATE
        pcm = (8000 * np.sin(2 * math.pi * self.freq * t)).astype("<i2")
        frame = av.AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(pcm.tobytes())
        frame.pts = pts
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


class RtcClient:
    """One peer connection: a tone out, the last second of received audio kept."""

    def __init__(self, freq: float = 1000) -> None:
        self.pc = RTCPeerConnection()
        self.mic = ToneTrack(freq)
        self.pc.addTrack(self.mic)
        # (arrival time, samples): the line sends nothing when no call is on it, so
        # only what arrived recently counts as heard.
        self._heard: deque[tuple[float, np.ndarray]] = deque(maxlen=250)
        self._reader: asyncio.Task[None] | None = None
        self.pc.on("track", self._on_track)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def wait_connected(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            if time.monotonic() > deadline:
                raise TimeoutError(f"peer connection {self.pc.connectionState}")
            await asyncio.sleep(0.02)

    def hears(self, freq: float, seconds: float = 0.5) -> bool:
        since = time.monotonic() - seconds
        frames = [samples for at, samples in self._heard if at >= since]
        if len(frames) < seconds * 50 * 0.5:
            return False
        return tone_present(np.concatenate(frames), LISTEN_RATE, freq)

    def tone_continuity(self, freq: float, since: float, until: float) -> tuple[int, int, float]:
        """(frames received, frames holding ``freq``, longest stretch in ms with no frame
        holding it) between ``since`` and ``until`` (``time.monotonic()`` values)."""
        frames = [(at, samples) for at, samples in self._heard if since <= at <= until]
        heard = [at for at, samples in frames
                 if tone_present(samples, LISTEN_RATE, freq, tolerance_hz=60)]
        edges = [since, *heard, until]
        longest = max(b - a for a, b in itertools.pairwise(edges))
        return len(frames), len(heard), 1000 * longest

    async def wait_received_after(self, moment: float, timeout: float = 10) -> None:
        """Until a frame arrives after ``moment`` (audio up to then is all in)."""
        deadline = time.monotonic() + timeout
        while not (self._heard and self._heard[-1][0] > moment):
            if time.monotonic() > deadline:
                raise TimeoutError("no audio from the gateway")
            await asyncio.sleep(0.02)  # one frame time: polling the received audio

    async def wait_hears(self, freq: float, timeout: float = 5) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.hears(freq):
                return True
            await asyncio.sleep(0.1)
        return False

    async def wait_silence(self, freq: float, timeout: float = 5) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.hears(freq, seconds=0.3):
                return True
            await asyncio.sleep(0.1)
        return False

    async def close(self) -> None:
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=LISTEN_RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.AudioFrame)
            for out in resampler.resample(frame):
                self._heard.append((time.monotonic(), np.frombuffer(
                    bytes(out.planes[0])[: out.samples * 2], dtype="<i2")))
