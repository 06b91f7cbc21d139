"""A raw RTP end (PCMU, 8 kHz, 20 ms) for latency benchmarks: a SIP phone's media, minus
the phone.

It sends a paced stream (silence, or a 1 kHz tone burst on request, stamped when its
first packet leaves) and hands every packet it receives, decoded and stamped on arrival,
to a ``bench.peers.Listener``, which finds tone onsets the same way the browser side
does: sample j of a packet that arrived at t counts as sounding at t + j/8000, so a
zero-delay pipe reads 0 ms.
"""

from __future__ import annotations

import asyncio
import math
import random
import struct
import time

import numpy as np

from bench.peers import AMPLITUDE, TONE_HZ, Listener
from tests.lab.sipp import ulaw_decode_table, ulaw_encode

RATE = 8000
SAMPLES = 160
PCMU = 0


ULAW = ulaw_decode_table()
SILENCE = ulaw_encode(np.zeros(SAMPLES, dtype=np.int16))


class RtpPeer(asyncio.DatagramProtocol):
    """One RTP socket on ``host``: paced PCMU out, onsets found in what comes in."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.remote: tuple[str, int] | None = None
        self.listener = Listener(TONE_HZ)
        self.received = 0
        self.transport: asyncio.DatagramTransport | None = None
        self._seq = random.randrange(1 << 16)
        self._ts = random.randrange(1 << 32)
        self._ssrc = random.randrange(1 << 32)
        self._burst_left = 0
        self._burst_sample = 0
        self._burst_sent: asyncio.Future[float] | None = None
        self._sender: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.host, 0))
        self.port = self.transport.get_extra_info("sockname")[1]

    def send_to(self, remote: tuple[str, int]) -> None:
        """Start the paced stream to ``remote`` (the far end's SDP address)."""
        self.remote = remote
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    def burst(self, frames: int) -> asyncio.Future[float]:
        """A tone burst of ``frames`` x 20 ms from the next packet; resolves to the
        monotonic time its first packet was sent."""
        self._burst_sent = asyncio.get_running_loop().create_future()
        self._burst_sample = 0
        self._burst_left = frames
        return self._burst_sent

    @property
    def bursting(self) -> bool:
        return self._burst_left > 0

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        if self.transport is not None:
            self.transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        now = time.monotonic()
        if len(data) < 12 or data[1] & 0x7F != PCMU:
            return  # RTCP, or a payload we did not offer
        self.received += 1
        csrc = data[0] & 0x0F
        payload = np.frombuffer(data[12 + 4 * csrc:], dtype=np.uint8)
        self.listener.on_frame(now, ULAW[payload], RATE)

    async def _send_loop(self) -> None:
        start = time.monotonic()
        n = 0
        while True:
            payload = SILENCE
            first_of_burst = False
            if self._burst_left > 0:
                t = (np.arange(SAMPLES) + self._burst_sample) / RATE
                payload = ulaw_encode(
                    (AMPLITUDE * np.sin(2 * math.pi * TONE_HZ * t)).astype(np.int16))
                first_of_burst = self._burst_sample == 0
                self._burst_sample += SAMPLES
                self._burst_left -= 1
            # No marker bit on a burst: to the far end this is one continuous stream.
            header = struct.pack("!BBHII", 0x80, PCMU, self._seq, self._ts, self._ssrc)
            assert self.transport is not None and self.remote is not None
            sent = time.monotonic()
            self.transport.sendto(header + payload, self.remote)
            if first_of_burst and self._burst_sent is not None and not self._burst_sent.done():
                self._burst_sent.set_result(sent)
            self._seq = (self._seq + 1) & 0xFFFF
            self._ts = (self._ts + SAMPLES) & 0xFFFFFFFF
            n += 1
            delay = start + n * SAMPLES / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
