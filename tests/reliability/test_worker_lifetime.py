"""A line worker carries more calls in its life than pjsua has conference slots.

On direct media no audio goes through pjmedia, but pjsua still puts each call's idle
stream in its conference bridge, and the bridge lets a port go only on its clock's tick.
With no clock (direct media used to turn it off) every finished call kept its slot and
its stream: the worker's 255th call failed at answer with PJ_ETOOMANY (pjsua has 254
slots) and memory grew ~40 KB a call. Two agents on one worker (PCMU to the browser, so
the worker uses direct media) call a SIPp echo line through Kamailio 300 times in all;
every call must connect and the worker must be the same process at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
from pathlib import Path

from bench.call_cost import BenchAgent
from bench.capacity import Rig
from bench.soak import Tally, dial
from webrtc.ice import restrict_host_addresses

AGENTS = 2  # one worker
CALLS = 300  # more than pjsua's 254 conference slots


async def test_a_worker_carries_more_calls_than_pjsua_has_bridge_slots(
        tmp_path: Path) -> None:
    restrict_host_addresses(["127.0.0.1"])
    options = argparse.Namespace(agents_per_worker=AGENTS, client_procs=1, late_ms=60.0)
    rig = Rig("pcmu", AGENTS, options, tmp_path)
    tally = Tally()
    rng = random.Random(8)
    async with rig.running():
        assert rig.lines is not None
        agents = rig.agents[:AGENTS]
        for agent in agents:
            await agent.online()
            await agent.open_line("arrival")
        worker = rig.lines.supervisor.worker_of(agents[0].user.id)
        assert worker is not None
        assert rig.lines.supervisor.worker_of(agents[1].user.id) is worker
        pid = worker.pid

        async def calls(agent: BenchAgent) -> None:
            while len(tally.call_ids) < CALLS:
                agent.events.clear()
                call_id = await dial(agent, tally)
                if call_id is None:
                    return
                # Past the ACK before the BYE: a BYE overtaking the ACK inside
                # Kamailio makes SIPp drop the call.
                await asyncio.sleep(rng.uniform(0.1, 0.2))
                await agent.hangup(call_id)

        await asyncio.gather(*(calls(a) for a in agents))
        assert tally.failed == []
        assert tally.connected == len(tally.call_ids) >= CALLS
        assert rig.lines.supervisor.worker_of(agents[0].user.id) is worker
        assert worker.pid == pid
