"""The capacity benchmark's lean load client (bench/load_client.py) on loopback, no
gateway: a stock aiortc peer takes its hand-made RTP as any other (routed, decrypted,
decoded, the tone in it), and what it meters is real: the echoed tone counts as heard,
an echo of silence counts every frame as silent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import av
import pytest

from bench.client_cost import EchoPeer, gateway_tone
from bench.doze import Doze
from bench.lean_rtp import OPUS
from bench.load_client import CLOCK, Client, Ticker, encoded_tone
from bench.peers import tone_amplitude
from webrtc.ice import restrict_host_addresses
from webrtc.libopus import LIBOPUS, Encoder

pytestmark = pytest.mark.skipif(OPUS is None, reason="libopus not installed")


async def _until(ready: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    restrict_host_addresses(["127.0.0.1"])
    tones = {codec: encoded_tone(codec) for codec in CLOCK}
    lean = Client(tones, 0.06, Ticker(0.06))
    yield lean
    await lean.close()


@pytest.mark.parametrize("codec", ["opus", "pcmu"])
async def test_a_stock_aiortc_peer_takes_the_lean_clients_audio(client: Client,
                                                                codec: str) -> None:
    peer = EchoPeer(None)
    frames: list[av.AudioFrame] = []
    try:
        answer = await peer.answer(await client.offer(), codec)
        assert await client.accept(answer) == codec
        assert client.lean is not None  # the lean path took over

        track = peer.pc.getTransceivers()[0].receiver.track

        async def pull() -> None:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                frames.append(frame)

        puller = asyncio.ensure_future(pull())
        await _until(lambda: len(frames) >= 50)
        puller.cancel()
        stats = list((await peer.pc.getStats()).values())
        inbound = [s for s in stats if s.type == "inbound-rtp"]
        assert inbound and inbound[0].packetsReceived >= 50
        assert inbound[0].packetsLost == 0
        frame = frames[-1]
        pcm = frame.to_ndarray().reshape(-1)[:: len(frame.layout.channels)] / 32768
        assert tone_amplitude(pcm, frame.sample_rate, 1000.0) > 0.1
    finally:
        await peer.pc.close()


async def _metered(client: Client, payloads: list[bytes] | None, codec: str,
                   frames: int = 50) -> dict[str, int]:
    peer = EchoPeer(payloads)
    try:
        answer = await peer.answer(await client.offer(), codec)
        await asyncio.gather(client.accept(answer), peer.connected())
        meter = client.buffer.meter
        assert meter is not None
        await _until(lambda: len(meter._frames) >= frames)
        return client.take()
    finally:
        await peer.pc.close()


@pytest.mark.parametrize("codec", ["opus", "pcmu"])
async def test_the_echoed_tone_is_heard_in_every_frame(client: Client, codec: str) -> None:
    got = await _metered(client, gateway_tone() if codec == "opus" else None, codec)
    assert got["received"] >= 50 and got["sent"] >= 50
    assert got["expected"] == got["received"]
    # A fresh decoder may fade the first Opus frame in.
    assert got["silent"] <= (1 if codec == "opus" else 0)


async def test_an_echo_of_silence_counts_every_frame_lost(client: Client) -> None:
    assert LIBOPUS is not None
    encoder = Encoder(LIBOPUS, 32000)
    silence = [encoder.encode(bytes(640)) for _ in range(50)]
    got = await _metered(client, silence, "opus")
    assert got["received"] >= 50 and got["silent"] == got["received"]



async def test_the_tone_is_heard_on_a_dozing_loop(client: Client) -> None:
    # The capacity benchmark's --client-loop dozing: the loop sleeps out every 10 ms tick
    # (bench/doze.py), packets wait in the sockets, and every frame still comes through.
    doze = Doze(0.01)
    doze.start()
    try:
        got = await _metered(client, None, "pcmu", frames=100)
    finally:
        doze.stop()
    assert got["received"] >= 100 and got["expected"] == got["received"]
    assert got["silent"] == 0 and got["late"] == 0
