"""What one load client costs per call, without the gateway: ``python -m bench.client_cost``.

Starts load-client processes (``bench/load_client.py``) side by side, one per variant
(the stock aiortc path on asyncio, the lean path on asyncio, the lean path on uvloop), each
holding ``--clients`` peers, and connects every peer to an aiortc echo peer held in this
process: it answers the offer like a browser's far end (aiortc: ICE, DTLS, SRTP) and sends
back, re-protected under its own SSRC, every RTP packet it receives (for Opus with the
payload swapped for the tone as the gateway encodes it: ``webrtc.libopus`` at 16 kHz,
32 kbit/s, so the clients decode what they decode behind the gateway). Each variant's
process then gets the same 20 ms audio both ways as behind the gateway. After a warm-up,
the CPU time each process spends over ``--seconds`` (from /proc) is divided by its
clients, next to the frames its clients counted (expected, received, late, lost, silent:
all received frames must carry the tone, or the check is broken).

The echo peer's own cost is printed too but is no client's: it runs in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from typing import Any

import numpy as np
import pylibsrtp
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bench.call_cost import Peers
from bench.lean_rtp import is_rtcp, rtp_fields
from bench.load_client import AMPLITUDE, TONE_HZ
from bench.procstat import CLK_TCK
from webrtc.encoding import OPUS_BITRATE
from webrtc.ice import restrict_host_addresses
from webrtc.libopus import LIBOPUS, Encoder

VARIANTS = {
    "stock/asyncio": ("--stock", "--loop", "asyncio"),
    "lean/asyncio": ("--loop", "asyncio"),
    "lean/uvloop": ("--loop", "uvloop"),
}


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def gateway_tone(frames: int = 50) -> list[bytes]:
    """The tone as the gateway's encoder sends it to browsers (16 kHz, libopus)."""
    if LIBOPUS is None:
        raise RuntimeError("libopus not found (Debian: libopus0)")
    encoder = Encoder(LIBOPUS, OPUS_BITRATE)
    t = np.arange(frames * 320) / 16000
    pcm = (AMPLITUDE * np.sin(2 * math.pi * TONE_HZ * t)).astype("<i2").tobytes()
    return [encoder.encode(pcm[640 * i: 640 * (i + 1)]) for i in range(frames)]


class SilentTrack(MediaStreamTrack):
    """A sender that never gives a frame: the echo goes out by hand."""

    kind = "audio"

    async def recv(self) -> Any:
        await asyncio.Event().wait()
        raise MediaStreamError


class EchoPeer:
    """The far end of one client: answers, then echoes its RTP at the SRTP level."""

    def __init__(self, payloads: list[bytes] | None) -> None:
        self.pc = RTCPeerConnection()
        self.payloads = payloads  # None: echo the payload as received
        self.echoed = 0

    async def answer(self, offer: str, codec: str) -> str:
        transceiver = self.pc.addTransceiver(SilentTrack(), direction="sendrecv")
        caps = RTCRtpSender.getCapabilities("audio")
        transceiver.setCodecPreferences(
            [c for c in caps.codecs if c.mimeType.lower() == f"audio/{codec}"])
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def connected(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":  # state, polled: no event needed
            if time.monotonic() > deadline or self.pc.connectionState in ("failed", "closed"):
                raise RuntimeError(f"echo peer {self.pc.connectionState}")
            await asyncio.sleep(0.05)
        sender = self.pc.getTransceivers()[0].sender
        dtls = sender.transport
        connection = dtls.transport._connection
        original = connection.data_received
        ssrc = sender._ssrc.to_bytes(4, "big")

        def echo(data: bytes, component: int) -> None:
            if 127 < data[0] < 192 and not is_rtcp(data):
                try:
                    plain = dtls._rx_srtp.unprotect(data)
                except pylibsrtp.Error:
                    return
                pair = connection._nominated.get(1)
                if pair is not None:
                    if self.payloads is None:
                        out = plain[:8] + ssrc + plain[12:]
                    else:  # the client's header (no CSRC or padding), this payload
                        _, seq, _, start, _ = rtp_fields(plain)
                        out = (plain[:8] + ssrc + plain[12:start]
                               + self.payloads[seq % len(self.payloads)])
                    pair.protocol.transport.sendto(dtls._tx_srtp.protect(out),
                                                   pair.remote_addr)
                    self.echoed += 1
                return
            original(data, component)

        vars(connection)["data_received"] = echo


async def measure(args: argparse.Namespace) -> None:
    variants = {name: VARIANTS[name] for name in args.variants}
    procs = {name: Peers(("bench.load_client", *flags)) for name, flags in variants.items()}
    await asyncio.gather(*(p.start() for p in procs.values()))
    echoes: list[EchoPeer] = []
    payloads = gateway_tone() if args.codec == "opus" else None
    try:
        for k in range(args.clients):
            for proc in procs.values():
                await proc.call("new", k=k)
                offer = (await proc.call("offer", k=k))["sdp"]
                echo = EchoPeer(payloads)
                echoes.append(echo)
                answer = await echo.answer(offer, args.codec)
                await asyncio.gather(proc.call("accept", k=k, sdp=answer), echo.connected())
        await asyncio.sleep(args.warmup)  # a warm-up, not a wait for state
        ks = list(range(args.clients))
        for proc in procs.values():
            await proc.call("take", clients=ks)
        me = os.getpid()
        before = {name: cpu_split(p.pid) for name, p in procs.items()}
        me_before, t0 = sum(cpu_split(me)), time.monotonic()
        await asyncio.sleep(args.seconds)  # the measuring window
        elapsed = time.monotonic() - t0
        after = {name: cpu_split(p.pid) for name, p in procs.items()}
        me_after = sum(cpu_split(me))
        load = os.getloadavg()
        print(f"{args.clients} clients per variant, {args.codec}, {elapsed:.1f} s,"
              f" load average {load[0]:.2f} {load[1]:.2f}")
        print(f"{'variant':<15} {'% core/call':>11} {'(user':>6} {'sys)':>5}"
              f" {'expected':>9} {'received':>9} {'missing':>8} {'silent':>7} {'late':>5}"
              f" {'sent':>7} {'send_late':>9}")
        for name, proc in procs.items():
            got = await proc.call("take", clients=ks)
            total = {key: sum(int(v[key]) for v in got.values())
                     for key in ("expected", "received", "missing", "silent", "late", "sent",
                                 "send_late")}
            user, sys_ = (100 * (a - b) / elapsed / args.clients
                          for a, b in zip(after[name], before[name], strict=True))
            print(f"{name:<15} {user + sys_:>11.2f} {user:>6.2f} {sys_:>5.2f}"
                  f" {total['expected']:>9} {total['received']:>9}"
                  f" {total['missing']:>8} {total['silent']:>7} {total['late']:>5}"
                  f" {total['sent']:>7} {total['send_late']:>9}")
        print(f"echo peers (this process, {len(echoes)} peers):"
              f" {100 * (me_after - me_before) / elapsed:.1f} % of a core")
    finally:
        for proc in procs.values():
            await proc.close()
        for echo in echoes:
            await echo.pc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4, help="peers per variant")
    parser.add_argument("--codec", choices=("opus", "pcmu"), default="opus")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS),
                        default=list(VARIANTS))
    args = parser.parse_args()
    restrict_host_addresses(["127.0.0.1"])
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
