"""One-way delay the gateway adds, each way, with and without loss on the browser leg.

    python -m bench.latency [--minutes M] [--loss 0.01] [--json out.json]

The lab: Kamailio as the PBX, a ``Lines`` gateway with a real line worker, one agent
(extension 2001, Opus to the browser, PCMU to SIP) whose aiortc peer lives in its own
process (``bench/peers.py``, its receiver releasing packets on arrival as the gateway's
does, so the client adds no jitter-buffer delay of its own), and a SIP line that is a
raw SIP + RTP end in this process (``bench/sip_wire.py``, ``bench/rtp_peer.py``).

One call, alternating 200 ms tone bursts each way:

  up    browser -> SIP: the burst's first frame handed to the client's encoder ->
        its onset found in the RTP arriving at the SIP end;
  down  SIP -> browser: the burst's first RTP packet sent by the SIP end -> its onset
        found in the audio the client's track returns.

First ``--minutes`` with no loss, then as long with ``--loss`` of the client's outgoing
RTP dropped (the uplink the gateway's receiver must cope with). p50/p95 per direction,
and p95 per minute so creep shows. All clocks are CLOCK_MONOTONIC on this host.

Baselines in the same run, with no Headset code: the same burst measurement through a
bare aiortc pair (Opus, release on arrival, same loss) one way, and through a bare
pjsua2 call (the lab phone, PCMU) to the same raw SIP + RTP end, each way (its tone's
first frame handed to pjsua's bridge -> onset on the wire; a burst's first packet ->
onset in the frames pjsua's bridge hands the phone). Their sum is the path with no
gateway; what Headset measures above it is what the gateway adds.

Where the time goes: the line worker records per-frame stage delays
(``HEADSET_MEDIA_TIMING``, ``webrtc/media_timing.py``); the table after the figures gives
each stage's mean and p95 per phase, and what the stages leave unexplained of the
end-to-end mean (codecs, pjmedia's jitter buffer and bridge, the client, the network).

Creep: p95 per minute of each phase and its least-squares slope (ms per minute); the
load average is printed with the figures, since this shared machine's load moves them.

The SIP leg's jitter buffer (``sip_bridge/jitter_buffer.py``): ``--sip-jb
INIT,MIN_PRE,MAX_PRE,MAX`` (ms) tries other settings on the measured gateway, and then a
second gateway, identical but for pjmedia's default settings (``HEADSET_SIP_JB=pjmedia``
in its worker's environment), carries a second call whose down bursts are interleaved
with the first's, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from bench.call_cost import BenchAgent, Peers, percentiles
from bench.rtp_peer import RtpPeer
from bench.sip_wire import SipWire
from crm.db import open_database
from crm.secret_key import load_or_create_key
from gateway.lines import Lines
from sip_bridge import jitter_buffer
from tests.conftest import gateway_settings
from tests.lab.kamailio import Kamailio
from tests.lab.phone import Phone
from tests.support.gateway import make_agent_user
from webrtc import media_timing
from webrtc.ice import restrict_host_addresses

Json = dict[str, Any]
AGENT_EXT, AGENT_PW = "2001", "pw-2001-latency"
PHONE_EXT, PHONE_PW = "2999", "pw-2999-latency"
TONE = 1000.0
LINE_NUMBER = "5555000"
BURST_FRAMES = 10
TIMEOUT = 3.0
GOALS_P95_MS = {"no_loss": 30, "loss": 40}


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` set in this process while a gateway's worker starts (it inherits it)."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.asynccontextmanager
async def _call(tmp: Path, env: dict[str, str]) -> AsyncIterator[tuple[BenchAgent, Peers, RtpPeer]]:
    media = RtpPeer()
    await media.start()
    line = SipWire(media=media)
    await line.start()
    peers = Peers()
    await peers.start()
    agent: BenchAgent | None = None
    try:
        with Kamailio(users={AGENT_EXT: AGENT_PW}, routes={LINE_NUMBER: line.hostport}) as kam:
            settings = gateway_settings(tmp, kam.hostport)
            db = await open_database(settings.database_path)
            box = load_or_create_key(tmp)
            lines = Lines(settings, db, box, lambda lang, key: key)
            await lines.start()
            try:
                user = await make_agent_user(db, box, "latency", AGENT_EXT, AGENT_PW)
                agent = BenchAgent(lines, user, peers, 0)
                # The worker (and the launcher it is forked from) starts here.
                with _environment(env):
                    await agent.online()
                await agent.open_line("arrival")
                await peers.call("continuous", k=0, on=False)
                call_id = await agent.dial(LINE_NUMBER)
                yield agent, peers, media
                await agent.hangup(call_id)
            finally:
                if agent is not None:
                    await agent.close()
                await lines.close()
                await db.close()
    finally:
        await peers.close()
        line.close()
        await media.close()


async def up(peers: Peers, media: RtpPeer) -> float | None:
    heard = media.listener.expect_onset(time.monotonic())
    sent = (await peers.call("burst", k=0, frames=BURST_FRAMES))["sent"]
    try:
        onset = await asyncio.wait_for(heard, TIMEOUT)
    except TimeoutError:
        return None
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(media.listener.expect_quiet(), TIMEOUT)
    return 1000 * (onset - sent)


async def down(peers: Peers, media: RtpPeer) -> float | None:
    listening = asyncio.get_running_loop().create_task(peers.call(
        "onset", k=0, not_before=time.monotonic(), within=TIMEOUT))
    sent = await media.burst(BURST_FRAMES)
    onset = (await listening)["onset"]
    await peers.call("quiet", k=0, within=TIMEOUT)
    return None if onset is None else 1000 * (onset - sent)


Measure = Callable[[], Awaitable[float | None]]


async def phase(measures: dict[str, Measure], minutes: float) -> Json:
    """Take each of ``measures`` in turn for ``minutes``; overall and per-minute figures."""
    start = time.monotonic()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in measures}
    misses = dict.fromkeys(measures, 0)
    load: list[float] = []
    while time.monotonic() - start < 60 * minutes:
        if len(load) <= (time.monotonic() - start) // 60:
            load.append(round(os.getloadavg()[0], 1))
        for name, measure in measures.items():
            try:
                ms = await measure()
            except TimeoutError:
                # The peers' process did not answer in time (this shared machine starved
                # it): a miss, not the end of a ten-minute run.
                ms = None
            if ms is None:
                misses[name] += 1
            else:
                samples[name].append((time.monotonic() - start, ms))
    out: Json = {"window": [start, time.monotonic()], "load_per_minute": load}
    for name, got in samples.items():
        per_minute = []
        for m in range(max(1, round(minutes))):
            bucket = [ms for t, ms in got if m * 60 <= t < (m + 1) * 60]
            per_minute.append(percentiles(bucket).get("p95"))
        out[name] = percentiles([ms for _, ms in got]) | {
            "mean": round(sum(ms for _, ms in got) / len(got), 1) if got else None,
            "misses": misses[name], "p95_per_minute": per_minute,
            "p95_slope_ms_per_min": slope(per_minute)}
    return out


def slope(per_minute: list[float | None]) -> float | None:
    """Least-squares slope of the per-minute p95s, ms per minute (creep if positive)."""
    points = [(m, v) for m, v in enumerate(per_minute) if v is not None]
    if len(points) < 2:
        return None
    mx = sum(m for m, _ in points) / len(points)
    my = sum(v for _, v in points) / len(points)
    var = sum((m - mx) ** 2 for m, _ in points)
    return round(sum((m - mx) * (v - my) for m, v in points) / var, 2)


def stage_breakdown(path: Path, windows: dict[str, list[float]]) -> Json:
    """The worker's stage histograms summed over each phase's window."""
    per_phase: dict[str, dict[str, dict[int, int]]] = {ph: {} for ph in windows}
    if path.exists():
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            for ph, (start, end) in windows.items():
                # A dump covers the DUMP_EVERY seconds before its time.
                if start + media_timing.DUMP_EVERY <= entry["t"] <= end:
                    media_timing.merge(per_phase[ph], entry["stages"])
    return {ph: {stage: media_timing.summary(bins.get(stage, {}))
                 for stage in media_timing.STAGES} for ph, bins in per_phase.items()}


async def headset(minutes: float, loss: float, tmp: Path, sip_jb: str) -> Json:
    timing_file = tmp / "media-timing.jsonl"
    # Read by the line workers (forked from the launcher, which inherits the environment
    # the gateway starts in): stage timing on the measured gateway only.
    env = {media_timing.ENV: str(timing_file), jitter_buffer.ENV: sip_jb}
    async with contextlib.AsyncExitStack() as stack:
        _, peers, media = await stack.enter_async_context(_call(tmp / "headset", env))
        measures: dict[str, Measure] = {"up": lambda: up(peers, media),
                                        "down": lambda: down(peers, media)}
        jb_compare = bool(sip_jb)
        if jb_compare:
            _, peers_b, media_b = await stack.enter_async_context(
                _call(tmp / "pjmedia-jb", {jitter_buffer.ENV: "pjmedia", media_timing.ENV: ""}))
            measures["down_pjmedia_jb"] = lambda: down(peers_b, media_b)
        # A moment of audio both ways first, so both ends' buffers are in their
        # steady state.
        for measure in measures.values():
            await measure()
        result: Json = {"no_loss": await phase(measures, minutes)}
        await peers.call("loss", k=0, rate=loss)
        if jb_compare:
            await peers_b.call("loss", k=0, rate=loss)
        result["loss"] = await phase(measures, minutes)
        result["sip_packets_received"] = media.received
        # The last dump of the loss phase.
        await asyncio.sleep(media_timing.DUMP_EVERY + 0.5)
    result["stages"] = stage_breakdown(
        timing_file, {ph: result[ph].pop("window") for ph in ("no_loss", "loss")})
    return result


async def baseline(count: int, loss: float) -> Json:
    """A bare aiortc pair one way (no loss, and ``loss``), and a bare pjsua2 call to the
    same raw SIP + RTP end, each way."""
    peers = Peers()
    await peers.start()
    out: Json = {}
    try:
        for name, rate in (("no_loss", 0.0), ("loss", loss)):
            r = await peers.call("one_way_pair", codec="opus", count=count, loss=rate,
                                 timeout=count * 2 * TIMEOUT + 30)
            out[f"aiortc_{name}"] = percentiles(r["ms"]) | {"misses": r["misses"]}
    finally:
        await peers.close()
    out["pjsua2"] = await pjsua2_one_way(count)
    return out


async def pjsua2_one_way(count: int) -> Json:
    """The lab's pjsua2 phone (PCMU) in a call with the raw SIP + RTP end: its tone's
    first frame handed to the bridge -> onset in the RTP that arrives (up), and an RTP
    burst's first packet -> onset in the frames the bridge hands the phone (down)."""
    media = RtpPeer()
    await media.start()
    line = SipWire(media=media)
    await line.start()
    ms: dict[str, list[float]] = {"up": [], "down": []}
    misses = {"up": 0, "down": 0}
    try:
        with Kamailio(users={PHONE_EXT: PHONE_PW}, routes={LINE_NUMBER: line.hostport}) as kam, \
                Phone("latency-baseline", tone_hz=0) as phone:
            if await asyncio.to_thread(phone.register, PHONE_EXT, PHONE_PW, kam.hostport) != 200:
                raise RuntimeError("baseline phone did not register")
            await asyncio.to_thread(phone.call, f"sip:{LINE_NUMBER}@{kam.hostport}")
            await asyncio.to_thread(phone.wait_state, "CONFIRMED", 10)
            await asyncio.to_thread(phone.wait_event, lambda e: e.get("event") == "media", 10)
            for _ in range(count):
                heard = media.listener.expect_onset(time.monotonic())
                await asyncio.to_thread(phone.request, "tone", freq=TONE)
                try:
                    onset = await asyncio.wait_for(heard, TIMEOUT)
                    out_at = (await asyncio.to_thread(phone.request, "probe"))["tone_out_at"]
                except TimeoutError:
                    out_at = None
                if out_at is None:
                    misses["up"] += 1
                else:
                    ms["up"].append(1000 * (onset - out_at))
                await asyncio.to_thread(phone.request, "tone", freq=0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(media.listener.expect_quiet(), TIMEOUT)

                await asyncio.to_thread(phone.request, "listen")
                sent = await media.burst(BURST_FRAMES)
                deadline = time.monotonic() + TIMEOUT
                arrived = None
                while arrived is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)  # polling the phone's probe
                    arrived = (await asyncio.to_thread(phone.request, "probe"))["tone_in_at"]
                if arrived is None:
                    misses["down"] += 1
                else:
                    ms["down"].append(1000 * (arrived - sent))
                while media.bursting:
                    await asyncio.sleep(0.02)  # one packet time: the burst is ending
            await asyncio.to_thread(phone.hangup)
            await asyncio.to_thread(phone.wait_state, "DISCONNECTED", 10)
    finally:
        line.close()
        await media.close()
    return {d: percentiles(v) | {"misses": misses[d]} for d, v in ms.items()}


def print_table(results: Json) -> None:
    cfg = results["config"]
    base = results["baseline"]
    print(f"\nOne-way delay, ms ({cfg['minutes']} min per phase, loss phase drops "
          f"{100 * cfg['loss']:.0f} % of the browser's RTP; {cfg['cpus']} CPUs, "
          f"Python {cfg['python']}; load average {cfg['load_start']} at the start, "
          f"{cfg.get('load_end')} at the end)\n")
    print(f"  {'phase / direction':20}{'p50':>7}{'p95':>7}{'max':>7}{'n':>5}{'miss':>5}"
          f"{'bare p50':>10}{'bare p95':>10}{'x p95':>7}{'added p50':>11}{'added p95':>11}"
          f"{'goal':>6}")
    for ph in ("no_loss", "loss"):
        for direction in ("up", "down"):
            r = results["headset"][ph][direction]
            bare = bare_path(base, ph, direction)
            ratio = round(r["p95"] / bare["p95"], 1) if r.get("p95") and bare["p95"] else "-"
            added = {q: round(r[q] - bare[q], 1) if r.get(q) is not None else "-"
                     for q in ("p50", "p95")}
            print(f"  {ph + ' / ' + direction:20}{r.get('p50', '-'):>7}{r.get('p95', '-'):>7}"
                  f"{r.get('max', '-'):>7}{r['n']:>5}{r['misses']:>5}{bare['p50']:>10}"
                  f"{bare['p95']:>10}{ratio!s:>7}{added['p50']!s:>11}{added['p95']!s:>11}"
                  f"{GOALS_P95_MS[ph]:>6}")
    print("\n  p95 per minute (creep), and its slope in ms per minute:")
    for ph in ("no_loss", "loss"):
        for direction in ("up", "down"):
            r = results["headset"][ph][direction]
            print(f"    {ph + ' / ' + direction:20}{r['p95_per_minute']}  slope "
                  f"{r.get('p95_slope_ms_per_min')}")
        print(f"    {ph + ' 1-min load':20}{results['headset'][ph].get('load_per_minute')}")
    print_jb_compare(results)
    print_stages(results["headset"])
    print("\n  Baselines, measured in this run:")
    for key in ("aiortc_no_loss", "aiortc_loss"):
        b = base[key]
        print(f"    bare aiortc pair one way, {key[7:]:8} p50 {b.get('p50')}  p95 "
              f"{b.get('p95')}  (n {b['n']}, miss {b['misses']})")
    for direction in ("up", "down"):
        b = base["pjsua2"][direction]
        print(f"    bare pjsua2 call (PCMU) {direction:4}      p50 {b.get('p50')}  p95 "
              f"{b.get('p95')}  (n {b['n']}, miss {b['misses']})")
    print("  up: browser -> SIP; down: SIP -> browser. bare = aiortc pair one way + pjsua2 "
          "call the same way;\n  added = Headset - bare (p95 - p95 is only indicative), "
          "the goal is on it.")


def print_jb_compare(results: Json) -> None:
    """Down bursts through the same gateway with Headset's and with pjmedia's default
    jitter buffer on the SIP leg, interleaved in the same run."""
    if "down_pjmedia_jb" not in results["headset"]["no_loss"]:
        return
    print(f"\n  SIP leg's jitter buffer, down (SIP -> browser), bursts interleaved in this "
          f"run:\n    measured gateway's settings {results['config']['sip_jb']} (init, "
          f"min/max prefetch, capacity; ms)")
    print(f"    {'phase':10}{'tried p50':>13}{'p95':>7}{'pjmedia p50':>13}{'p95':>7}"
          f"{'saved p50':>11}{'p95':>7}")
    for ph in ("no_loss", "loss"):
        ours, theirs = results["headset"][ph]["down"], results["headset"][ph]["down_pjmedia_jb"]
        saved = {q: round(theirs[q] - ours[q], 1) if ours.get(q) is not None
                 and theirs.get(q) is not None else "-" for q in ("p50", "p95")}
        print(f"    {ph:10}{ours.get('p50', '-')!s:>13}{ours.get('p95', '-')!s:>7}"
              f"{theirs.get('p50', '-')!s:>13}{theirs.get('p95', '-')!s:>7}"
              f"{saved['p50']!s:>11}{saved['p95']!s:>7}")


def print_stages(headset_results: Json) -> None:
    """Where the milliseconds go inside the worker (means and p95s of per-frame delays)."""
    stages = headset_results.get("stages")
    if not stages:
        return
    print("\n  Inside the line worker, per 20 ms frame (ms, mean / p95):")
    print(f"    {'stage':14}" + "".join(f"{ph:>18}" for ph in stages))
    for stage in media_timing.STAGES:
        cells = []
        for ph in stages:
            st = stages[ph][stage]
            cells.append(f"{st['mean']:>8} / {st['p95']:<7}" if st.get("n") else f"{'-':>18}")
        print(f"    {stage:14}" + "".join(f"{c:>18}" for c in cells))
    for direction, names in (("up", ("up.decode", "up.resample", "up.queue")),
                             ("down", ("down.queue", "down.send"))):
        cells = []
        for ph in stages:
            seen = sum(stages[ph][n].get("mean", 0) for n in names)
            total = headset_results[ph][direction].get("mean")
            cells.append(f"{round(total - seen, 1) if total is not None else '-':>8}")
        print(f"    {direction + ' unseen':14}" + "".join(f"{c:>18}" for c in cells))
    print("    unseen = end-to-end mean - the stages' means: codecs, pjmedia's jitter buffer,\n"
          "    bridge and resampling, aiortc on the client, the network, tone detection.")


def bare_path(base: Json, phase_name: str, direction: str) -> Json:
    """What the same path costs with no Headset code: aiortc one way + pjsua2 one way."""
    a, p = base[f"aiortc_{phase_name}"], base["pjsua2"][direction]
    return {q: round(a[q] + p[q], 1) if a.get(q) is not None and p.get(q) is not None
            else None for q in ("p50", "p95")}


async def run(args: argparse.Namespace) -> Json:
    restrict_host_addresses(["127.0.0.1"])
    results: Json = {"config": {"minutes": args.minutes, "loss": args.loss,
                                "cpus": os.cpu_count(), "python": platform.python_version(),
                                "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                "load_start": _load()}}
    t0 = time.monotonic()
    results["config"]["sip_jb"] = str(jitter_buffer.chosen({jitter_buffer.ENV: args.sip_jb}))
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        results["headset"] = await headset(args.minutes, args.loss, Path(tmp), args.sip_jb)
    if args.json:  # the long part is done: keep it whatever happens next
        args.json.write_text(json.dumps(results, indent=2))
    count = max(20, min(100, results["headset"]["no_loss"]["up"].get("n", 0) // 4))
    results["baseline"] = await baseline(count, args.loss)
    results["config"]["elapsed_s"] = round(time.monotonic() - t0, 1)
    results["config"]["load_end"] = _load()
    return results


def _load() -> list[float]:
    """The 1, 5 and 15 minute load averages (as ``uptime`` prints them)."""
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=1.0, help="length of each phase")
    parser.add_argument("--loss", type=float, default=0.01, help="uplink loss, 0..1")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--sip-jb", default="", metavar="INIT,MIN_PRE,MAX_PRE,MAX",
                        help="jitter-buffer settings (ms, -1 for pjmedia's default) for the "
                        "measured gateway's SIP leg, compared with pjmedia's defaults in "
                        "the same run (sip_bridge/jitter_buffer.py)")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
