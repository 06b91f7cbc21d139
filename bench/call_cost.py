"""What a bridged call costs, measured against the lab: CPU, memory and round trip.

    python -m bench.call_cost [--calls N] [--seconds S] [--json out.json]

1. Headset end to end, once with Opus to the browser and once with PCMU end to end:
   Kamailio, N SIPp echo lines (``uas_echo``) behind routed numbers, a ``Lines``
   gateway with real line workers (as ``tests/integration/conftest.py`` builds it) and
   N agents whose aiortc peers live in a separate process (``bench/peers.py``). Each
   worker's CPU time and RSS are read from /proc: with agents registered but no line
   open, with lines open and no call, and with all N calls connected for S seconds.
2. Baselines in the same run, side by side: a bare aiortc peer pair (Opus, and PCMU)
   in one process, and one pjsua2 softphone (``tests/lab/phone.py``) in a call to a
   SIPp echo with PCMU.
3. Round trip of a tone burst, browser -> gateway -> echo -> browser, through the
   built-in echo number (no SIP) and through a SIPp ``-rtp_echo`` line, once with the
   client's stock aiortc jitter buffer (prefetch 4 = 80 ms, included in the number) and
   once with ``webrtc.jitter`` (release on arrival, as the gateway's own receiver).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bench.procstat import Usage, Window, pss_mib
from crm.db import open_database
from crm.secret_key import load_or_create_key
from gateway import signalling
from gateway.lines import Lines
from gateway.settings import CodecSettings, Settings
from tests.conftest import gateway_settings
from tests.lab.kamailio import Kamailio
from tests.lab.phone import Phone
from tests.lab.sipp import Sipp
from tests.support.gateway import TabSession, make_agent_user

REPO = Path(__file__).resolve().parents[1]
Event = dict[str, Any]
Json = dict[str, Any]


def echo_line() -> Sipp:
    # SIPp's -timeout is for its whole run: give it room for the longest phase.
    return Sipp("uas_echo", rtp_echo=True, timeout_s=600)


# -- the agents' peers, in their own process -------------------------------------------


class Peers:
    """The ``bench.peers serve`` process: one aiortc peer per agent (or another module
    that answers the same JSON-line commands, given as ``argv``)."""

    def __init__(self, argv: tuple[str, ...] = ("bench.peers", "serve")) -> None:
        self.argv = argv
        self.proc: asyncio.subprocess.Process | None = None
        self._replies: dict[int, asyncio.Future[Json]] = {}
        self._next = 0
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", *self.argv, cwd=REPO,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 20)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            msg = json.loads(line)
            future = self._replies.pop(msg["id"], None)
            if future is None or future.done():
                continue
            if msg["ok"]:
                future.set_result(msg["result"])
            else:
                future.set_exception(RuntimeError(msg["error"]))
        for future in self._replies.values():
            if not future.done():
                future.set_exception(EOFError("bench.peers exited"))

    async def call(self, cmd: str, timeout: float = 30, **args: Any) -> Json:
        assert self.proc is not None and self.proc.stdin is not None
        self._next += 1
        future: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._replies[self._next] = future
        self.proc.stdin.write((json.dumps({"id": self._next, "cmd": cmd, **args}) + "\n")
                              .encode())
        return await asyncio.wait_for(future, timeout)

    async def close(self) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()  # our own child, by its handle
            await self.proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


class BenchAgent(TabSession):
    """One agent's browser tab: a ``Lines`` session here, its aiortc peer in ``Peers``."""

    def __init__(self, lines: Lines, user: Any, peers: Peers, k: int) -> None:
        super().__init__(lines, user)
        self.peers = peers
        self.k = k
        self.codec = ""

    async def online(self) -> None:
        mark = len(self.events)
        await self.send(signalling.Online())
        await self.wait_event(lambda e: e["type"] == "line" and e["state"] == "registered",
                              since=mark, timeout=15)

    async def open_line(self, jitter: str) -> None:
        await self.peers.call("new", k=self.k, jitter=jitter)
        offer = await self.peers.call("offer", k=self.k)
        mark = len(self.events)
        await self.send(signalling.Offer(sdp=offer["sdp"]))
        answer = await self.wait_event(lambda e: e["type"] == "answer_sdp", since=mark,
                                       timeout=15)
        self.codec = negotiated_codec(answer["sdp"])
        await self.peers.call("accept", k=self.k, sdp=answer["sdp"])

    async def dial(self, target: str) -> str:
        mark = len(self.events)
        await self.send(signalling.Dial(target=target))
        event = await self.wait_event(
            lambda e: e["type"] == "error" or (e["type"] == "call" and e["state"] in (
                "connected", "ended")), since=mark, timeout=15)
        if event["type"] == "error" or event["state"] != "connected":
            raise RuntimeError(f"agent {self.k}: call to {target} failed: {event}")
        return str(event["call_id"])

    async def hangup(self, call_id: str) -> None:
        mark = len(self.events)
        await self.send(signalling.Hangup(call_id=call_id))
        await self.wait_event(lambda e: e["type"] == "call" and e["state"] == "ended",
                              since=mark, timeout=15)

    async def close(self) -> None:
        await self.close_session()
        with contextlib.suppress(KeyError, RuntimeError, EOFError):
            await self.peers.call("close", k=self.k)


def negotiated_codec(sdp: str) -> str:
    """The first codec of the answer's audio line, e.g. "opus/48000/2"."""
    m = re.search(r"^m=audio \S+ \S+ (\d+)", sdp, re.M)
    if m is None:
        return "?"
    r = re.search(rf"^a=rtpmap:{m.group(1)} (\S+)", sdp, re.M)
    return r.group(1) if r else "?"


# -- the lab and the gateway -----------------------------------------------------------


@contextlib.asynccontextmanager
async def lab(users: dict[str, str], numbers: list[str]) -> AsyncIterator[
        tuple[Kamailio, dict[str, Sipp]]]:
    lines = {number: echo_line() for number in numbers}
    try:
        for sipp in lines.values():
            sipp.start()
        kamailio = Kamailio(users=users, routes={n: s.hostport for n, s in lines.items()})
        with kamailio:
            yield kamailio, lines
    finally:
        for sipp in lines.values():
            sipp.terminate()


@contextlib.asynccontextmanager
async def gateway(tmp: Path, settings: Settings, peers: Peers, extensions: dict[str, str],
                  ) -> AsyncIterator[tuple[Lines, list[BenchAgent]]]:
    db = await open_database(settings.database_path)
    box = load_or_create_key(tmp)
    lines = Lines(settings, db, box, lambda lang, key: key)
    await lines.start()
    agents: list[BenchAgent] = []
    try:
        for k, (ext, password) in enumerate(extensions.items()):
            user = await make_agent_user(db, box, f"agent{k}", ext, password)
            agents.append(BenchAgent(lines, user, peers, k))
        yield lines, agents
    finally:
        for agent in agents:
            await agent.close()
        await lines.close()
        await db.close()


def worker_pids(lines: Lines) -> dict[str, int]:
    return {f"worker{w.worker_id}": w.pid for w in lines.supervisor.workers.values()}


async def measure(pids: dict[str, int], seconds: float) -> tuple[dict[str, Usage], float]:
    """CPU and RSS of ``pids`` over ``seconds``; also how busy the whole machine was."""
    window = Window(pids)
    window.start()
    await asyncio.sleep(seconds)  # the measuring window itself, not a readiness wait
    usage = await window.stop()
    return usage, window.machine_pct


def summarize(measured: tuple[dict[str, Usage], float], prefix: str = "worker") -> Json:
    usage, machine_pct = measured
    workers = [u for name, u in usage.items() if name.startswith(prefix)]
    return {
        "machine_busy_pct": round(machine_pct, 1),
        "cpu_pct_total": round(sum(u.cpu_pct for u in workers), 2),
        "cpu_pct_each": [round(u.cpu_pct, 2) for u in workers],
        "rss_mib_each": [round(u.rss_mean_mib, 1) for u in workers],
        "rss_mib_mean": round(statistics.fmean(u.rss_mean_mib for u in workers), 1)
        if workers else 0.0,
    }


async def headset_phase(codec: str, calls: int, seconds: float, agents_per_worker: int,
                        rtt_count: int, tmp: Path) -> Json:
    """One gateway with ``codec`` to the browser; N calls to SIPp echo lines."""
    extensions = {str(2001 + k): f"pw-{2001 + k}-bench" for k in range(calls)}
    numbers = [str(5551000 + k) for k in range(calls)]
    rtt_numbers = [str(5552000 + k) for k in range(2)] if rtt_count else []
    result: Json = {"codec_setting": codec, "calls": calls}
    async with lab(extensions, numbers + rtt_numbers) as (kamailio, _):
        settings = gateway_settings(tmp, kamailio.hostport, agents_per_worker)
        settings = dataclasses.replace(
            settings, codecs=CodecSettings(browser=(codec,), sip=settings.codecs.sip))
        peers = Peers()
        await peers.start()
        try:
            async with gateway(tmp, settings, peers, extensions) as (lines, agents):
                await asyncio.gather(*(a.online() for a in agents))
                pids = worker_pids(lines)
                result["workers"] = len(pids)
                result["registered_idle"] = summarize(await measure(pids, 2.0))
                # The first line jitter mode: agent 0 keeps aiortc's stock buffer, agent
                # 1 gets the release-on-arrival one (only the RTT part tells them apart).
                for a in agents:
                    await a.open_line("arrival" if a.k == 1 else "aiortc")
                result["browser_codec"] = agents[0].codec
                result["lines_open_idle"] = summarize(await measure(pids, 3.0))
                call_ids = await asyncio.gather(
                    *(a.dial(n) for a, n in zip(agents, numbers, strict=True)))
                # Audio flows once every client hears its own tone come back.
                await wait_all_hear(peers, calls)
                for a in agents:
                    await peers.call("stats", k=a.k)
                pids["main"] = os.getpid()
                pids["peers"] = peers.pid
                measured = await measure(pids, seconds)
                usage = measured[0]
                in_call = summarize(measured)
                in_call["main_pct"] = round(usage["main"].cpu_pct, 2)
                in_call["peers_process_pct"] = round(usage["peers"].cpu_pct, 2)
                in_call["threads"] = {name: thread_split(u, pid) for (name, u), pid in zip(
                    usage.items(), pids.values(), strict=True) if name.startswith("worker")}
                result["in_call"] = in_call
                result["memory"] = memory_per_agent(lines, len(agents))
                result["client_rx"] = [await peers.call("stats", k=a.k) for a in agents]
                result["cpu_pct_per_call"] = round(in_call["cpu_pct_total"] / calls, 2)
                result["cpu_pct_per_call_over_open_line"] = round(
                    (in_call["cpu_pct_total"] - result["lines_open_idle"]["cpu_pct_total"])
                    / calls, 2)
                await asyncio.gather(*(a.hangup(c) for a, c in zip(
                    agents, call_ids, strict=True)))
                if rtt_count:
                    result["rtt"] = await rtt_phase(agents[:2], peers, settings.echo_number,
                                                    rtt_numbers, rtt_count)
        finally:
            await peers.close()
    return result


def memory_per_agent(lines: Lines, agents: int) -> Json:
    """PSS of the workers and their launcher, and that total per online agent."""
    workers = [pss_mib(pid) for pid in worker_pids(lines).values()]
    launcher_pid = lines.supervisor.launcher_pid
    launcher = pss_mib(launcher_pid) if launcher_pid is not None else 0.0
    return {"worker_pss_mib_each": [round(w, 1) for w in workers],
            "launcher_pss_mib": round(launcher, 1),
            "pss_mib_per_agent": round((sum(workers) + launcher) / agents, 1)}


def thread_split(u: Usage, pid: int) -> Json:
    """CPU % of one core of the main thread and of the busiest other threads."""
    others = sorted(((100 * s / u.wall_s, tid) for tid, s in u.threads_s.items()
                     if tid != pid), reverse=True)
    return {"main": round(100 * u.threads_s.get(pid, 0.0) / u.wall_s, 2),
            "others": [round(p, 2) for p, _ in others if p >= 0.05]}


async def wait_all_hear(peers: Peers, calls: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    heard: set[int] = set()
    while len(heard) < calls:
        for k in range(calls):
            if k not in heard and (await peers.call("stats", k=k))["tone_frames"] >= 5:
                heard.add(k)
        if time.monotonic() > deadline:
            raise TimeoutError(f"only clients {sorted(heard)} hear their echo")
        await asyncio.sleep(0.1)  # polling interval


async def rtt_phase(agents: list[BenchAgent], peers: Peers, echo_number: str,
                    sip_numbers: list[str], count: int) -> Json:
    """Tone-burst round trips; agent 0 with aiortc's jitter buffer, agent 1 without."""
    out: Json = {}
    for path, targets in (("echo_number", [echo_number] * 2), ("sipp_echo", sip_numbers)):
        call_ids = await asyncio.gather(*(a.dial(t) for a, t in zip(
            agents, targets, strict=True)))
        results = await asyncio.gather(*(peers.call(
            "rtt", k=a.k, count=count, burst_frames=10, timeout=count * 4)
            for a in agents))
        await asyncio.gather(*(a.hangup(c) for a, c in zip(agents, call_ids, strict=True)))
        for a, r in zip(agents, results, strict=True):
            mode = "client_jb_aiortc" if a.k == 0 else "client_jb_arrival"
            out[f"{path}/{mode}"] = percentiles(r["ms"]) | {"misses": r["misses"]}
    return out


def percentiles(ms: list[float]) -> Json:
    if not ms:
        return {"n": 0}
    s = sorted(ms)

    def pick(q: float) -> float:
        return round(s[min(len(s) - 1, round(q * (len(s) - 1)))], 1)

    return {"n": len(s), "p50": pick(0.5), "p95": pick(0.95), "min": round(s[0], 1),
            "max": round(s[-1], 1)}


# -- baselines ---------------------------------------------------------------------------


class MeasuredPhone(Phone):
    """The lab's pjsua2 phone, with the PID of its process."""

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid


async def start_pair(codec: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.peers", "pair", "--codec", codec, cwd=REPO,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    if json.loads(line or b"{}").get("event") != "connected":
        raise RuntimeError(f"aiortc pair ({codec}) did not connect")
    return proc


async def stop_pair(proc: asyncio.subprocess.Process) -> Json:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"stop\n")
    proc.stdin.close()
    line = await asyncio.wait_for(proc.stdout.readline(), 10)
    await asyncio.wait_for(proc.wait(), 10)
    stats: Json = json.loads(line or b"{}")
    return stats


async def baselines(seconds: float) -> Json:
    """A bare aiortc pair (Opus and PCMU) and a pjsua2 call to SIPp, measured together."""
    number = "5553000"
    phone_user = {"2999": "pw-2999-bench"}
    out: Json = {}
    async with lab(phone_user, [number]) as (kamailio, _):
        phone = MeasuredPhone("baseline", tone_hz=1000)
        with phone:
            idle, _ = await measure({"phone": phone.pid}, 2.0)
            code = await asyncio.to_thread(phone.register, "2999", phone_user["2999"],
                                           kamailio.hostport)
            if code != 200:
                raise RuntimeError(f"baseline phone registration: {code}")
            await asyncio.to_thread(phone.call, f"sip:{number}@{kamailio.hostport}")
            await asyncio.to_thread(phone.wait_state, "CONFIRMED", 10)
            if not await asyncio.to_thread(phone.wait_hears, 1000, 5):
                raise RuntimeError("baseline phone does not hear its echo")
            pairs = {codec: await start_pair(codec) for codec in ("opus", "pcmu")}
            try:
                pids = {"phone": phone.pid} | {f"pair_{c}": p.pid for c, p in pairs.items()}
                usage, machine_pct = await measure(pids, seconds)
            finally:
                pair_stats = {c: await stop_pair(p) for c, p in pairs.items()}
            await asyncio.to_thread(phone.hangup)
            await asyncio.to_thread(phone.wait_state, "DISCONNECTED", 10)
    out["machine_busy_pct"] = round(machine_pct, 1)
    out["pjsua2_call"] = {"cpu_pct": round(usage["phone"].cpu_pct, 2),
                          "cpu_pct_idle_before_register": round(idle["phone"].cpu_pct, 2),
                          "rss_mib": round(usage["phone"].rss_mean_mib, 1)}
    for codec in ("opus", "pcmu"):
        u = usage[f"pair_{codec}"]
        out[f"aiortc_pair_{codec}"] = {
            "cpu_pct_process": round(u.cpu_pct, 2),
            "cpu_pct_per_peer": round(u.cpu_pct / 2, 2),
            "rss_mib": round(u.rss_mean_mib, 1),
            "rx": {k: v for k, v in pair_stats[codec].items() if k != "event"},
        }
    return out


# -- report ------------------------------------------------------------------------------


def ratios(results: Json) -> Json:
    base = results["baseline"]
    out: Json = {}
    for codec in ("opus", "pcmu"):
        h = results["headset"].get(codec)
        if h is None:
            continue
        ref = base[f"aiortc_pair_{codec}"]["cpu_pct_per_peer"] + base["pjsua2_call"]["cpu_pct"]
        out[codec] = {"baseline_pct": round(ref, 2),
                      "worker_pct_per_call": h["cpu_pct_per_call"],
                      "ratio": round(h["cpu_pct_per_call"] / ref, 2) if ref else None}
    return out


def print_table(results: Json) -> None:
    cfg = results["config"]
    print(f"\nHeadset call cost: {cfg['calls']} calls x {cfg['seconds']:.0f} s, "
          f"{cfg['agents_per_worker']} agents/worker, {cfg['cpus']} CPUs, {cfg['python']}")
    print("CPU is % of one core; RSS is MiB per worker process (mean over the window); PSS "
          "counts pages shared with the launcher once, split among the processes.\n")
    head = f"{'':34}" + "".join(f"{c:>14}" for c in results["headset"])
    print(head)

    def row(label: str, get: Callable[[Json], object]) -> None:
        cells = []
        for h in results["headset"].values():
            try:
                cells.append(f"{get(h)!s:>14}")
            except (KeyError, IndexError, TypeError):
                cells.append(f"{'-':>14}")
        print(f"{label:34}" + "".join(cells))

    row("browser codec negotiated", lambda h: h["browser_codec"])
    row("workers", lambda h: h["workers"])
    row("worker RSS, registered, no line", lambda h: h["registered_idle"]["rss_mib_mean"])
    row("worker RSS, lines open, no call", lambda h: h["lines_open_idle"]["rss_mib_mean"])
    row("worker RSS, in call", lambda h: h["in_call"]["rss_mib_mean"])
    row("worker PSS, in call", lambda h: h["memory"]["worker_pss_mib_each"][0])
    row("launcher PSS", lambda h: h["memory"]["launcher_pss_mib"])
    row("PSS per online agent, in call", lambda h: h["memory"]["pss_mib_per_agent"])
    row("workers CPU, registered, no line", lambda h: h["registered_idle"]["cpu_pct_total"])
    row("workers CPU, lines open, no call", lambda h: h["lines_open_idle"]["cpu_pct_total"])
    row("workers CPU, all calls up", lambda h: h["in_call"]["cpu_pct_total"])
    row("worker CPU per bridged call", lambda h: h["cpu_pct_per_call"])
    row("  of which above open line", lambda h: h["cpu_pct_per_call_over_open_line"])
    row("main process CPU (control)", lambda h: h["in_call"]["main_pct"])
    row("client peers process CPU", lambda h: h["in_call"]["peers_process_pct"])
    row("machine busy, all calls up", lambda h: h["in_call"]["machine_busy_pct"])
    row("client rx late gaps (>45 ms)", lambda h: sum(r["late"] for r in h["client_rx"]))
    row("client rx max gap ms", lambda h: max(r["max_gap_ms"] for r in h["client_rx"]))
    row("client rx frames w/o echo tone", lambda h: sum(
        r["frames"] - r["tone_frames"] for r in h["client_rx"]))
    for name, h in results["headset"].items():
        print(f"  {name} worker threads (main asyncio thread / others): " + "; ".join(
            f"{w}: {t['main']} / {t['others']}" for w, t in h["in_call"]["threads"].items()))

    base = results["baseline"]
    print(f"\nBaselines (measured concurrently, same window length; machine busy "
          f"{base['machine_busy_pct']} % of one core):")
    print(f"  aiortc pair, Opus:  {base['aiortc_pair_opus']['cpu_pct_per_peer']:6.2f} % per peer"
          f"  ({base['aiortc_pair_opus']['rss_mib']} MiB process)")
    print(f"  aiortc pair, PCMU:  {base['aiortc_pair_pcmu']['cpu_pct_per_peer']:6.2f} % per peer"
          f"  ({base['aiortc_pair_pcmu']['rss_mib']} MiB process)")
    print(f"  pjsua2 call (PCMU): {base['pjsua2_call']['cpu_pct']:6.2f} % "
          f"(idle before register {base['pjsua2_call']['cpu_pct_idle_before_register']} %, "
          f"{base['pjsua2_call']['rss_mib']} MiB)")
    for codec, r in results["ratios"].items():
        print(f"  {codec}: worker per call {r['worker_pct_per_call']} % / (aiortc peer + "
              f"pjsua2 call = {r['baseline_pct']} %) = x{r['ratio']}")

    rtt = results["headset"].get("opus", {}).get("rtt")
    if rtt:
        print("\nRound trip of a tone onset, client -> gateway -> echo -> client "
              "(Opus to the browser), ms:")
        print(f"  {'path / client jitter buffer':44}{'p50':>8}{'p95':>8}{'min':>8}"
              f"{'max':>8}{'n':>5}{'miss':>5}")
        for key, r in rtt.items():
            print(f"  {key:44}{r.get('p50', '-'):>8}{r.get('p95', '-'):>8}"
                  f"{r.get('min', '-'):>8}{r.get('max', '-'):>8}{r['n']:>5}{r['misses']:>5}")
        print("  client_jb_aiortc: the client's stock aiortc jitter buffer (prefetch 4 = "
              "80 ms) is included;\n  client_jb_arrival: the client uses webrtc.jitter "
              "(release on arrival), as the gateway does.")


async def run(args: argparse.Namespace) -> Json:
    results: Json = {
        "config": {"calls": args.calls, "seconds": args.seconds,
                   "agents_per_worker": args.agents_per_worker, "rtt_count": args.rtt,
                   "cpus": os.cpu_count(), "python": platform.python_version(),
                   "started": time.strftime("%Y-%m-%dT%H:%M:%S")},
        "headset": {},
    }
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-opus-") as tmp:
        results["headset"]["opus"] = await headset_phase(
            "opus", args.calls, args.seconds, args.agents_per_worker, args.rtt, Path(tmp))
    with tempfile.TemporaryDirectory(prefix="bench-pcmu-") as tmp:
        results["headset"]["pcmu"] = await headset_phase(
            "pcmu", args.calls, args.seconds, args.agents_per_worker, 0, Path(tmp))
    results["baseline"] = await baselines(args.seconds)
    results["ratios"] = ratios(results)
    results["config"]["elapsed_s"] = round(time.monotonic() - t0, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=4, help="concurrent bridged calls")
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window")
    parser.add_argument("--agents-per-worker", type=int, default=2)
    parser.add_argument("--rtt", type=int, default=20, help="bursts per round-trip path")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if args.calls < 2 and args.rtt:
        parser.error("the round-trip part needs --calls >= 2 (two agents, two clients)")
    results = asyncio.run(run(args))
    print_table(results)
    print(f"\n(total {results['config']['elapsed_s']} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
