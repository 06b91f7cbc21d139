"""The presented number: an agent calls out showing one of their allowed caller IDs."""

from __future__ import annotations

from crm import call_records, sip_accounts
from gateway import signalling
from tests.conftest import ECHO, Lab
from tests.integration.conftest import Gateway
from tests.support.gateway import Agent

ALLOWED = ("+34911000111", "+48221234567")


async def agent_with_caller_ids(gateway: Gateway) -> Agent:
    agent = await gateway.agent("ines", extension="1001")
    await sip_accounts.set_account(gateway.db, gateway.box, agent.user.id, extension="1001",
                                   display_name="Ines", caller_ids=ALLOWED)
    return agent


async def test_the_chosen_caller_id_reaches_the_far_end_and_the_record(
        gateway: Gateway, lab: Lab) -> None:
    agent = await agent_with_caller_ids(gateway)
    await agent.online()
    offered = await agent.wait_event(lambda e: e["type"] == "caller_ids")
    assert offered["numbers"] == list(ALLOWED)

    mark = len(agent.events)
    await agent.send(signalling.Dial(target=ECHO, caller_id=ALLOWED[1]))
    call = await agent.wait_call("connected", since=mark)
    assert await agent.rtc.wait_hears(1000)  # the echo line: a real, working call
    await agent.send(signalling.Hangup(call_id=call["call_id"]))
    await agent.wait_call("ended", since=mark)

    # What the line behind Kamailio received: the identity we asked for, and the From
    # the PBX authenticated (the extension) untouched.
    seen = lab.lines[ECHO].wait(10)
    assert seen.ok
    invite = seen.log.replace("\r\n", "\n").split("INVITE sip:", 1)[1].split("\n\n", 1)[0]
    assert f"P-Asserted-Identity: <sip:{ALLOWED[1]}@" in invite
    assert "From: " in invite and "sip:1001@" in invite.split("From: ", 1)[1].split("\n")[0]
    record = await call_records.get(gateway.db, call["call_id"])
    assert record is not None and record.local_number == ALLOWED[1]


async def test_a_caller_id_not_granted_is_refused_and_nothing_is_dialled(
        gateway: Gateway) -> None:
    agent = await agent_with_caller_ids(gateway)
    await agent.online()
    for number in ("+15550000000", "=cmd|' /C calc'!A0", "1001"):
        mark = len(agent.events)
        await agent.send(signalling.Dial(target=ECHO, caller_id=number))
        error = await agent.wait_event(lambda e: e["type"] in ("error", "call"), since=mark)
        assert error["type"] == "error" and error["code"] == "caller_id_not_allowed"
    assert gateway.lines.active_calls() == 0
    # Without a choice the extension is presented, as before.
    mark = len(agent.events)
    call_id = await agent.dial(ECHO)
    await agent.wait_call("connected", since=mark)
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_call("ended", since=mark)
    record = await call_records.get(gateway.db, call_id)
    assert record is not None and record.local_number == "1001"
