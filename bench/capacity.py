"""How many bridged calls this machine carries with fewer than 1 % late or lost frames.

    python -m bench.capacity [--codec opus|pcmu|both] [--start 4] [--step 4] [--max 80]
                             [--seconds 15] [--late-ms 60] [--levels 4,8,12]
                             [--nice -20] [--json PATH]

The lab, all real and on loopback: Kamailio as the PBX; one SIPp (``uas_echo`` with
``-rtp_echo``, many calls) as the far end of every call; a ``Lines`` gateway with real
line workers (``agents_per_worker`` agents each, as many workers as the agents need:
the worker slots are sized from the benchmark's port ranges); N agents whose browsers
are cheap aiortc clients in ``--client-procs`` processes of their own (by default one
per 16 of the most calls the run may reach; ``bench/load_client.py``: pre-encoded tone
out, received audio metered, not decoded by aiortc). Each agent registers, opens its
line, dials the echo number and stays in the call.

The load steps up from ``--start`` by ``--step`` (calls are added to the running set)
until a level fails, then bisects between the last level that passed and the first
that failed (calls hung up or added) to ``--resolution``. At each level, after the new
calls are heard, one window of ``--seconds`` is measured:

- **late and lost frames** as the client hears the echo (the audio has crossed the
  gateway twice: browser -> worker -> SIPp echo -> worker -> browser). Defined in
  ``bench/frame_meter.py``: a 20 ms frame is *late* when it arrives more than
  ``--late-ms`` (default 60 ms) after its due time (its RTP timestamp on the arrival
  clock, anchored at the least-delayed frame of the window); *lost* when its sequence
  number never arrives or it arrives without the echoed tone (the gateway sent silence).
  A level passes when (late + lost) / expected < ``--threshold`` (1 %) over all calls.
  A window that fails is followed by ``--confirm`` more (default 1) at the same level,
  and the level fails only if every one fails: on this shared VM other tenants' bursts
  (steal time, the ``others`` column) fail single windows at levels that pass above and
  below. Every window is printed and kept in the JSON (``confirming`` on the repeats).
- **CPU** (% of one core, /proc utime+stime) of the workers, the main process, the
  launcher, the load clients and the whole machine; per-thread (by thread name) split
  of the workers' CPU, to see where it goes.
- **memory**: PSS of the workers plus their launcher, per online agent.

Baselines in the same run (``bench.call_cost.baselines``): a bare aiortc peer pair
(Opus and PCMU) and a bare pjsua2 call to SIPp (PCMU), no Headset code; Headset's CPU per
call is printed as a ratio to (one aiortc peer + one pjsua2 call).

Worker slots: a worker takes one port of ``workers.sip_ports`` and
``RTP_PORTS_PER_WORKER`` (200) of ``workers.rtp_ports``, so the defaults allow
min(200, 10000 / 200) = 50 workers, 100 agents at 2 per worker; the benchmark sizes both
ranges for ``--max`` agents.

On a shared machine, ``--nice -20`` gives the benchmark (and every process it starts)
priority over other sessions' work; ``others`` in the table is what the rest still used.
The load clients and SIPp share the machine's two cores with the gateway, but stand for
machines of their own, so by default the load clients run on the real-time class
(``--client-realtime``; ``bench/realtime.py``): their CPU comes out of the two cores
first, and their own waiting for a core is not counted as the gateway's lateness
(``--far-end-realtime`` does the same for SIPp; it costs more than it saves). Their
CPU is printed, and ``client send late`` counts frames they themselves sent late (a
starved load generator, not the gateway). ``uptime`` load averages are printed before
and after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import platform
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bench.call_cost import BenchAgent, Peers, baselines, memory_per_agent, worker_pids
from bench.load_client import DEFAULT_LOOP, LOOPS
from bench.procstat import Usage, Window, pss_mib, rss_mib
from bench.realtime import (
    NEEDS_PERMISSION,
    PEER_PRIORITY,
    make_realtime,
    priority,
    realtime_allowed,
)
from crm.db import Database, open_database
from crm.secret_key import SecretBox, load_or_create_key
from gateway import signalling
from gateway.lines import Lines
from gateway.settings import (
    CodecSettings,
    IceSettings,
    Settings,
    SipSettings,
    WorkerSettings,
)
from gateway.supervisor import RTP_PORTS_PER_WORKER
from tests.lab.kamailio import Kamailio
from tests.lab.ports import free_udp_port_range
from tests.lab.sipp import Sipp
from tests.support.gateway import make_agent_user
from webrtc.ice import restrict_host_addresses

REPO = Path(__file__).resolve().parents[1]
Json = dict[str, Any]
ECHO_NUMBER = "5556000"
GOALS = {"opus": 40, "pcmu": 70}
MEMORY_GOAL_MB = 30
# Load clients per process: with 30 calls each, 2 processes sent 15 % of their frames
# late at 60 calls (session 7) and 4 carried 64, so they scale with the load.
CALLS_PER_CLIENT_PROC = 16


def set_niceness(value: int) -> None:
    """This process's niceness; everything it starts afterwards inherits it.

    With the kernel's autogroups (``/proc/sys/kernel/sched_autogroup_enabled``) a
    process's niceness only counts among its own session's processes: CPU is shared
    fairly between sessions first. So the benchmark takes a session of its own and sets
    that session's autogroup niceness too.
    """
    if not value:
        return
    with contextlib.suppress(OSError):
        os.setsid()
    os.setpriority(os.PRIO_PROCESS, 0, value)
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text(str(value))


def autogroup() -> str:
    """This process's scheduling autogroup and its niceness, e.g. "/autogroup-7 nice -10"."""
    try:
        return Path("/proc/self/autogroup").read_text().strip()
    except OSError:
        return ""


def load_average() -> str:
    """The three load averages, as ``uptime`` prints them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def wait_quiet(limit: float, max_wait: float) -> Json:
    """Wait (up to ``max_wait`` s) for the 1-minute load average to drop below ``limit``:
    other people's work on this shared box would be counted against the gateway."""
    t0 = time.monotonic()
    while float(load_average().split()[0]) >= limit and time.monotonic() - t0 < max_wait:
        await asyncio.sleep(5)  # load averages move slowly
    quiet = float(load_average().split()[0]) < limit
    if not quiet:
        print(f"  the machine stayed busy (load {load_average()}) for {max_wait:.0f} s: "
              f"measuring anyway", flush=True)
    return {"waited_s": round(time.monotonic() - t0, 1), "quiet": quiet,
            "load": load_average()}


class EchoLine(Sipp):
    """One SIPp that answers any number of calls and echoes their RTP (``-rtp_echo``)."""

    def __init__(self, calls: int) -> None:
        super().__init__("uas_echo", rtp_echo=True, timeout_s=6 * 3600)
        self.calls = calls

    def command(self, work: Path) -> list[str]:
        cmd = super().command(work)
        m = cmd.index("-m")
        # Calls in all before SIPp exits: a soak's agents dial again and again (100 per
        # agent cut a 2-agent soak of short calls off after 200 calls).
        cmd[m + 1] = str(1_000_000)
        cmd[m + 3] = str(self.calls + 8)  # -l: calls at once
        return cmd

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None


class ClientPool:
    """The load clients' processes; agent k's client lives in process k % n."""

    def __init__(self, processes: int, late_ms: float, loop: str = DEFAULT_LOOP,
                 realtime: int = 0) -> None:
        argv = ("bench.load_client", "--late-ms", str(late_ms), "--loop", loop,
                "--realtime", str(realtime))
        self.procs = [Peers(argv) for _ in range(processes)]

    async def start(self) -> None:
        await asyncio.gather(*(p.start() for p in self.procs))

    def of(self, k: int) -> Peers:
        return self.procs[k % len(self.procs)]

    @property
    def pids(self) -> dict[str, int]:
        return {f"client{i}": p.pid for i, p in enumerate(self.procs)}

    async def take(self, ks: list[int]) -> dict[int, Json]:
        """One window's figures for clients ``ks`` (and a fresh window for them)."""
        out: dict[int, Json] = {}
        for i, proc in enumerate(self.procs):
            mine = [k for k in ks if k % len(self.procs) == i]
            if mine:
                got = await proc.call("take", clients=mine)
                out.update({int(k): v for k, v in got.items()})
        return out

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.procs))


def capacity_settings(tmp: Path, registrar: str, codec: str, agents: int,
                      agents_per_worker: int) -> Settings:
    """Gateway settings with worker slots for ``agents``: one SIP port and
    RTP_PORTS_PER_WORKER RTP ports per worker (``Supervisor._slot_limit``)."""
    workers = math.ceil(agents / agents_per_worker) + 1
    # One run for both ranges: found apart, the RTP run (checked free before any worker
    # runs) could cover the SIP ports, and a worker whose SIP port an older worker's RTP
    # had taken exited at start (seen once at 57 agents).
    sip_low = free_port_run(workers + 1 + workers * RTP_PORTS_PER_WORKER)
    rtp_low = sip_low + workers + (sip_low + workers) % 2  # RTP's ports are even
    return Settings(
        data_dir=str(tmp),
        codecs=CodecSettings(browser=(codec,), sip=("pcmu",)),
        sip=SipSettings(registrar=registrar, register_timeout=15.0),
        ice=IceSettings(host_addresses=("127.0.0.1",)),
        workers=WorkerSettings(
            bind="127.0.0.1", sip_ports=(sip_low, sip_low + workers - 1),
            rtp_ports=(rtp_low, rtp_low + workers * RTP_PORTS_PER_WORKER - 1),
            agents_per_worker=agents_per_worker, ping_timeout=10.0),
    )


def free_port_run(n: int) -> int:
    """First port of ``n`` consecutive free UDP ports: a long run (thousands, for dozens
    of workers) is rarely found from a random start, so try every 1000th base too."""
    with contextlib.suppress(RuntimeError):
        return free_udp_port_range(n)
    for base in range(10000, 65536 - n, 1000):
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + n):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no run of {n} free UDP ports found")


@dataclasses.dataclass
class Live:
    agent: BenchAgent
    call_id: str


class Rig:
    """The lab, the gateway and the agents for one codec; calls added and removed."""

    def __init__(self, codec: str, max_agents: int, args: argparse.Namespace,
                 tmp: Path) -> None:
        self.codec = codec
        self.max_agents = max_agents
        self.args = args
        self.tmp = tmp
        self.extensions = {str(3001 + k): f"pw-{3001 + k}-cap" for k in range(max_agents)}
        self.agents: list[BenchAgent] = []
        self.live: list[Live] = []
        self.added: list[int] = []  # agents whose calls the last set_level set up
        self.lines: Lines | None = None
        self.db: Database | None = None
        self.box: SecretBox | None = None
        self.pool = ClientPool(args.client_procs, args.late_ms,
                               getattr(args, "client_loop", DEFAULT_LOOP),
                               getattr(args, "client_realtime", 0))
        self.echo = EchoLine(max_agents)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Rig]:
        self.echo.start()
        far_end_priority = getattr(self.args, "far_end_realtime", 0)
        if far_end_priority and self.echo.pid is not None:
            make_realtime(far_end_priority, self.echo.pid)
        try:
            with Kamailio(users=self.extensions,
                          routes={ECHO_NUMBER: self.echo.hostport}) as kamailio:
                settings = capacity_settings(self.tmp, kamailio.hostport, self.codec,
                                             self.max_agents, self.args.agents_per_worker)
                self.db = await open_database(settings.database_path)
                self.box = load_or_create_key(self.tmp)
                self.lines = Lines(settings, self.db, self.box, lambda lang, key: key)
                await self.lines.start()
                await self.pool.start()
                try:
                    for k, (ext, pw) in enumerate(self.extensions.items()):
                        user = await make_agent_user(self.db, self.box, f"cap{k}", ext, pw)
                        self.agents.append(BenchAgent(self.lines, user, self.pool.of(k), k))
                    yield self
                finally:
                    await self._stop_all()
                    await self.pool.close()
                    await self.lines.close()
                    await self.db.close()
        finally:
            self.echo.terminate()

    async def _stop_all(self) -> None:
        with contextlib.suppress(Exception):
            await self.set_level(0)
        for agent in self.agents:
            await agent.close()

    async def _add(self, agent: BenchAgent) -> Live:
        await agent.online()
        await agent.open_line("arrival")
        return Live(agent, await agent.dial(ECHO_NUMBER))

    async def _remove(self, live: Live) -> None:
        agent = live.agent
        await agent.hangup(live.call_id)
        mark = len(agent.events)
        await agent.send(signalling.Offline())
        await agent.wait_event(lambda e: e["type"] == "line" and e["state"] == "offline",
                               since=mark, timeout=15)
        await agent.peers.call("close", k=agent.k)

    async def set_level(self, n: int) -> None:
        """Exactly ``n`` calls up, each heard by its client."""
        while len(self.live) > n:
            await self._remove(self.live.pop())
        new = self.agents[len(self.live):n]
        self.added = [a.k for a in new]
        if new:
            # In batches: a burst of REGISTERs and INVITEs is a set-up test, not this one.
            for i in range(0, len(new), 4):
                self.live.extend(await asyncio.gather(*(self._add(a) for a in new[i:i + 4])))
            await self.wait_heard([a.k for a in new])

    async def wait_heard(self, ks: list[int], timeout: float = 30) -> None:
        """Until each client in ``ks`` has had a window with its echo in most frames."""
        deadline = time.monotonic() + timeout
        todo = set(ks)
        while todo:
            await asyncio.sleep(0.5)  # a short window to judge
            got = await self.pool.take(sorted(todo))
            todo -= {k for k, s in got.items()
                     if s["received"] >= 10 and s["silent"] < s["received"] / 2}
            if time.monotonic() > deadline:
                raise TimeoutError(f"clients {sorted(todo)} do not hear their echo")

    def pids(self) -> dict[str, int]:
        assert self.lines is not None
        pids = {"main": os.getpid()} | worker_pids(self.lines) | self.pool.pids
        launcher = self.lines.supervisor.launcher_pid
        if launcher is not None:
            pids["launcher"] = launcher
        if self.echo.pid is not None:
            pids["sipp"] = self.echo.pid
        return pids

    async def measure(self) -> Json:
        """One window at the current level."""
        assert self.lines is not None
        ks = [live.agent.k for live in self.live]
        n = len(ks)
        await self.pool.take(ks)  # start every client's window now
        pids = self.pids()
        window = Window(pids)
        load_before = load_average()
        window.start()
        await asyncio.sleep(self.args.seconds)  # the measuring window itself
        usage = await window.stop()
        frames = {k: with_unheard(f, self.args.seconds) for k, f in
                  (await self.pool.take(ks)).items()}
        result = summarize_level(n, usage, window.machine_pct, frames,
                                 memory_per_agent(self.lines, max(n, 1)), self.lines,
                                 load_before)
        return result | {"bad_by_client_proc": bad_by_group(
            frames, lambda k: k % len(self.pool.procs)), "steal_pct": round(window.steal_pct, 1),
            "worst_calls": worst_calls(frames, set(self.added))}


def thread_names(pid: int) -> dict[int, str]:
    out: dict[int, str] = {}
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                out[int(tid)] = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    return out


def worker_threads(usage: dict[str, Usage], pids: dict[str, int]) -> Json:
    """Workers' CPU (% of one core, summed over workers) by thread name."""
    by_name: dict[str, float] = {}
    for name, u in usage.items():
        if not name.startswith("worker"):
            continue
        names = thread_names(pids[name])
        for tid, seconds in u.threads_s.items():
            label = "main (asyncio)" if tid == pids[name] else names.get(tid, "?")
            by_name[label] = by_name.get(label, 0.0) + 100 * seconds / u.wall_s
    return {k: round(v, 1) for k, v in sorted(by_name.items(), key=lambda kv: -kv[1])
            if v >= 0.1}


FRAME_S = 0.020  # one RTP packet of audio, each way


def with_unheard(frames: Json, seconds: float) -> Json:
    """A call's window figures, with the frames it never heard at all counted missing.

    The meter expects what lies between the first and the last sequence number it saw;
    a call that heard nothing, or stopped hearing early, would pass for clean. Two frames
    of slack: the window's edges and the clients' own take are not on the same tick."""
    nominal = int(seconds / FRAME_S)
    unheard = max(0, nominal - 2 - int(frames["expected"]))
    if not unheard:
        return frames
    return frames | {"expected": frames["expected"] + unheard,
                     "missing": frames["missing"] + unheard, "unheard": unheard}


def bad_frames(frames: Json) -> int:
    """A call's late and lost frames in one window (``bench/frame_meter.py``)."""
    return int(frames["missing"] + frames["silent"] + frames["late"])


def worst_calls(frames: dict[int, Json], added: set[int], count: int = 5) -> list[Json]:
    """The ``count`` calls with the most (late + lost) frames: agent number, fraction, and
    whether the call was set up just before this window (``added``), to tell the new
    calls' own start from what the new calls did to the others."""
    bad = {k: bad_frames(f) / max(f["expected"], 1) for k, f in frames.items()}
    worst = sorted(bad, key=lambda k: -bad[k])[:count]
    return [{"agent": k, "bad_fraction": round(bad[k], 4), "added_now": k in added}
            for k in worst if bad[k] > 0]


def worst_text(worst: list[Json]) -> str:
    """E.g. "20.7 % #85*, 3.1 % #12" (agent numbers; *: set up just before the window)."""
    return ", ".join(f"{100 * w['bad_fraction']:.1f} % #{w['agent']}"
                     f"{'*' if w['added_now'] else ''}" for w in worst[:3]) or "none"


def bad_by_group(frames: dict[int, Json], group: Callable[[int], int]) -> list[float]:
    """(late + lost) / expected frames of each group of calls (e.g. by load-client
    process): one starved process shows as one bad group, a gateway short of CPU as all."""
    sums: dict[int, list[int]] = {}
    for k, f in frames.items():
        bad_expected = sums.setdefault(group(k), [0, 0])
        bad_expected[0] += bad_frames(f)
        bad_expected[1] += f["expected"]
    return [round(bad / max(expected, 1), 4) for _, (bad, expected) in sorted(sums.items())]


def summarize_level(n: int, usage: dict[str, Usage], machine_pct: float,
                    frames: dict[int, Json], memory: Json, lines: Lines,
                    load_before: str) -> Json:
    pids = {name: pid for name, pid in
            ({"main": os.getpid()} | worker_pids(lines)).items()}

    def cpu(prefix: str) -> float:
        return sum(u.cpu_pct for name, u in usage.items() if name.startswith(prefix))

    total = {key: sum(f[key] for f in frames.values())
             for key in ("expected", "received", "missing", "silent", "late", "send_late",
                         "sent")}
    bad = total["missing"] + total["silent"] + total["late"]
    per_call_bad = sorted(bad_frames(f) / max(f["expected"], 1) for f in frames.values())
    workers_pct = cpu("worker")
    gateway_pct = workers_pct + cpu("main") + cpu("launcher")
    return {
        "calls": n,
        "frames": total,
        "bad_fraction": round(bad / total["expected"], 5) if total["expected"] else 1.0,
        "worst_call_bad_fraction": round(per_call_bad[-1], 4) if per_call_bad else None,
        "max_late_ms": max((f["max_late_ms"] for f in frames.values()), default=None),
        "drift_ms": sorted(f["drift_ms"] for f in frames.values()),
        "client_send_late_fraction": round(total["send_late"] / max(total["sent"], 1), 5),
        "cpu_pct": {"workers": round(workers_pct, 1), "main": round(cpu("main"), 1),
                    "launcher": round(cpu("launcher"), 1),
                    "clients": round(cpu("client"), 1), "sipp": round(cpu("sipp"), 1),
                    "machine": round(machine_pct, 1),
                    # Everything on the box that is not this benchmark's (other work).
                    "others": round(machine_pct - sum(u.cpu_pct for u in usage.values()), 1)},
        "gateway_cpu_pct_per_call": round(gateway_pct / n, 2) if n else None,
        "worker_cpu_pct_per_call": round(workers_pct / n, 2) if n else None,
        "workers": sum(1 for name in usage if name.startswith("worker")),
        "worker_threads_pct": worker_threads(usage, pids | {
            name: pid for name, pid in worker_pids(lines).items()}),
        "memory": memory | {"main_rss_mib": round(rss_mib(os.getpid()), 1),
                            "main_pss_mib": round(pss_mib(os.getpid()), 1)},
        "load_before": load_before,
        "load_after": load_average(),
    }


async def search(rig: Rig, args: argparse.Namespace) -> Json:
    """Step up until a level fails, then bisect; every level measured is kept."""
    levels: list[Json] = []
    passed: int | None = None
    failed: int | None = None

    async def try_level(n: int) -> bool:
        try:
            await rig.set_level(n)
        except Exception as exc:  # a level whose calls could not be set up fails
            result = {"calls": n, "error": f"{type(exc).__name__}: {exc}",
                      "load_after": load_average()}
            levels.append(result)
            print(f"  {rig.codec} {n:3d} calls: FAILED to set up ({result['error']})",
                  flush=True)
            return False
        # A failing window is measured again (--confirm times): on this shared VM other
        # tenants' bursts (steal time, "others") fail single windows at levels that pass
        # before and after; a level the gateway cannot carry fails every window.
        for window in range(1 + max(0, args.confirm)):
            result = await rig.measure()
            if window:
                result["confirming"] = window
            levels.append(result)
            ok = result["bad_fraction"] < args.threshold
            report(n, result, ok)
            if ok:
                return True
        return False

    def report(n: int, result: Json, ok: bool) -> None:
        print(f"  {rig.codec} {n:3d} calls: {100 * result['bad_fraction']:6.2f} % bad "
              f"(late {result['frames']['late']}, missing {result['frames']['missing']}, "
              f"silent {result['frames']['silent']}), gateway CPU "
              f"{result['cpu_pct']['workers'] + result['cpu_pct']['main']:.0f} %, "
              f"machine {result['cpu_pct']['machine']:.0f} % (others "
              f"{result['cpu_pct']['others']:.0f} %, of it steal "
              f"{result.get('steal_pct', 0):.0f} %), max drift {max(result['drift_ms'])} ms, "
              f"load {result['load_after']}, bad % by client process "
              f"{[round(100 * b, 2) for b in result.get('bad_by_client_proc', [])]}, "
              f"worst calls {worst_text(result.get('worst_calls', []))}"
              f" -> {'pass' if ok else 'FAIL'}"
              f"{' (again)' if result.get('confirming') else ''}", flush=True)

    if args.levels:  # fixed levels, no search: how the cost scales
        for n in args.levels:
            if await try_level(n):
                passed = n if passed is None else max(passed, n)  # levels may go down
            elif failed is None:
                failed = n
        best = next((lv for lv in levels if lv["calls"] == passed and "error" not in lv),
                    None)
        return {"capacity": passed or 0, "first_failure": failed, "reached_max": False,
                "at_capacity": best, "levels": levels, "fixed_levels": True}
    n = args.start
    while n <= rig.max_agents:
        if await try_level(n):
            passed = n
            n += args.step
        else:
            failed = n
            break
    if failed is not None:
        low = passed or 0
        high = failed
        while high - low > args.resolution:
            mid = (low + high) // 2
            if mid == 0:
                break
            if await try_level(mid):
                low = mid
            else:
                high = mid
        passed = low or None
    best = max((lv for lv in levels if lv["calls"] == passed and "error" not in lv),
               key=lambda lv: -lv["bad_fraction"], default=None)
    return {"capacity": passed or 0, "first_failure": failed,
            "reached_max": failed is None, "at_capacity": best, "levels": levels}


async def run_codec(codec: str, args: argparse.Namespace) -> Json:
    with tempfile.TemporaryDirectory(prefix=f"bench-capacity-{codec}-") as tmp:
        rig = Rig(codec, max(args.levels) if args.levels else args.max, args, Path(tmp))
        async with rig.running():
            return await search(rig, args)


def ratio(results: Json, codec: str) -> Json | None:
    h = results["headset"].get(codec, {}).get("at_capacity")
    base = results.get("baseline")
    if not h or not base:
        return None
    ref = base[f"aiortc_pair_{codec}"]["cpu_pct_per_peer"] + base["pjsua2_call"]["cpu_pct"]
    per_call = h["gateway_cpu_pct_per_call"]
    return {"baseline_pct_per_call": round(ref, 2), "headset_pct_per_call": per_call,
            "ratio": round(per_call / ref, 2) if ref else None}


def print_table(results: Json) -> None:
    cfg = results["config"]
    print(f"\nCapacity: concurrent bridged calls with < {100 * cfg['threshold']:g} % late "
          f"(> {cfg['late_ms']:g} ms) or lost frames; {cfg['seconds']:g} s per level, "
          f"{cfg['agents_per_worker']} agents per worker, {cfg['client_procs']} load-client "
          f"processes ({cfg.get('client_loop', 'uvloop')} loop), {cfg['cpus']} CPUs, "
          f"Python {cfg['python']}, niceness {cfg['niceness']} ({cfg['autogroup']}); "
          f"real-time priority of the load clients {cfg.get('client_realtime', 0)}, of SIPp "
          f"{cfg.get('far_end_realtime', 0)} (0: normal class)")
    print(f"load average (uptime) at start {cfg['load_start']}, at end {cfg['load_end']}\n")
    print(f"  {'codec':6}{'calls':>6}{'bad %':>8}{'late':>6}{'miss':>6}{'silent':>7}"
          f"{'worst %':>8}{'gw CPU':>8}{'/call':>7}{'clients':>8}{'machine':>8}"
          f"{'others':>7}{'drift':>7}{'PSS/agent':>10}{'cl.late %':>10}  load")
    for codec, h in results["headset"].items():
        for lv in h["levels"]:
            if "error" in lv:
                print(f"  {codec:6}{lv['calls']:>6}  set-up failed: {lv['error'][:80]}")
                continue
            c = lv["cpu_pct"]
            print(f"  {codec:6}{lv['calls']:>6}{100 * lv['bad_fraction']:>8.2f}"
                  f"{lv['frames']['late']:>6}{lv['frames']['missing']:>6}"
                  f"{lv['frames']['silent']:>7}{100 * (lv['worst_call_bad_fraction'] or 0):>8.1f}"
                  f"{c['workers'] + c['main'] + c['launcher']:>8.0f}"
                  f"{lv['gateway_cpu_pct_per_call']:>7.1f}{c['clients']:>8.0f}"
                  f"{c['machine']:>8.0f}{c['others']:>7.0f}{max(lv['drift_ms']):>7.0f}"
                  f"{lv['memory']['pss_mib_per_agent']:>10.1f}"
                  f"{100 * lv['client_send_late_fraction']:>10.2f}  {lv['load_after']}")
    print("\n  gw CPU: workers + main + launcher, % of one core; /call: that per call; "
          "machine: every process on the box;\n  others: the machine minus this benchmark's "
          "processes (other people's work); drift: the worst client's growth\n  in delay "
          "over the window, ms (a stream falling behind real time); PSS/agent: workers + "
          "launcher\n  PSS per online agent (MiB); cl.late: frames the load clients "
          "themselves sent late.")
    print("\nSummary:")
    base = results.get("baseline")
    for codec, h in results["headset"].items():
        goal = GOALS[codec]
        cap = h["capacity"]
        verdict = "met" if cap >= goal else f"MISSED by {goal - cap} calls"
        more = " (reached --max, not a limit)" if h["reached_max"] else ""
        if h.get("fixed_levels"):
            more += " (highest fixed level that passed, not a search)"
        print(f"  {codec}: capacity {cap} calls{more}; goal >= {goal}: {verdict}")
        at = h["at_capacity"]
        if at:
            mem = at["memory"]["pss_mib_per_agent"]
            print(f"    at {cap} calls: gateway CPU per call {at['gateway_cpu_pct_per_call']} % "
                  f"(workers {at['worker_cpu_pct_per_call']} %), PSS per online agent "
                  f"{mem} MiB (goal <= {MEMORY_GOAL_MB} MB: "
                  f"{'met' if mem * 1.048576 <= MEMORY_GOAL_MB else 'missed'}), "
                  f"main process RSS {at['memory']['main_rss_mib']} MiB")
            print(f"    workers' CPU by thread: {at['worker_threads_pct']}")
            if at["gateway_cpu_pct_per_call"]:
                print(f"    if the gateway had both cores to itself: about "
                      f"{int(200 / at['gateway_cpu_pct_per_call'])} calls by CPU")
        r = ratio(results, codec)
        if r:
            print(f"    cost vs bare aiortc peer + pjsua2 call ({r['baseline_pct_per_call']} % "
                  f"per call, measured in this run): x{r['ratio']}")
    if base:
        print(f"\n  Baselines (this run; machine busy {base['machine_busy_pct']} % of one core):"
              f" aiortc peer Opus {base['aiortc_pair_opus']['cpu_pct_per_peer']} %, "
              f"PCMU {base['aiortc_pair_pcmu']['cpu_pct_per_peer']} %; pjsua2 call "
              f"{base['pjsua2_call']['cpu_pct']} %")


async def run(args: argparse.Namespace) -> Json:
    restrict_host_addresses(["127.0.0.1"])
    codecs = ["opus", "pcmu"] if args.codec == "both" else [args.codec]
    results: Json = {"config": {
        "codecs": codecs, "start": args.start, "step": args.step, "max": args.max,
        "resolution": args.resolution, "seconds": args.seconds, "late_ms": args.late_ms,
        "threshold": args.threshold, "agents_per_worker": args.agents_per_worker,
        "client_loop": args.client_loop, "confirm": args.confirm,
        "client_realtime": args.client_realtime,
        "far_end_realtime": args.far_end_realtime,
        "client_procs": args.client_procs, "cpus": os.cpu_count(),
        "niceness": os.getpriority(os.PRIO_PROCESS, 0), "autogroup": autogroup(),
        "python": platform.python_version(), "load_start": load_average(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S")}, "headset": {}}
    t0 = time.monotonic()
    for codec in codecs:
        quiet = await wait_quiet(args.quiet_load, args.quiet_wait)
        print(f"{codec}: stepping up from {args.start} calls (load {load_average()})",
              flush=True)
        results["headset"][codec] = await run_codec(codec, args)
        results["headset"][codec]["quiet_wait"] = quiet
    if args.baseline_seconds > 0:
        results["baseline"] = await baselines(args.baseline_seconds)
        for codec in codecs:
            results.setdefault("ratios", {})[codec] = ratio(results, codec)
    results["config"]["load_end"] = load_average()
    results["config"]["elapsed_s"] = round(time.monotonic() - t0, 1)
    return results


def client_processes(calls: int) -> int:
    """How many load-client processes carry ``calls`` (see ``CALLS_PER_CLIENT_PROC``)."""
    return max(2, math.ceil(calls / CALLS_PER_CLIENT_PROC))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codec", choices=("opus", "pcmu", "both"), default="both",
                        help="the browser leg's codec (the SIP leg is PCMU)")
    parser.add_argument("--levels", type=lambda v: [int(x) for x in v.split(",")],
                        help="measure these levels (e.g. 4,8,12) instead of searching")
    parser.add_argument("--start", type=int, default=4)
    parser.add_argument("--step", type=int, default=4)
    parser.add_argument("--max", type=int, default=80, help="most agents to try")
    parser.add_argument("--resolution", type=int, default=1,
                        help="bisect until pass and fail levels are this close")
    parser.add_argument("--seconds", type=float, default=15.0, help="window per level")
    parser.add_argument("--late-ms", type=float, default=60.0)
    parser.add_argument("--confirm", type=int, default=1,
                        help="windows measured again at a level whose window failed; the "
                             "level fails only if every one of them fails")
    parser.add_argument("--threshold", type=float, default=0.01,
                        help="most (late + lost) / expected frames for a level to pass")
    parser.add_argument("--agents-per-worker", type=int, default=2)
    parser.add_argument("--client-loop", choices=LOOPS, default=DEFAULT_LOOP,
                        help="the load clients' event loop (bench/load_client.py)")
    parser.add_argument("--client-realtime", type=priority, default=PEER_PRIORITY,
                        metavar="PRIORITY",
                        help="run the load clients on the real-time class at this "
                             "priority (0: the normal class; bench/realtime.py)")
    parser.add_argument("--far-end-realtime", type=priority, default=0, metavar="PRIORITY",
                        help="the same for SIPp, the far end")
    parser.add_argument("--client-procs", type=int, default=0,
                        help="load-client processes (default: one per "
                             f"{CALLS_PER_CLIENT_PROC} of the most calls tried, at least 2)")
    parser.add_argument("--baseline-seconds", type=float, default=10.0,
                        help="0 skips the baselines")
    parser.add_argument("--quiet-load", type=float, default=1.5,
                        help="wait for the 1-minute load average to drop below this")
    parser.add_argument("--quiet-wait", type=float, default=300.0,
                        help="...for at most this many seconds")
    parser.add_argument("--nice", type=int, default=0,
                        help="run this benchmark and every process it starts at this "
                             "niceness (root may go below 0: priority over other work)")
    parser.add_argument("--json", type=Path, help="default: bench/results/capacity-TIME.json")
    args = parser.parse_args()
    if args.client_procs <= 0:
        args.client_procs = client_processes(max(args.levels) if args.levels else args.max)
    if (args.client_realtime or args.far_end_realtime) and not realtime_allowed():
        parser.error(NEEDS_PERMISSION)
    set_niceness(args.nice)
    results = asyncio.run(run(args))
    print_table(results)
    path = args.json or REPO / "bench" / "results" / time.strftime("capacity-%Y%m%d-%H%M%S.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"\n(total {results['config']['elapsed_s']} s) results written to {path}")


if __name__ == "__main__":
    main()
