"""A line worker killed with SIGKILL mid-call: the agent is told, the worker comes back,
and its account is registered at Kamailio again — proven by a customer's call to the
agent's extension, which Kamailio can only route to a contact registered after the kill.
(How fast: ``python -m bench.worker_restart``; no timing is asserted here.)"""

from __future__ import annotations

import asyncio
import os
import signal

from gateway import signalling
from tests.conftest import ECHO, Lab
from tests.integration.conftest import Gateway
from tests.lab.sipp import uac_call
from tests.support.gateway import echo_call_on_worker
from tests.support.rtc_client import RtcClient


async def test_killed_worker_comes_back_registered_and_the_agent_is_told(
        gateway: Gateway, lab: Lab) -> None:
    agent = await gateway.agent("hugo", extension="1001", tone=1000)
    call = await echo_call_on_worker(gateway.lines, agent, ECHO)
    call_id, old_pid, mark = call.call_id, call.worker_pid, call.mark
    os.kill(old_pid, signal.SIGKILL)  # a worker this test's gateway started

    # Told: the call ended as interrupted, the line is registering again...
    ended = await agent.wait_call("ended", since=mark)
    assert (ended["call_id"], ended["reason"]) == (call_id, "interrupted")
    told = await agent.wait_event(
        lambda e: e["type"] == "line" and e.get("reason") == "worker_restarted", since=mark)
    assert told["state"] == "registering"
    # ...and registered, on a new worker process.
    await agent.wait_line("registered", since=mark, timeout=15)
    new_worker = gateway.lines.supervisor.worker_of(agent.user.id)
    assert new_worker is not None and new_worker.pid != old_pid

    # Kamailio routes a customer's call to the extension: the new registration is there.
    await agent.rtc.close()
    agent.rtc = RtcClient(1000)
    await agent.open_line()
    mark = len(agent.events)
    with uac_call(lab.kamailio.hostport, "1001", hold_ms=3000, tone_hz=1500) as customer:
        ringing = await agent.wait_call("ringing", since=mark)
        await agent.send(signalling.AnswerCall(call_id=ringing["call_id"]))
        await agent.wait_call("connected", since=mark)
        assert await agent.rtc.wait_hears(1500)
        assert (await agent.wait_call("ended", since=mark, timeout=15))["reason"] == "completed"
        assert (await asyncio.to_thread(customer.wait, 10)).ok
