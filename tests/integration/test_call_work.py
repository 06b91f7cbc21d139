""""Must disposition before the next call" against real peers: workers, Kamailio, SIPp."""

from __future__ import annotations

import asyncio

from crm import call_records, call_work, clock, disposition_catalog
from crm.dispositions import Submission, WrapUp
from gateway import signalling
from tests.conftest import ECHO, HANGS_UP, Lab
from tests.integration.conftest import Gateway
from tests.lab.sipp import uac_call


async def test_mandatory_disposition_blocks_the_next_call_until_saved(
        gateway: Gateway, lab: Lab) -> None:
    await disposition_catalog.set_must_disposition(gateway.db, True)
    agent = await gateway.agent("ana", extension="1001")
    free = await agent.wait_event(lambda e: e["type"] == "work")
    assert free["blocking_call_id"] == ""
    await agent.online()
    call_id = await agent.dial(ECHO)
    await agent.wait_call("connected")
    mark = len(agent.events)
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_call("ended", since=mark)
    blocked = await agent.wait_event(lambda e: e["type"] == "work", since=mark)
    assert blocked["blocking_call_id"] == call_id

    # Dialling is refused with its own code, and nothing is placed.
    mark = len(agent.events)
    await agent.send(signalling.Dial(target=ECHO))
    refused = await agent.wait_event(lambda e: e["type"] in ("error", "call"), since=mark)
    assert refused["type"] == "error" and refused["code"] == "disposition_required"
    assert refused["ref"] == "dial" and gateway.lines.active_calls() == 0

    # The headset test is not a customer call: still allowed.
    echo = await agent.dial(gateway.settings.echo_number)
    await agent.wait_call("connected", since=mark)
    mark = len(agent.events)
    await agent.send(signalling.Hangup(call_id=echo))
    await agent.wait_call("ended", since=mark)

    # A customer calling in meanwhile gets busy (486) from the gateway: the PBX moves on.
    mark = len(agent.events)
    with uac_call(lab.kamailio.hostport, "1001", from_user="34911234567",
                  hold_ms=500) as customer:
        result = await asyncio.to_thread(customer.wait, 15)
    assert result.successful == 0 and result.failed == 1
    assert "486" in result.log, result.log
    assert not [e for e in agent.events[mark:] if e["type"] == "call"], "a blocked agent rang"
    inbound = [r for r in await call_records.list_for_user(gateway.db, agent.user.id)
               if r.direction == "inbound"]
    assert [(r.sip_code, r.answered_at) for r in inbound] == [(486, None)]

    # "Save and finish" (what POST /api/calls/{id}/finish does) lifts the block.
    mark = len(agent.events)
    await call_work.finish(gateway.db, call_id, Submission(wrap_up=WrapUp.VOICEMAIL),
                           clock.utc_now())
    await gateway.lines.work_changed(agent.user.id)
    lifted = await agent.wait_event(lambda e: e["type"] == "work", since=mark)
    assert lifted["blocking_call_id"] == ""
    # Each lab line takes one call: this one answers and hangs up by itself.
    again = await agent.dial(HANGS_UP)
    await agent.wait_call("connected", since=mark)
    mark = len(agent.events)
    await agent.wait_call("ended", since=mark)
    # That call blocks in its turn until it is finished.
    blocked = await agent.wait_event(lambda e: e["type"] == "work", since=mark)
    assert blocked["blocking_call_id"] == again


async def test_without_the_policy_nothing_blocks(gateway: Gateway) -> None:
    agent = await gateway.agent("bea", extension="1001")
    await agent.online()
    call_id = await agent.dial(ECHO)
    await agent.wait_call("connected")
    mark = len(agent.events)
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_call("ended", since=mark)
    work = await agent.wait_event(lambda e: e["type"] == "work", since=mark)
    assert work["blocking_call_id"] == ""
    # The call still waits in the agent's unfinished list.
    rows = await call_work.unfinished(gateway.db, agent.user.id, clock.utc_now(),
                                      gateway.settings.echo_number)
    assert [r["id"] for r in rows] == [call_id]
    mark = len(agent.events)
    await agent.dial(HANGS_UP)
    await agent.wait_call("connected", since=mark)
    await agent.wait_call("ended", since=mark)
