"""How long call set-up takes through Headset, step by step, with a bare pjsua2 baseline.

    python -m bench.setup_times [--calls N] [--json out.json]

The lab: Kamailio as the PBX, a ``Lines`` gateway with a real line worker and one agent
(extension 2001) whose aiortc peer lives in its own process (``bench/peers.py``), and a
raw SIP far end on a UDP socket of this process (``bench/sip_wire.py``) that stamps
what it sends and receives. A CRM contact owns the caller's number.

Three steps, N times each (p50/p95, ms, all clocks CLOCK_MONOTONIC on this host):

  dial   the ``dial`` command handed to the gateway's control plane (``Lines.handle``,
         as the /ws handler does after decoding the frame) -> the INVITE arriving at the
         far end (through Kamailio; the far end answers 486 so the call ends at once);
  ring   the far end's INVITE (via Kamailio) leaving -> the tab's ``call`` event,
         state ringing, carrying the contact's name;
  answer the ``answer`` command handed to ``Lines.handle`` -> the 200 OK arriving at
         the caller.

Baseline in the same run: a pjsua2 soft phone (``tests/lab/phone.py``, its own process,
driven over a pipe like a worker is) registered at the same Kamailio: ``call`` command
-> INVITE on the wire; INVITE sent -> the parent learns of the incoming call; ``answer``
command -> 200 OK on the wire. (A bare aiortc pair has no per-call set-up to compare:
Headset keeps one peer connection per agent, so calls pay no ICE/DTLS.)
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
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bench.call_cost import BenchAgent, Peers, percentiles
from bench.sip_wire import SipWire
from crm import contacts
from crm.db import open_database
from crm.secret_key import load_or_create_key
from gateway import signalling
from gateway.lines import Lines
from tests.conftest import gateway_settings
from tests.lab.kamailio import Kamailio
from tests.lab.phone import Phone
from tests.support.gateway import make_agent_user
from webrtc.ice import restrict_host_addresses

Json = dict[str, Any]
AGENT_EXT, AGENT_PW = "2001", "pw-2001-setup"
PHONE_EXT, PHONE_PW = "2999", "pw-2999-setup"
BUSY_NUMBER = "5554000"
CALLER = "34911234567"
CONTACT = "Lucía Fernández"
GOALS_MS = {"dial": 50, "ring": 100, "answer": 50}
IOQUEUE_KEY_FREE_S = 0.6  # pjlib holds a closed socket's ioqueue slot 500 ms


class TimedAgent(BenchAgent):
    """A bench agent that also notes when each event reached the tab."""

    def __init__(self, *args: Any) -> None:
        self.arrived: list[float] = []
        super().__init__(*args)

    async def _read(self) -> None:
        while (text := await self.session.outbox.get()) is not None:
            self.arrived.append(time.monotonic())
            self.events.append(json.loads(text))
            self._changed.set()

    async def event_time(self, match: Callable[[Any], bool], since: int,
                         timeout: float = 10) -> tuple[Any, float]:
        event = await self.wait_event(match, timeout, since)
        return event, self.arrived[self.events.index(event, since)]


async def headset(calls: int, tmp: Path) -> Json:
    far = SipWire(busy=True)
    caller = SipWire()
    await far.start()
    await caller.start()
    times: dict[str, list[float]] = {"dial": [], "ring": [], "answer": []}
    names_ok = 0
    try:
        with Kamailio(users={AGENT_EXT: AGENT_PW}, routes={BUSY_NUMBER: far.hostport}) as kam:
            async with _gateway(tmp, kam.hostport) as agent:
                for _ in range(calls):
                    # The worker paces dials (8 per 0.5 s, sip_bridge/socket_pacer.py) for
                    # the same ioqueue reason as the baseline below; paced alike, each
                    # dial measures the set-up and not its turn in the pacer.
                    await asyncio.sleep(IOQUEUE_KEY_FREE_S)
                    # dial -> INVITE on the wire
                    seen = len(far.invites)
                    mark = len(agent.events)
                    t0 = time.monotonic()
                    await agent.send(signalling.Dial(target=BUSY_NUMBER))
                    await far.wait(lambda s=seen: len(far.invites) > s)  # type: ignore[misc]
                    times["dial"].append(far.invites[seen].at - t0)
                    await agent.wait_event(lambda e: e["type"] == "call"
                                           and e["state"] == "ended", since=mark)
                    # INVITE in -> ringing with the contact's name
                    mark = len(agent.events)
                    dialog = caller.invite(kam.hostport, AGENT_EXT, CALLER)
                    ringing, rang_at = await agent.event_time(
                        lambda e: e["type"] == "call" and e["state"] == "ringing", mark)
                    times["ring"].append(rang_at - dialog.invite_sent)
                    names_ok += ringing.get("remote_name") == CONTACT
                    # answer -> 200 OK at the caller
                    t0 = time.monotonic()
                    await agent.send(signalling.AnswerCall(call_id=ringing["call_id"]))
                    await caller.wait(lambda d=dialog: d.first(  # type: ignore[misc]
                        lambda r: r.method == "INVITE" and r.status == 200) is not None)
                    ok = dialog.first(lambda r: r.method == "INVITE" and r.status == 200)
                    assert ok is not None
                    times["answer"].append(ok.at - t0)
                    await agent.wait_event(lambda e: e["type"] == "call"
                                           and e["state"] == "connected", since=mark)
                    caller.bye(dialog)
                    await agent.wait_event(lambda e: e["type"] == "call"
                                           and e["state"] == "ended", since=mark)
    finally:
        far.close()
        caller.close()
    out: Json = {step: percentiles([1000 * t for t in ts]) for step, ts in times.items()}
    out["ringing_with_contact_name"] = f"{names_ok}/{calls}"
    return out


@contextlib.asynccontextmanager
async def _gateway(tmp: Path, registrar: str) -> AsyncIterator[TimedAgent]:
    settings = gateway_settings(tmp, registrar)
    db = await open_database(settings.database_path)
    box = load_or_create_key(tmp)
    await contacts.create_contact(db, contacts.ContactDraft(
        kind=contacts.ContactKind.PERSON, name=CONTACT,
        phones=(contacts.ContactPhone(label=contacts.PhoneLabel.MOBILE,
                                      e164=f"+{CALLER}"),)))
    lines = Lines(settings, db, box, lambda lang, key: key)
    await lines.start()
    peers = Peers()
    await peers.start()
    agent: TimedAgent | None = None
    try:
        user = await make_agent_user(db, box, "setup", AGENT_EXT, AGENT_PW)
        agent = TimedAgent(lines, user, peers, 0)
        await agent.online()
        await agent.open_line("arrival")
        yield agent
    finally:
        if agent is not None:
            await agent.close()
        await peers.close()
        await lines.close()
        await db.close()


async def baseline(calls: int) -> Json:
    far = SipWire(busy=True)
    caller = SipWire()
    await far.start()
    await caller.start()
    times: dict[str, list[float]] = {"dial": [], "ring": [], "answer": []}
    try:
        with Kamailio(users={PHONE_EXT: PHONE_PW}, routes={BUSY_NUMBER: far.hostport}) as kam, \
                Phone("baseline", auto_answer=False) as phone:
            code = await asyncio.to_thread(phone.register, PHONE_EXT, PHONE_PW, kam.hostport)
            if code != 200:
                raise RuntimeError(f"baseline phone registration: {code}")
            for _ in range(calls):
                seen = len(far.invites)
                t0 = time.monotonic()
                await asyncio.to_thread(phone.call, f"sip:{BUSY_NUMBER}@{kam.hostport}")
                await far.wait(lambda s=seen: len(far.invites) > s)  # type: ignore[misc]
                times["dial"].append(far.invites[seen].at - t0)
                await asyncio.to_thread(phone.wait_state, "DISCONNECTED", 10)

                before = len([e for e in phone.events() if e.get("event") == "incoming"])
                dialog = caller.invite(kam.hostport, PHONE_EXT, CALLER)
                rang_at = await asyncio.to_thread(_incoming_time, phone, before)
                times["ring"].append(rang_at - dialog.invite_sent)
                t0 = time.monotonic()
                await asyncio.to_thread(phone.answer)
                await caller.wait(lambda d=dialog: d.first(  # type: ignore[misc]
                    lambda r: r.method == "INVITE" and r.status == 200) is not None)
                ok = dialog.first(lambda r: r.method == "INVITE" and r.status == 200)
                assert ok is not None
                times["answer"].append(ok.at - t0)
                await asyncio.to_thread(phone.wait_state, "CONFIRMED", 10)
                caller.bye(dialog)
                await asyncio.to_thread(phone.wait_state, "DISCONNECTED", 10)
                # The bare phone closes each call's RTP sockets but pjlib keeps their
                # ioqueue slots for PJ_IOQUEUE_KEY_FREE_DELAY (500 ms): thirty calls in a
                # row ran out of slots and aborted it (ioqueue_select.c free_list
                # assertion). Pace the baseline so each slot comes back before reuse.
                await asyncio.sleep(IOQUEUE_KEY_FREE_S)
    finally:
        far.close()
        caller.close()
    return {step: percentiles([1000 * t for t in ts]) for step, ts in times.items()}


def _incoming_time(phone: Phone, before: int) -> float:
    phone.wait_event(lambda e: e.get("event") == "incoming" and len(
        [x for x in phone.events() if x.get("event") == "incoming"]) > before, 10)
    return time.monotonic()


def print_table(results: Json) -> None:
    cfg = results["config"]
    print(f"\nCall set-up, {cfg['calls']} calls per step, {cfg['cpus']} CPUs, "
          f"Python {cfg['python']}; ms, p50 / p95 (min-max)\n")
    print(f"  {'step':8}{'Headset':>26}{'bare pjsua2':>26}{'ratio p95':>11}{'goal p95':>10}")
    for step, goal in GOALS_MS.items():
        h, b = results["headset"][step], results["baseline"][step]
        ratio = round(h["p95"] / b["p95"], 1) if b.get("p95") else "-"
        print(f"  {step:8}{_cell(h):>26}{_cell(b):>26}{ratio!s:>11}{goal:>10}")
    print(f"\n  ringing events naming the CRM contact: "
          f"{results['headset']['ringing_with_contact_name']}")
    print("  dial: command into Lines.handle -> INVITE at the far end (via Kamailio);\n"
          "  ring: INVITE leaves the caller -> ringing event in the tab session;\n"
          "  answer: command into Lines.handle -> 200 OK at the caller.")


def _cell(r: Json) -> str:
    return f"{r['p50']} / {r['p95']} ({r['min']}-{r['max']})" if r.get("n") else "-"


async def run(args: argparse.Namespace) -> Json:
    restrict_host_addresses(["127.0.0.1"])
    results: Json = {"config": {"calls": args.calls, "cpus": os.cpu_count(),
                                "python": platform.python_version(),
                                "started": time.strftime("%Y-%m-%dT%H:%M:%S")}}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-setup-") as tmp:
        results["headset"] = await headset(args.calls, Path(tmp))
    results["baseline"] = await baseline(args.calls)
    results["config"]["elapsed_s"] = round(time.monotonic() - t0, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=30, help="calls per step")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
