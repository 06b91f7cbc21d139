"""The SIP leg's RTP under direct media (sip_bridge/rtp_leg.py), against a plain UDP
socket on loopback standing in for the far end's media address."""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
from collections.abc import AsyncIterator

import numpy as np
import pytest

from gateway.pcm import FRAME_BYTES
from sip_bridge import sdp
from sip_bridge.media_source import LATCH_AFTER
from sip_bridge.rtp_leg import PortRange, RtpLeg, dtmf_events
from tests.lab.sipp import ulaw_decode_table, ulaw_encode
from tests.lab.tone import tone_present, tone_samples
from webrtc import libopus, narrowband
from webrtc.rtp_header import rtp_fields


def tone(hz: float = 1000, level: int = 8000) -> bytes:
    t = np.arange(FRAME_BYTES // 2) / 16000
    return (level * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()


class FarEnd:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    async def receive(self, timeout: float = 2.0) -> bytes:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.sock_recv(self.sock, 2048), timeout)

    def send(self, port: int, seq: int, timestamp: int, payload: bytes, pt: int = 0) -> None:
        header = struct.pack("!BBHII", 0x80, pt, seq, timestamp, 0x1234)
        self.sock.sendto(header + payload, ("127.0.0.1", port))


@pytest.fixture
async def pair() -> AsyncIterator[tuple[RtpLeg, FarEnd]]:
    far = FarEnd()
    leg = RtpLeg(_bound())
    await leg.open(asyncio.get_running_loop())
    remote = sdp.RemoteAudio("127.0.0.1", far.port, ((0, sdp.CODECS["pcmu"]),), 101)
    leg.use(remote, sdp.CODECS["pcmu"], 0)
    try:
        yield leg, far
    finally:
        leg.close()
        far.sock.close()


def _bound(address: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    sock.setblocking(False)
    return sock


async def test_the_agents_audio_goes_out_as_pcmu_with_running_timestamps(
        pair: tuple[RtpLeg, FarEnd]) -> None:
    leg, far = pair
    leg.push(tone())
    leg.push(tone())
    first, second = await far.receive(), await far.receive()
    pt1, seq1, ts1, start, end = rtp_fields(first)
    pt2, seq2, ts2, _, _ = rtp_fields(second)
    assert (pt1, pt2) == (0, 0)
    assert end - start == 160
    assert ((seq2 - seq1) & 0xFFFF, (ts2 - ts1) & 0xFFFFFFFF) == (1, 160)


async def test_the_far_ends_audio_reaches_the_line_and_is_counted(
        pair: tuple[RtpLeg, FarEnd]) -> None:
    leg, far = pair
    woken = asyncio.Event()
    leg.listen(woken.set)
    far.send(leg.port, 10, 1600, b"\xff" * 160)
    far.send(leg.port, 12, 1920, b"\xff" * 160)  # 11 is lost
    await asyncio.wait_for(woken.wait(), 2)
    while leg.waiting < 2:
        await asyncio.sleep(0.005)
    assert [len(leg.pop() or b"") for _ in range(2)] == [FRAME_BYTES, FRAME_BYTES]
    counters = leg.counters()
    assert counters is not None
    assert (counters.received, counters.lost) == (2, 1)


async def test_packets_from_another_address_or_not_rtp_are_ignored(
        pair: tuple[RtpLeg, FarEnd]) -> None:
    leg, far = pair
    stranger = _bound("127.0.0.2")  # the far end's media address is 127.0.0.1
    try:
        stranger.sendto(b"\x80\x00" + bytes(170), ("127.0.0.1", leg.port))
        far.sock.sendto(b"\x00garbage", ("127.0.0.1", leg.port))
        far.send(leg.port, 1, 0, b"\xff" * 160)
        while leg.counters() is None:
            await asyncio.sleep(0.005)
        counters = leg.counters()
        assert counters is not None and counters.received == 1
    finally:
        stranger.close()


async def test_a_far_end_behind_nat_is_heard_and_answered_where_it_really_is(
        pair: tuple[RtpLeg, FarEnd]) -> None:
    leg, _far = pair  # its SDP names the far end's socket on 127.0.0.1
    natted = _bound("127.0.0.2")
    try:
        for seq in range(LATCH_AFTER):
            header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1234)
            natted.sendto(header + b"\xff" * 160, ("127.0.0.1", leg.port))
        while leg.counters() is None:
            await asyncio.sleep(0.005)
        leg.push(tone())  # ...and our audio now goes where its packets come from
        loop = asyncio.get_running_loop()
        packet, source = await asyncio.wait_for(loop.sock_recvfrom(natted, 2048), 2)
        assert source == ("127.0.0.1", leg.port) and len(packet) == 12 + 160
        counters = leg.counters()
        assert counters is not None and counters.received == 1  # the probation's last
    finally:
        natted.close()


async def test_dtmf_goes_out_as_rfc4733_events(pair: tuple[RtpLeg, FarEnd]) -> None:
    leg, far = pair
    sending = asyncio.create_task(leg.send_dtmf("5"))
    packets = [(*rtp_fields(p), p) for p in [await far.receive() for _ in range(8)]]
    await sending
    assert {p[0] for p in packets} == {101}
    assert packets[0][5][1] & 0x80  # marker on the first
    events = [struct.unpack("!BBH", p[5][p[3]:p[4]]) for p in packets]
    assert {e[0] for e in events} == {5}
    assert [bool(e[1] & 0x80) for e in events][-3:] == [True, True, True]
    assert len({p[2] for p in packets}) == 1  # one timestamp for the whole event


async def test_dtmf_without_telephone_event_is_left_to_sip_info(
        pair: tuple[RtpLeg, FarEnd]) -> None:
    leg, far = pair
    leg.use(sdp.RemoteAudio("127.0.0.1", far.port, ((0, sdp.CODECS["pcmu"]),)),
            sdp.CODECS["pcmu"], 0)
    assert await leg.send_dtmf("1") is False


def test_dtmf_digits_are_checked() -> None:
    assert dtmf_events("09*#ad") == [0, 9, 10, 11, 12, 15]
    with pytest.raises(ValueError):
        dtmf_events("1x")


async def test_the_same_codec_is_relayed_as_it_is(pair: tuple[RtpLeg, FarEnd]) -> None:
    leg, far = pair
    relayed: list[tuple[bytes, int, int]] = []
    leg.relay_to(lambda *args: relayed.append(args), "audio/PCMU")
    assert leg.take_payload(b"\x11" * 160)
    packet = await far.receive()
    _, _, _, start, end = rtp_fields(packet)
    assert packet[start:end] == b"\x11" * 160
    far.send(leg.port, 1, 0, b"\x22" * 160)
    far.send(leg.port, 3, 320, b"\x33" * 160)  # one packet lost: 160 samples of gap
    while len(relayed) < 2:
        await asyncio.sleep(0.005)
    assert relayed == [(b"\x22" * 160, 0, 160), (b"\x33" * 160, 160, 160)]
    assert leg.waiting == 0  # nothing decoded
    leg.relay_to(lambda *args: None, "audio/PCMA")
    assert not leg.take_payload(b"\x11" * 160)


@pytest.mark.skipif(narrowband.library() is None, reason="no system libopus")
async def test_an_opus_browser_is_transcoded_straight_to_and_from_g711(
        pair: tuple[RtpLeg, FarEnd]) -> None:
    leg, far = pair
    lib = narrowband.library()
    assert lib is not None
    relayed: list[tuple[bytes, int, int]] = []
    leg.relay_to(lambda *args: relayed.append(args), "audio/opus")
    # The browser's Opus goes out as PCMU, 160 samples a packet, the tone kept.
    browser = libopus.Encoder(lib, 32000)
    for _ in range(25):
        assert leg.take_payload(browser.encode(tone()))
    sent = [(*rtp_fields(p), p) for p in [await far.receive() for _ in range(25)]]
    assert {s[0] for s in sent} == {0}
    assert {(b[2] - a[2]) & 0xFFFFFFFF for a, b in itertools.pairwise(sent)} == {160}
    pcmu = b"".join(p[s:e] for _pt, _seq, _ts, s, e, p in sent[5:])
    assert tone_present(ulaw_decode_table()[np.frombuffer(pcmu, dtype=np.uint8)], 8000, 1000)
    # The far end's PCMU reaches the browser as Opus, a lost packet as a 20 ms gap.
    g711 = ulaw_encode(tone_samples(1000, 0.5, 8000))
    for index in range(25):
        if index != 10:
            far.send(leg.port, index, index * 160, g711[index * 160:(index + 1) * 160])
    while len(relayed) < 24:
        await asyncio.sleep(0.005)
    assert [gap for _p, gap, _s in relayed] == [0] * 10 + [960] + [0] * 13
    assert {samples for _p, _g, samples in relayed} == {960}
    decoder = libopus.Decoder(lib, rate=48000)
    heard = np.frombuffer(b"".join(decoder.decode(p) for p, _g, _s in relayed), "<i2")
    assert tone_present(heard[9600:], 48000, 1000)
    assert leg.waiting == 0  # nothing went through the worker's 16 kHz audio


def test_ports_come_from_the_range_and_busy_ones_are_skipped() -> None:
    probe = _bound()
    base = probe.getsockname()[1] & ~1
    probe.close()
    ports = PortRange("127.0.0.1", base, 6)
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        busy.bind(("127.0.0.1", base))
    except OSError:
        busy.close()
        pytest.skip("the probed port was taken meanwhile")
    taken = []
    try:
        taken = [ports.bind(), ports.bind()]
        assert sorted(s.getsockname()[1] for s in taken) == [base + 2, base + 4]
        with pytest.raises(OSError):
            ports.bind()
    finally:
        busy.close()
        for sock in taken:
            sock.close()
