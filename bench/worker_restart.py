"""How fast a line worker killed with SIGKILL mid-call comes back.

    python -m bench.worker_restart [--kills 20] [--json PATH]

The lab: Kamailio as the registrar, one SIPp echo line (many calls, ``-rtp_echo``), a
``Lines`` gateway with real line workers, and one agent whose browser is an aiortc peer
in this process (``tests/support/gateway.Agent``). Each round the agent is in a call to
the echo line and hears its own tone; then its worker is sent SIGKILL and we time, from
the kill:

- **told**: the agent's session gets the call ``ended`` (``interrupted``) and the line
  ``registering`` (``worker_restarted``) events;
- **registered at Kamailio**: Kamailio's ``200 OK`` to the new worker's REGISTER, seen
  on the loopback wire (a raw ``AF_PACKET`` socket on ``lo``, stamped on arrival in a
  thread of this process; root only — without it the column stays empty);
- **registered, agent told**: the line ``registered`` event in the agent's session.

Then the tab opens a new line (a new RTCPeerConnection, as the softphone does on
``line_reset``), the next call is set up and heard, and the next round starts.

Baseline in the same run: a bare pjsua2 phone process (``tests/lab/phone.py``) started
and registered with the same Kamailio, from the process start to the 200 — what
bringing up pjsua2 and registering costs with no Headset code.

p50/p95 per step; ``uptime`` load before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import struct
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench.capacity import (
    ECHO_NUMBER,
    EchoLine,
    autogroup,
    capacity_settings,
    load_average,
    set_niceness,
)
from bench.step_times import ms, print_steps, save
from crm.db import open_database
from crm.secret_key import load_or_create_key
from gateway import signalling
from gateway.lines import Lines
from tests.lab.kamailio import Kamailio
from tests.lab.phone import Phone
from tests.support.gateway import Agent, make_agent_user
from tests.support.rtc_client import RtcClient
from webrtc.ice import restrict_host_addresses

Json = dict[str, Any]
EXT, PW = "4001", "pw-4001-restart"
PHONE_EXT, PHONE_PW = "4999", "pw-4999-restart"
GOAL_S = 3.0
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


class RegisterWatch:
    """Kamailio's 200 OKs to REGISTERs on the loopback wire: (monotonic time, port the
    answer went to). Root only; ``available`` says whether it could listen."""

    def __init__(self, registrar_port: int) -> None:
        self.registrar_port = registrar_port
        self.seen: list[tuple[float, int]] = []
        self.available = False
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = False

    def start(self) -> None:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            sock.bind(("lo", 0))
        except (PermissionError, OSError, AttributeError):
            return
        sock.settimeout(0.2)
        self._sock = sock
        self.available = True
        self._thread = threading.Thread(target=self._run, name="register-watch",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stop:
            try:
                frame, address = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            at = time.monotonic()
            # On lo every packet shows twice: as sent and as received; keep one.
            if address[2] == PACKET_OUTGOING or len(frame) < 42:
                continue
            ip = frame[14:]
            if ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
                continue
            header = (ip[0] & 0x0F) * 4
            src, dst = struct.unpack("!HH", ip[header:header + 4])
            payload = ip[header + 8:]
            if (src == self.registrar_port and payload.startswith(b"SIP/2.0 200")
                    and b" REGISTER\r\n" in payload):
                self.seen.append((at, dst))

    def first_after(self, t: float, port: int) -> float | None:
        return next((at for at, dst in list(self.seen) if at >= t and dst == port), None)

    def close(self) -> None:
        self._stop = True
        if self._thread is not None:
            self._thread.join(2)
        if self._sock is not None:
            self._sock.close()


class StampedAgent(Agent):
    """An agent whose events carry the monotonic time they reached the session."""

    async def _read(self) -> None:
        while (text := await self.session.outbox.get()) is not None:
            event = json.loads(text)
            event["_at"] = time.monotonic()
            self.events.append(event)
            self._changed.set()


@contextlib.asynccontextmanager
async def rig(tmp: Path) -> AsyncIterator[tuple[Lines, StampedAgent, Kamailio, int]]:
    echo = EchoLine(4)
    echo.start()
    try:
        with Kamailio(users={EXT: PW, PHONE_EXT: PHONE_PW},
                      routes={ECHO_NUMBER: echo.hostport}) as kamailio:
            settings = capacity_settings(tmp, kamailio.hostport, "opus", 2, 2)
            db = await open_database(settings.database_path)
            box = load_or_create_key(tmp)
            lines = Lines(settings, db, box, lambda lang, key: key)
            await lines.start()
            agent: StampedAgent | None = None
            try:
                user = await make_agent_user(db, box, "restart", EXT, PW)
                agent = StampedAgent(lines, user)
                yield lines, agent, kamailio, settings.workers.sip_ports[0]
            finally:
                if agent is not None:
                    await agent.close()
                await lines.close()
                await db.close()
    finally:
        echo.terminate()


async def in_call(agent: StampedAgent) -> str:
    mark = len(agent.events)
    call_id = await agent.dial(ECHO_NUMBER)
    await agent.wait_call("connected", since=mark, timeout=15)
    if not await agent.rtc.wait_hears(1000, timeout=10):
        raise RuntimeError("the agent does not hear the echo")
    return call_id


async def one_kill(lines: Lines, agent: StampedAgent, watch: RegisterWatch,
                   sip_port_low: int) -> Json:
    call_id = await in_call(agent)
    worker = lines.supervisor.worker_of(agent.user.id)
    assert worker is not None
    old_pid = worker.pid
    mark = len(agent.events)
    killed = time.monotonic()
    os.kill(old_pid, signal.SIGKILL)  # a worker this benchmark's gateway started

    ended = await agent.wait_event(
        lambda e: e["type"] == "call" and e["call_id"] == call_id and e["state"] == "ended",
        since=mark, timeout=30)
    told = await agent.wait_event(
        lambda e: e["type"] == "line" and e.get("reason") == "worker_restarted",
        since=mark, timeout=30)
    registered = await agent.wait_line("registered", since=mark, timeout=30)
    new = lines.supervisor.worker_of(agent.user.id)
    if new is None or new.pid == old_pid:
        raise RuntimeError("the worker was not replaced")
    sip_port = sip_port_low + new.worker_id
    wire = watch.first_after(killed, sip_port) if watch.available else None
    result = {
        "call_ended_told_s": ended["_at"] - killed,
        "ended_reason": ended.get("reason"),
        "worker_restarted_told_s": told["_at"] - killed,
        "registered_at_kamailio_s": None if wire is None else wire - killed,
        "registered_told_s": registered["_at"] - killed,
    }
    # The tab's line went with the old worker: a new RTCPeerConnection, as on line_reset.
    await agent.rtc.close()
    agent.rtc = RtcClient(1000)
    await agent.open_line()
    second = await in_call(agent)
    result["call_after_restart"] = "heard"
    mark = len(agent.events)
    await agent.send(signalling.Hangup(call_id=second))
    await agent.wait_event(lambda e: e["type"] == "call" and e["call_id"] == second
                           and e["state"] == "ended", since=mark, timeout=15)
    return result


async def baseline(kamailio: Kamailio, count: int) -> Json:
    """A fresh pjsua2 phone process: start -> REGISTER answered 200."""
    times: list[float] = []
    for _ in range(count):
        t0 = time.monotonic()
        phone = Phone("restart-baseline", tone_hz=0)
        await asyncio.to_thread(phone.start)
        try:
            code = await asyncio.to_thread(phone.register, PHONE_EXT, PHONE_PW,
                                           kamailio.hostport, 10.0)
            if code != 200:
                raise RuntimeError(f"baseline phone registration: {code}")
            times.append(time.monotonic() - t0)
        finally:
            await asyncio.to_thread(phone.close)
    return {"start_to_registered_s": times}


async def run(args: argparse.Namespace) -> Json:
    restrict_host_addresses(["127.0.0.1"])
    results: Json = {"config": {"kills": args.kills, "cpus": os.cpu_count(),
                                "python": platform.python_version(),
                                "load_start": load_average(), "autogroup": autogroup(),
                                "started": time.strftime("%Y-%m-%dT%H:%M:%S")}}
    rounds: list[Json] = []
    with tempfile.TemporaryDirectory(prefix="bench-restart-") as tmp:
        async with rig(Path(tmp)) as (lines, agent, kamailio, sip_low):
            watch = RegisterWatch(kamailio.port)
            watch.start()
            try:
                await agent.online()
                for i in range(args.kills):
                    r = await one_kill(lines, agent, watch, sip_low)
                    rounds.append(r)
                    wire = r["registered_at_kamailio_s"]
                    print(f"  kill {i + 1:2d}: told {1000 * r['worker_restarted_told_s']:6.0f} ms,"
                          f" registered at Kamailio "
                          f"{'-' if wire is None else round(1000 * wire)} ms, agent told "
                          f"registered {1000 * r['registered_told_s']:6.0f} ms", flush=True)
                results["wire_watch"] = watch.available
            finally:
                watch.close()
            results["baseline"] = await baseline(kamailio, args.baseline)
    results["rounds"] = rounds
    results["summary_ms"] = {
        key: ms([r[key] for r in rounds]) for key in (
            "call_ended_told_s", "worker_restarted_told_s", "registered_at_kamailio_s",
            "registered_told_s")}
    results["summary_ms"]["baseline_phone_start_to_registered_s"] = ms(
        results["baseline"]["start_to_registered_s"])
    results["config"]["load_end"] = load_average()
    return results


def print_table(results: Json) -> None:
    cfg = results["config"]
    s = results["summary_ms"]
    print(f"\nWorker killed with SIGKILL mid-call, {cfg['kills']} times ({cfg['cpus']} CPUs, "
          f"Python {cfg['python']}, {cfg['autogroup']}); load average at start "
          f"{cfg['load_start']}, "
          f"at end {cfg['load_end']}\n")
    print_steps("from the kill to ... (ms)", s, {
        "call_ended_told_s": "agent told: call ended (interrupted)",
        "worker_restarted_told_s": "agent told: line registering (worker_restarted)",
        "registered_at_kamailio_s": "REGISTER 200 from Kamailio on the wire",
        "registered_told_s": "agent told: line registered",
        "baseline_phone_start_to_registered_s": "baseline: bare pjsua2 phone start -> 200",
    })
    reg = s["registered_at_kamailio_s"].get("p95") or s["registered_told_s"].get("p95")
    if reg is not None:
        verdict = "met" if reg < 1000 * GOAL_S else "MISSED"
        print(f"\n  goal: restarted and re-registered in < {GOAL_S:g} s: p95 {reg} ms, {verdict}")
    base = s["baseline_phone_start_to_registered_s"].get("p50")
    if base and s["registered_told_s"].get("p50"):
        print(f"  kill -> registered, p50, as a ratio to the bare phone's start -> registered: "
              f"x{round(s['registered_told_s']['p50'] / base, 2)}")
    if not results.get("wire_watch"):
        print("  (no raw socket on lo: the Kamailio column needs root)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--baseline", type=int, default=5, help="bare phone starts")
    parser.add_argument("--nice", type=int, default=0,
                        help="niceness of the benchmark and its session (see bench.capacity)")
    parser.add_argument("--json", type=Path,
                        help="default: bench/results/worker-restart-TIME.json")
    args = parser.parse_args()
    set_niceness(args.nice)
    results = asyncio.run(run(args))
    print_table(results)
    save(results, args.json, "worker-restart")


if __name__ == "__main__":
    main()
