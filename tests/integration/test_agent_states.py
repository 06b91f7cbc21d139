"""Agent states against real peers: a paused or logged-out agent's extension answers busy
to a SIPp caller through Kamailio; the keypad's agent codes change the state."""

from __future__ import annotations

import asyncio

from crm import agent_state_store, call_records, pause_codes
from crm.agent_states import Status
from gateway import signalling
from tests.conftest import Lab
from tests.integration.conftest import Gateway
from tests.lab.sipp import uac_call
from tests.support.gateway import Agent


async def _state(agent: Agent, status: str, since: int) -> dict[str, object]:
    return await agent.wait_event(
        lambda e: e["type"] == "agent_state" and e["status"] == status, since=since)


async def _declined_busy(gateway: Gateway, lab: Lab, agent: Agent) -> None:
    """A customer calls the agent's extension and is turned away with 486."""
    mark = len(agent.events)
    with uac_call(lab.kamailio.hostport, "1001", hold_ms=500) as customer:
        result = await asyncio.to_thread(customer.wait, 10)
    assert result.failed == 1 and result.successful == 0
    assert not [e for e in agent.events[mark:] if e["type"] == "call"], "the agent rang"
    last = (await call_records.list_for_user(gateway.db, agent.user.id, limit=1))[0]
    assert (last.direction, last.sip_code, last.hangup_side) == ("inbound", 486, "system")


async def _rings(lab: Lab, agent: Agent) -> None:
    mark = len(agent.events)
    with uac_call(lab.kamailio.hostport, "1001", hold_ms=500):
        ringing = await agent.wait_call("ringing", since=mark)
        await agent.send(signalling.RejectCall(call_id=ringing["call_id"]))
        await agent.wait_call("ended", since=mark)


async def test_pause_and_log_out_from_the_keypad_turn_callers_away(
        gateway: Gateway, lab: Lab) -> None:
    lunch = await pause_codes.create(gateway.db, "7", "Lunch", productive=False)
    agent = await gateway.agent("pia", extension="1001")
    await agent.online()
    # Going online logs the agent in.
    await _state(agent, "available", 0)
    await _rings(lab, agent)

    mark = len(agent.events)
    await agent.send(signalling.Dial(target="**27"))
    paused = await _state(agent, "paused", mark)
    assert paused["pause"] == "Lunch"
    state = await agent_state_store.get(gateway.db, agent.user.id)
    assert (state.status, state.pause_code_id) == (Status.PAUSED, lunch.id)
    await _declined_busy(gateway, lab, agent)

    mark = len(agent.events)
    await agent.send(signalling.Dial(target="**3"))
    await _state(agent, "available", mark)
    await _rings(lab, agent)

    mark = len(agent.events)
    await agent.send(signalling.Dial(target="**0"))
    await _state(agent, "logged_out", mark)
    await _declined_busy(gateway, lab, agent)
    # No call was ever placed for the codes.
    outbound = [r for r in await call_records.list_for_user(gateway.db, agent.user.id)
                if r.direction == "outbound"]
    assert outbound == []


async def test_wrong_agent_codes_are_refused_and_change_nothing(gateway: Gateway) -> None:
    await pause_codes.create(gateway.db, "7", "Lunch", productive=False)
    agent = await gateway.agent("quim", extension="1001")
    await agent.online()
    await _state(agent, "available", 0)
    for dialled, code in (("**299", "no_such_pause_code"), ("**2", "invalid_number"),
                          ("**11002", "agent_code_other_agent")):
        mark = len(agent.events)
        await agent.send(signalling.Dial(target=dialled))
        refused = await agent.wait_event(lambda e: e["type"] == "error", since=mark)
        assert refused["code"] == code and refused["message"]
    assert (await agent_state_store.get(gateway.db, agent.user.id)).status is Status.AVAILABLE
    # Going offline logs out; pausing then needs a log-in first.
    await agent.send(signalling.Offline())
    await agent.wait_line("offline")
    assert (await agent_state_store.get(gateway.db, agent.user.id)).status is Status.LOGGED_OUT


async def test_a_call_waiting_for_its_disposition_is_the_agents_wrap_up(
        gateway: Gateway) -> None:
    from crm import call_work, clock, disposition_catalog
    from crm.dispositions import Submission, WrapUp
    from tests.conftest import ECHO

    await disposition_catalog.set_must_disposition(gateway.db, True)
    agent = await gateway.agent("rui", extension="1001")
    await agent.online()
    await _state(agent, "available", 0)
    call_id = await agent.dial(ECHO)
    await agent.wait_call("connected")
    mark = len(agent.events)
    await agent.send(signalling.Hangup(call_id=call_id))
    await _state(agent, "wrap_up", mark)
    assert (await agent_state_store.get(gateway.db, agent.user.id)).status is Status.WRAP_UP

    mark = len(agent.events)
    await call_work.finish(gateway.db, call_id, Submission(wrap_up=WrapUp.VOICEMAIL),
                           clock.utc_now())
    await gateway.lines.work_changed(agent.user.id)
    await _state(agent, "available", mark)
