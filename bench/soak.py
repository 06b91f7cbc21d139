"""Soak: calls carried for minutes at a steady load, then nothing left behind.

    python -m bench.soak [--minutes 10] [--calls N | --fraction 0.8] [--codec opus]
                         [--hold 20-40] [--json PATH]

The lab is the capacity benchmark's (``bench/capacity.py``): Kamailio, one SIPp echo
line for every call, a ``Lines`` gateway with real workers, cheap aiortc clients in
their own processes. ``--calls`` agents (default: ``--fraction`` of the capacity found
by the newest ``bench/results/capacity-*.json`` for the codec) go online and each calls
the echo line again and again: a call of ``--hold`` seconds (drawn per call), a short
pause, the next call; so the load stays near N calls while calls start and end all the
time.

Memory: the RSS, USS (private) and PSS of the main process, every line worker and the launcher are
sampled (mean of 5 samples, 1 s apart) after ``--warmup`` seconds and again just before
the end, both times under the same load; the soak wants growth < 5 %.

At the end every agent hangs up and goes offline, and the soak passes only if:

- no live call in the gateway, no SIP call, account or WebRTC line (peer connection)
  in any worker, no open peer connection in the load clients;
- every call the agents were given an id for has its record, in a final state
  (``ended``, with an outcome and an end time), and there are no other records;
- no worker was restarted (same PIDs at the start and the end);
- resident memory (the sum over those processes, RSS and USS) grew less than 5 %
  (PSS is printed, not judged: it moves with other processes sharing the libraries).

Audio is checked too (frames heard with the echoed tone, late/lost by
``bench/frame_meter.py`` per minute), reported rather than judged: call set-up
transients count as silent frames.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.call_cost import BenchAgent, worker_pids
from bench.capacity import (
    ECHO_NUMBER,
    REPO,
    Rig,
    autogroup,
    client_processes,
    load_average,
    set_niceness,
)
from bench.procstat import pss_mib, rss_mib
from bench.realtime import NEEDS_PERMISSION, PEER_PRIORITY, priority, realtime_allowed
from crm import call_records
from crm.call_flow import CallState
from gateway import signalling
from gateway.lines import Lines

Json = dict[str, Any]
MEMORY_GROWTH_LIMIT = 0.05


@dataclass
class Tally:
    call_ids: list[str] = field(default_factory=list)
    connected: int = 0
    failed: list[str] = field(default_factory=list)


async def dial(agent: BenchAgent, tally: Tally) -> str | None:
    """Dial the echo line; the call's id once connected (None if it did not connect)."""
    mark = len(agent.events)
    await agent.send(signalling.Dial(target=ECHO_NUMBER))
    first = await agent.wait_event(lambda e: e["type"] in ("call", "error"), since=mark,
                                   timeout=15)
    if first["type"] == "error":
        tally.failed.append(f"dial refused: {first.get('code')}")
        return None
    call_id = str(first["call_id"])
    tally.call_ids.append(call_id)
    state = await agent.wait_event(
        lambda e: e["type"] == "call" and e["call_id"] == call_id
        and e["state"] in ("connected", "ended"), since=mark, timeout=15)
    if state["state"] != "connected":
        tally.failed.append(f"call ended before connecting: {state.get('reason')}")
        return None
    tally.connected += 1
    return call_id


async def churn(agent: BenchAgent, until: float, hold: tuple[float, float],
                rng: random.Random, tally: Tally) -> None:
    """Call, hold, hang up, pause, again, until ``until`` (monotonic)."""
    while time.monotonic() < until:
        # The soak weighs this process's memory, and the stand-in tab keeps every event
        # it was sent (tests/support/gateway.py): by tracemalloc, 2.1 of the main
        # process's 2.6 MiB growth in 2.5 min at 20 calls. A finished call's events are
        # not looked at again (every wait starts from a mark taken after this).
        agent.events.clear()
        call_id = await dial(agent, tally)
        if call_id is not None:
            length = rng.uniform(*hold)
            # The call's length is the scenario, not a wait for readiness.
            await asyncio.sleep(max(0.0, min(length, until - time.monotonic())))
            await agent.hangup(call_id)
        await asyncio.sleep(rng.uniform(0.2, 1.0))  # an agent's pause between calls


def uss_mib(pid: int) -> float:
    """Private memory (MiB): pages no other process maps. Unlike PSS it does not move
    when unrelated processes that map the same libraries come and go on the machine."""
    kib = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                kib += int(line.split()[1])
    return kib / 1024


def memory(pids: dict[str, int]) -> Json:
    """Mean PSS, RSS and USS (MiB) of each process over 5 samples 1 s apart."""
    pss: dict[str, list[float]] = {name: [] for name in pids}
    rss: dict[str, list[float]] = {name: [] for name in pids}
    uss: dict[str, list[float]] = {name: [] for name in pids}
    for i in range(5):
        if i:
            time.sleep(1.0)  # sampling period
        for name, pid in pids.items():
            with contextlib.suppress(OSError):
                pss[name].append(pss_mib(pid))
                rss[name].append(rss_mib(pid))
                uss[name].append(uss_mib(pid))
    each = {name: {"pss": round(statistics.fmean(pss[name]), 2),
                   "rss": round(statistics.fmean(rss[name]), 2),
                   "uss": round(statistics.fmean(uss[name]), 2)}
            for name in pids if pss[name]}
    return {"each": each,
            "pss_total": round(sum(v["pss"] for v in each.values()), 2),
            "rss_total": round(sum(v["rss"] for v in each.values()), 2),
            "uss_total": round(sum(v["uss"] for v in each.values()), 2)}


def gateway_pids(lines: Lines) -> dict[str, int]:
    pids = {"main": os.getpid()} | worker_pids(lines)
    launcher = lines.supervisor.launcher_pid
    if launcher is not None:
        pids["launcher"] = launcher
    return pids


async def wait_workers_empty(lines: Lines, timeout: float = 10) -> dict[int, dict[str, int]]:
    """Until every worker's health answer says no call, account or line is left."""
    deadline = time.monotonic() + timeout
    while True:
        held = {w.worker_id: {"calls": w.sip_calls, "accounts": w.accounts,
                              "lines": w.lines}
                for w in lines.supervisor.workers.values()
                if w.sip_calls or w.accounts or w.lines}
        if not held or time.monotonic() > deadline:
            return held
        await asyncio.sleep(0.2)  # the workers answer a ping every second


async def audit_records(rig: Rig, tally: Tally) -> Json:
    """Every call id the agents got: a record in a final state; no other records."""
    assert rig.db is not None
    missing: list[str] = []
    not_final: list[str] = []
    for call_id in tally.call_ids:
        record = await call_records.get(rig.db, call_id)
        if record is None:
            missing.append(call_id)
        elif (record.state is not CallState.ENDED or record.outcome is None
              or record.ended_at is None):
            not_final.append(f"{call_id}: {record.state} {record.outcome}")
    rows = await rig.db.fetchall("SELECT id FROM call_records")
    others = sorted({str(r["id"]) for r in rows} - set(tally.call_ids))
    return {"calls": len(tally.call_ids), "records": len(rows), "missing": missing,
            "not_final": not_final, "unexpected": others}


async def soak(rig: Rig, calls: int, seconds: float, warmup: float,
               hold: tuple[float, float], seed: int = 1,
               progress: bool = False) -> Json:
    """Run the soak on a started ``rig``; every figure and finding (see module doc)."""
    assert rig.lines is not None
    lines = rig.lines
    rng = random.Random(seed)
    tally = Tally()
    agents = rig.agents[:calls]
    for i in range(0, calls, 4):
        batch = agents[i:i + 4]
        await asyncio.gather(*(a.online() for a in batch))
        await asyncio.gather(*(a.open_line("arrival") for a in batch))
    started = time.monotonic()
    until = started + seconds
    loops = [asyncio.get_running_loop().create_task(churn(a, until, hold, rng, tally))
             for a in agents]
    ks = [a.k for a in agents]
    per_minute: list[Json] = []
    mem_start: Json | None = None
    pids_start: dict[str, int] = {}
    next_take = started + 60
    await rig.pool.take(ks)
    try:
        while time.monotonic() < until - 8:
            await asyncio.sleep(1.0)  # the soak's own clock: minutes and the warm-up
            now = time.monotonic()
            if mem_start is None and now - started >= warmup:
                pids_start = gateway_pids(lines)
                mem_start = await asyncio.to_thread(memory, pids_start)
                if progress:
                    print(f"  after {now - started:.0f} s warm-up: PSS "
                          f"{mem_start['pss_total']} MiB, RSS {mem_start['rss_total']} MiB "
                          f"(load {load_average()})", flush=True)
            if now >= next_take:
                next_take += 60
                per_minute.append(minute(await rig.pool.take(ks), tally, lines))
                if mem_start is not None:  # the trend: still rising, or levelled off?
                    per_minute[-1] |= await asyncio.to_thread(memory_now, pids_start)
                if progress:
                    m = per_minute[-1]
                    print(f"  minute {len(per_minute)}: {m['live_calls']} calls up, "
                          f"{m['calls_so_far']} dialled, bad frames "
                          f"{100 * m['bad_fraction']:.2f} %, load {load_average()}",
                          flush=True)
        pids_end = gateway_pids(lines)
        mem_end = await asyncio.to_thread(memory, pids_end)
        await asyncio.gather(*loops)
    finally:
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
    heard = await rig.pool.take(ks)
    # Everyone off: offline, lines closed in the clients.
    for agent in agents:
        mark = len(agent.events)
        await agent.send(signalling.Offline())
        await agent.wait_event(lambda e: e["type"] == "line" and e["state"] == "offline",
                               since=mark, timeout=15)
        await agent.peers.call("close", k=agent.k)
    open_pcs = sum([(await p.call("count"))["open"] for p in rig.pool.procs])
    held = await wait_workers_empty(lines)
    records = await audit_records(rig, tally)
    if mem_start is None:
        raise RuntimeError("the soak ended before its warm-up did")
    # Judged on RSS and USS; PSS is reported only: it divides shared library pages
    # among every process on the machine that maps them, so it rises when other
    # people's processes exit (seen: launcher PSS +15 % with its RSS unchanged).
    growth = {key: (mem_end[key] - mem_start[key]) / mem_start[key]
              for key in ("rss_total", "uss_total")}
    pss_growth = (mem_end["pss_total"] - mem_start["pss_total"]) / mem_start["pss_total"]
    return {
        "calls_concurrent": calls, "seconds": seconds, "warmup": warmup,
        "calls_dialled": len(tally.call_ids), "calls_connected": tally.connected,
        "failures": tally.failed,
        "per_minute": per_minute,
        "last_window": minute(heard, tally, lines),
        "memory_start": mem_start, "memory_end": mem_end,
        "memory_growth": {k: round(v, 4) for k, v in growth.items()},
        "pss_growth_not_judged": round(pss_growth, 4),
        "workers_restarted": sorted(set(pids_start.items()) ^ set(pids_end.items())),
        "leaks": {"gateway_live_calls": lines.active_calls(), "workers_holding": held,
                  "client_open_peer_connections": open_pcs},
        "records": records,
    }


def minute(frames: dict[int, Json], tally: Tally, lines: Lines) -> Json:
    total = {key: sum(f[key] for f in frames.values())
             for key in ("expected", "received", "missing", "silent", "late")}
    bad = total["missing"] + total["silent"] + total["late"]
    return total | {"bad_fraction": round(bad / total["expected"], 5)
                    if total["expected"] else 0.0,
                    "calls_so_far": len(tally.call_ids), "live_calls": lines.active_calls()}


def problems(result: Json) -> list[str]:
    """What makes the soak fail; empty when it passed."""
    found: list[str] = []
    leaks = result["leaks"]
    if leaks["gateway_live_calls"]:
        found.append(f"{leaks['gateway_live_calls']} calls still live in the gateway")
    if leaks["workers_holding"]:
        found.append(f"workers still hold {leaks['workers_holding']}")
    if leaks["client_open_peer_connections"]:
        found.append(f"{leaks['client_open_peer_connections']} client peer connections open")
    rec = result["records"]
    for key in ("missing", "not_final", "unexpected"):
        if rec[key]:
            found.append(f"call records {key}: {rec[key][:5]}")
    if result["workers_restarted"]:
        found.append(f"workers restarted: {result['workers_restarted']}")
    for key, growth in result["memory_growth"].items():
        if growth >= MEMORY_GROWTH_LIMIT:
            found.append(f"{key} grew {100 * growth:.1f} %")
    if result["calls_connected"] == 0:
        found.append("no call connected")
    return found


def latest_capacity(codec: str) -> int | None:
    paths = sorted((REPO / "bench" / "results").glob("capacity-*.json"))
    for path in reversed(paths):
        data = json.loads(path.read_text())
        h = data.get("headset", {}).get(codec)
        if h and h.get("capacity"):
            return int(h["capacity"])
    return None


def memory_now(pids: dict[str, int]) -> Json:
    """One sample of the RSS and USS totals (MiB), for the per-minute trend."""
    rss = uss = 0.0
    for pid in pids.values():
        with contextlib.suppress(OSError):
            rss += rss_mib(pid)
            uss += uss_mib(pid)
    return {"rss_mib": round(rss, 1), "uss_mib": round(uss, 1)}


def print_table(result: Json, cfg: Json) -> None:
    print(f"\nSoak: {result['calls_concurrent']} agents calling ({cfg['codec']} to the "
          f"browser, PCMU to SIP) for {result['seconds'] / 60:g} min, calls of "
          f"{cfg['hold']} s; {cfg['cpus']} CPUs; niceness {cfg['niceness']} "
          f"({cfg['autogroup']}); load average at start "
          f"{cfg['load_start']}, at end {cfg['load_end']}\n")
    print(f"  calls dialled {result['calls_dialled']}, connected "
          f"{result['calls_connected']}, failed {len(result['failures'])}"
          f"{' ' + str(result['failures'][:3]) if result['failures'] else ''}")
    print(f"  {'minute':>8}{'calls up':>10}{'dialled':>9}{'bad %':>8}{'late':>7}"
          f"{'missing':>9}{'silent':>8}{'RSS MiB':>9}{'USS MiB':>9}")
    for i, m in enumerate(result["per_minute"], 1):
        print(f"  {i:>8}{m['live_calls']:>10}{m['calls_so_far']:>9}"
              f"{100 * m['bad_fraction']:>8.2f}{m['late']:>7}{m['missing']:>9}{m['silent']:>8}"
              f"{m.get('rss_mib', ''):>9}{m.get('uss_mib', ''):>9}")
    s, e = result["memory_start"], result["memory_end"]
    print(f"\n  memory (main + {len(s['each']) - 1} other processes), MiB: PSS "
          f"{s['pss_total']} -> {e['pss_total']} "
          f"({100 * result['pss_growth_not_judged']:+.2f} %, not judged), RSS "
          f"{s['rss_total']} -> {e['rss_total']} "
          f"({100 * result['memory_growth']['rss_total']:+.2f} %), USS {s['uss_total']} -> "
          f"{e['uss_total']} ({100 * result['memory_growth']['uss_total']:+.2f} %); "
          f"goal < +{100 * MEMORY_GROWTH_LIMIT:g} %")
    main_s, main_e = s["each"]["main"], e["each"]["main"]
    print(f"    of which main process RSS {main_s['rss']} -> {main_e['rss']}")
    leaks = result["leaks"]
    print(f"  after everyone went offline: live calls {leaks['gateway_live_calls']}, "
          f"workers holding {leaks['workers_holding'] or 'nothing'}, client peer "
          f"connections open {leaks['client_open_peer_connections']}")
    rec = result["records"]
    print(f"  call records: {rec['records']} for {rec['calls']} calls; missing "
          f"{len(rec['missing'])}, not final {len(rec['not_final'])}, unexpected "
          f"{len(rec['unexpected'])}; workers restarted: {result['workers_restarted'] or 0}")
    found = problems(result)
    print("\n  " + ("PASS" if not found else "FAIL: " + "; ".join(found)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--calls", type=int, help="concurrent calls (agents)")
    parser.add_argument("--fraction", type=float, default=0.8,
                        help="of the newest measured capacity, when --calls is not given")
    parser.add_argument("--codec", choices=("opus", "pcmu"), default="opus")
    parser.add_argument("--hold", default="20-40", help="call length range, seconds")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds")
    parser.add_argument("--agents-per-worker", type=int, default=2)
    parser.add_argument("--client-procs", type=int, default=0,
                        help="load-client processes (default: as bench.capacity sizes them)")
    parser.add_argument("--client-realtime", type=priority, default=PEER_PRIORITY,
                        metavar="PRIORITY", help="the load clients' real-time priority "
                        "(0: the normal class; bench/realtime.py)")
    parser.add_argument("--far-end-realtime", type=priority, default=0, metavar="PRIORITY",
                        help="the same for SIPp, the far end")
    parser.add_argument("--nice", type=int, default=0,
                        help="niceness of the benchmark and its session (see bench.capacity)")
    parser.add_argument("--json", type=Path, help="default: bench/results/soak-TIME.json")
    args = parser.parse_args()
    set_niceness(args.nice)
    calls = args.calls
    if calls is None:
        capacity = latest_capacity(args.codec)
        if capacity is None:
            parser.error("no capacity result in bench/results: give --calls")
        calls = max(1, int(args.fraction * capacity))
    if args.client_procs <= 0:
        args.client_procs = client_processes(calls)
    if (args.client_realtime or args.far_end_realtime) and not realtime_allowed():
        parser.error(NEEDS_PERMISSION)
    low, _, high = args.hold.partition("-")
    hold = (float(low), float(high or low))
    cfg: Json = {"codec": args.codec, "hold": args.hold, "cpus": os.cpu_count(),
                 "niceness": os.getpriority(os.PRIO_PROCESS, 0), "autogroup": autogroup(),
                 "python": platform.python_version(), "load_start": load_average(),
                 "client_realtime": args.client_realtime,
                 "far_end_realtime": args.far_end_realtime,
                 "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    # The rig's options: its own, plus what Rig reads from the capacity arguments.
    rig_args = argparse.Namespace(agents_per_worker=args.agents_per_worker,
                                  client_procs=args.client_procs, late_ms=60.0,
                                  client_realtime=args.client_realtime,
                                  far_end_realtime=args.far_end_realtime)

    async def go() -> Json:
        from webrtc.ice import restrict_host_addresses

        restrict_host_addresses(["127.0.0.1"])
        with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
            rig = Rig(args.codec, calls, rig_args, Path(tmp))
            async with rig.running():
                return await soak(rig, calls, 60 * args.minutes, args.warmup, hold,
                                  progress=True)

    print(f"soak: {calls} calls for {args.minutes:g} min (load {load_average()})", flush=True)
    result = asyncio.run(go())
    cfg["load_end"] = load_average()
    print_table(result, cfg)
    path = args.json or REPO / "bench" / "results" / time.strftime("soak-%Y%m%d-%H%M%S.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"config": cfg, "result": result,
                                "problems": problems(result)}, indent=2))
    print(f"\nresults written to {path}")


if __name__ == "__main__":
    main()
