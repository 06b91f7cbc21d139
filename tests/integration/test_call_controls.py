"""In-call controls against a real pjsua2 phone: DTMF (RFC 4733) and hold with music."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from crm import call_records
from gateway import signalling
from tests.conftest import AGENTS, ECHO, NO_ANSWER, Lab
from tests.integration.conftest import Gateway
from tests.lab.phone import Phone
from tests.support.gateway import Agent

PHONE_TONE = 1500
MUSIC = 440


@pytest.fixture
def phone(lab: Lab) -> Iterator[Phone]:
    with Phone("customer", tone_hz=PHONE_TONE, auto_answer=True) as phone:
        assert phone.register("1003", AGENTS["1003"], lab.kamailio.hostport) == 200
        yield phone


async def connected_call(gateway: Gateway) -> tuple[Agent, str]:
    agent = await gateway.agent("rosa", extension="1001", tone=1000)
    await agent.online()
    call_id = await agent.dial("1003")
    await agent.wait_call("connected")
    return agent, call_id


@pytest.mark.parametrize("sip_media", ["pjmedia", "direct"])
async def test_dtmf_reaches_the_far_end(gateway: Gateway, phone: Phone) -> None:
    agent, call_id = await connected_call(gateway)
    await agent.send(signalling.Dtmf(call_id=call_id, digits="12*#"))
    await agent.send(signalling.Dtmf(call_id=call_id, digits="9d"))
    for _ in range(50):
        if await asyncio.to_thread(phone.dtmf_received) == "12*#9D":
            break
        await asyncio.sleep(0.1)
    assert await asyncio.to_thread(phone.dtmf_received) == "12*#9D"
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_call("ended")


@pytest.mark.parametrize("sip_media", ["pjmedia", "direct"])
async def test_hold_plays_music_and_unhold_restores_audio(gateway: Gateway,
                                                          phone: Phone) -> None:
    agent, call_id = await connected_call(gateway)
    assert await asyncio.to_thread(phone.wait_hears, 1000, 5)

    mark = len(agent.events)
    await agent.send(signalling.Hold(call_id=call_id))
    held = await agent.wait_event(lambda e: e["type"] == "call" and e["held"], since=mark)
    assert held["state"] == "connected"
    await asyncio.to_thread(phone.wait_remote_hold, True)  # re-INVITE with sendonly
    # The caller hears music, not the agent; the agent hears nothing of the caller.
    assert await asyncio.to_thread(phone.wait_hears, MUSIC, 5)
    assert not await asyncio.to_thread(phone.hears, 1000)
    assert await agent.rtc.wait_silence(PHONE_TONE)

    mark = len(agent.events)
    await agent.send(signalling.Unhold(call_id=call_id))
    await agent.wait_event(lambda e: e["type"] == "call" and not e["held"], since=mark)
    assert await asyncio.to_thread(phone.wait_hears, 1000, 5)
    assert await agent.rtc.wait_hears(PHONE_TONE)
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_call("ended")


async def test_bad_controls_get_clear_errors_and_leave_the_call_alone(
        gateway: Gateway, phone: Phone) -> None:
    agent, call_id = await connected_call(gateway)
    for command, code in (
        (signalling.Hold(call_id="nope"), "no_such_call"),
        (signalling.Dtmf(call_id="nope", digits="1"), "no_such_call"),
    ):
        mark = len(agent.events)
        await agent.send(command)
        error = await agent.wait_event(lambda e: e["type"] == "error", since=mark)
        assert error["code"] == code
    with pytest.raises(signalling.BadMessage) as bad:
        signalling.decode_command(f'{{"type":"dtmf","call_id":"{call_id}","digits":"12x"}}')
    assert bad.value.code == "invalid_dtmf"
    assert await agent.rtc.wait_hears(PHONE_TONE)  # the call is unharmed
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_call("ended")


async def test_hold_is_refused_before_the_answer(gateway: Gateway) -> None:
    agent = await gateway.agent("sara", extension="1001")
    await agent.online()
    call_id = await agent.dial(NO_ANSWER)
    await agent.wait_call("ringing")
    mark = len(agent.events)
    await agent.send(signalling.Hold(call_id=call_id))
    error = await agent.wait_event(lambda e: e["type"] == "error", since=mark)
    assert error["code"] == "call_not_connected"
    await agent.send(signalling.Hangup(call_id=call_id))
    assert (await agent.wait_call("ended"))["reason"] == "cancelled"


async def test_blind_transfer_sends_the_caller_on(gateway: Gateway, phone: Phone,
                                                  lab: Lab) -> None:
    agent, call_id = await connected_call(gateway)
    await agent.send(signalling.Transfer(call_id=call_id, target=ECHO))
    ended = await agent.wait_call("ended")
    assert ended["reason"] == "transferred"
    # The customer's phone followed the REFER to the echo line and hears itself there.
    await asyncio.to_thread(phone.wait_event, lambda e: e.get("event") == "transfer_request")
    assert await asyncio.to_thread(phone.wait_hears, PHONE_TONE, 8)
    record = await call_records.get(gateway.db, call_id)
    assert record is not None and record.outcome == "transferred"
    await asyncio.to_thread(phone.hangup)
    assert (await asyncio.to_thread(lab.lines[ECHO].wait, 10)).ok


async def test_transfer_to_nowhere_keeps_the_call(gateway: Gateway, phone: Phone) -> None:
    agent, call_id = await connected_call(gateway)
    mark = len(agent.events)
    await agent.send(signalling.Transfer(call_id=call_id, target="999999"))
    error = await agent.wait_event(lambda e: e["type"] == "error", since=mark, timeout=15)
    assert error["code"] == "transfer_failed"
    assert await agent.rtc.wait_hears(PHONE_TONE)  # still talking to the customer
    mark = len(agent.events)
    await agent.send(signalling.Transfer(call_id=call_id, target="not a number"))
    error = await agent.wait_event(lambda e: e["type"] == "error", since=mark)
    assert error["code"] == "invalid_number"
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_call("ended")
