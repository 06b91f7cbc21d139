"""The line's fast RTP path (webrtc/rtp_fast_path.py) against a stock aiortc peer on
loopback, and the same checks with the kill switch on (aiortc's own path): audio both
ways, packets as aiortc writes them, sequence numbers running on across calls while
timestamps jump the pause, statistics and RTCP reports right on both sides, and nothing
left behind after close."""

from __future__ import annotations

import asyncio
import fractions
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable

import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc import clock as aiortc_clock
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from gateway.pcm import FRAME_BYTES, SAMPLE_RATE, SAMPLES_PER_FRAME
from webrtc import rtp_fast_path
from webrtc.ice import restrict_host_addresses
from webrtc.line import Line

TONE_HZ = 1000
CLOCK = {"opus": 48000, "pcmu": 8000}


async def _until(ready: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


def _tone(rate: int, start: int, samples: int) -> np.ndarray:
    t = (start + np.arange(samples)) / rate
    return (8000 * np.sin(2 * math.pi * TONE_HZ * t)).astype("<i2")


def _has_tone(pcm: bytes, rate: int = SAMPLE_RATE) -> bool:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    basis = np.exp(-2j * np.pi * TONE_HZ * np.arange(len(x)) / rate)
    return bool(2 * abs(np.dot(x, basis)) / len(x) > 2000)


class BrowserMic(MediaStreamTrack):
    """The browser's microphone: a tone, paced at 20 ms, encoded by aiortc."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        self._start = self._start or now
        due = self._start + self._n * 0.02
        if due > now:
            await asyncio.sleep(due - now)
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(_tone(48000, self._n * 960, 960).tobytes())
        frame.sample_rate = 48000
        frame.time_base = fractions.Fraction(1, 48000)
        frame.pts = self._n * 960
        self._n += 1
        return frame


class Recorder:
    """Takes the browser receiver's jitter-buffer place: keeps every packet's header
    fields and payload."""

    capacity = 1

    def __init__(self) -> None:
        self.packets: list[tuple[int, int, int, str | None, bytes]] = []

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self.packets.append((packet.sequence_number, packet.timestamp, packet.marker,
                             packet.extensions.mid, packet.payload))
        return False, None


class Leg:
    """A call's far side: a tone toward the browser whenever asked (as concealment
    would give it), and what the browser said, kept."""

    def __init__(self) -> None:
        self.heard: list[bytes] = []
        self._n = 0

    def push(self, pcm: bytes) -> None:
        self.heard.append(pcm)

    def pop(self) -> bytes | None:
        pcm = _tone(SAMPLE_RATE, self._n * SAMPLES_PER_FRAME, SAMPLES_PER_FRAME).tobytes()
        self._n += 1
        return pcm

    @property
    def waiting(self) -> int:
        return 0

    def listen(self, wake: Callable[[], None] | None,
               record: Callable[[str, float], None] | None = None) -> None:
        pass


class Pair:
    def __init__(self, line: Line, browser: RTCPeerConnection, recorder: Recorder) -> None:
        self.line = line
        self.browser = browser
        self.recorder = recorder

    async def stats(self, kind: str) -> list[object]:
        report = await self.browser.getStats()
        return [s for s in report.values() if s.type == kind]


@pytest.fixture(params=["fast", "aiortc"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "aiortc":
        monkeypatch.setenv(rtp_fast_path.KILL_SWITCH, "1")
    else:
        monkeypatch.delenv(rtp_fast_path.KILL_SWITCH, raising=False)
    return str(request.param)


@pytest.fixture(params=["opus", "pcmu"])
async def pair(request: pytest.FixtureRequest, path: str) -> AsyncIterator[Pair]:
    restrict_host_addresses(["127.0.0.1"])
    codec = str(request.param)
    browser = RTCPeerConnection()
    browser.addTransceiver(BrowserMic(), direction="sendrecv")
    recorder = Recorder()
    # aiortc offers no hook for received RTP; its jitter buffer is private state.
    setattr(browser.getTransceivers()[0].receiver,  # noqa: B010
            "_RTCRtpReceiver__jitter_buffer", recorder)
    line = Line(1, (codec,), [], lambda agent, state: None)
    try:
        await browser.setLocalDescription(await browser.createOffer())
        answer = await line.accept_offer(browser.localDescription.sdp)
        await browser.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await _until(lambda: line.state == "connected")
        yield Pair(line, browser, recorder)
    finally:
        await line.close()
        await browser.close()
    # Nothing left running: no hooks, no send loop, no aiortc tasks.
    others = {asyncio.current_task()}
    await _until(lambda: not [t for t in asyncio.all_tasks() if t not in others])


async def test_audio_both_ways_as_aiortc_sends_it_and_counted_right(pair: Pair,
                                                                    path: str) -> None:
    line, recorder = pair.line, pair.recorder
    fast = line._fast_path
    assert (fast is not None and fast.running) == (path == "fast")
    codec = line._pc.getTransceivers()[0]._codecs[0]
    step = CLOCK[codec.mimeType.split("/")[1].lower()] // 50
    mid = line._pc.getTransceivers()[0].mid

    leg = Leg()
    line.attach(leg)
    await _until(lambda: len(recorder.packets) >= 25 and len(leg.heard) >= 25)
    assert all(len(f) == FRAME_BYTES for f in leg.heard)
    assert _has_tone(b"".join(leg.heard[-10:]))
    if fast is not None:  # the line's own receiving counted them, not aiortc's
        assert fast._stats is not None

    # Between calls the line is silent; the browser goes on talking.
    line.detach(leg)
    counters = await line.rtp_counters()
    assert counters is not None
    received = counters.received

    async def heard_more() -> bool:
        now = await line.rtp_counters()
        return now is not None and now.received >= received + 10

    while not await heard_more():
        await asyncio.sleep(0.02)
    paused_at = len(recorder.packets)
    leg2 = Leg()
    line.attach(leg2)
    await _until(lambda: len(recorder.packets) >= paused_at + 25 and len(leg2.heard) >= 10)
    line.detach(leg2)

    sent = None

    async def all_arrived() -> bool:
        nonlocal sent
        now = await line.rtp_counters()
        sent = now.sent if now is not None else None
        return sent == len(recorder.packets)

    deadline = time.monotonic() + 10
    while not await all_arrived():
        assert time.monotonic() < deadline, (sent, len(recorder.packets))
        await asyncio.sleep(0.02)

    packets = recorder.packets
    seqs = [p[0] for p in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    stamps = [p[1] for p in packets]
    steps = [(b - a) & 0xFFFFFFFF for a, b in itertools.pairwise(stamps)]
    pause = paused_at - 1  # the first call's last packet
    assert steps[pause] > step and steps[pause] % step == 0  # the pause jumped over
    assert {s for i, s in enumerate(steps) if i != pause} == {step}
    assert {p[2] for p in packets} == {1}  # marker, as aiortc sets it
    assert {p[3] for p in packets} == {mid}  # the sdes:mid extension
    assert all(p[4] for p in packets)

    # The browser's statistics and its view of the line's reports. On aiortc's path the
    # track may still send one frame of silence after the detach (at its deadline), so
    # the count is compared once both agree, not at one instant.
    async def counted() -> bool:
        inbound = await pair.stats("inbound-rtp")
        return bool(inbound) and inbound[0].packetsReceived == len(packets)  # type: ignore[attr-defined]

    deadline = time.monotonic() + 10
    while not await counted():
        assert time.monotonic() < deadline, "the browser's count never matched what it got"
        await asyncio.sleep(0.02)

    async def reports() -> bool:
        remote_out = await pair.stats("remote-outbound-rtp")  # the line's sender reports
        remote_in = await pair.stats("remote-inbound-rtp")  # the line's receiver reports
        now = await line.rtp_counters()
        return (bool(remote_out) and remote_out[0].packetsSent == len(packets)  # type: ignore[attr-defined]
                and bool(remote_in) and now is not None and now.peer_lost is not None)

    deadline = time.monotonic() + 15
    while not await reports():
        assert time.monotonic() < deadline, "no RTCP reports both ways"
        await asyncio.sleep(0.05)
    remote_in = await pair.stats("remote-inbound-rtp")
    assert remote_in[0].packetsLost == 0  # type: ignore[attr-defined]
    counters = await line.rtp_counters()
    assert counters is not None
    assert counters.lost == 0 and counters.peer_lost == 0
    assert counters.received >= received + 10
    assert 0 <= counters.jitter_ms < 100


async def test_closing_gives_the_sockets_back_to_aioice(pair: Pair, path: str) -> None:
    fast = pair.line._fast_path
    if fast is None:
        pytest.skip("aiortc moves the packets")
    connection = pair.line._pc.getTransceivers()[0].sender.transport.transport._connection
    protocols = list(connection._protocols)
    assert protocols and all("datagram_received" in vars(p) for p in protocols)
    await fast.close()
    assert not any("datagram_received" in vars(p) for p in protocols)
    assert not fast.running


def test_the_ntp_clock_reads_what_aiortc_s_reads() -> None:
    ours = rtp_fast_path.ntp_now()
    theirs = aiortc_clock.current_ntp_time()
    # Read one after the other: a few ms apart at most, in units of 2**-32 s.
    assert abs(theirs - ours) < 2**32 // 100
    assert ours >> 32 > 3_900_000_000  # seconds since 1900: after 2023
