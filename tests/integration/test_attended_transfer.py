"""Attended transfer against real peers: the customer (A) and the target (C) are pjsua2
lab phones registered at Kamailio; the agent is a gateway line with an aiortc peer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from crm import call_records
from gateway import signalling
from tests.conftest import AGENTS, BUSY, Lab
from tests.integration.conftest import Gateway
from tests.lab.phone import Phone
from tests.lab.tone import tone_present
from tests.support.gateway import Agent
from tests.support.rtc_client import LISTEN_RATE

AGENT_TONE, CUSTOMER_TONE, TARGET_TONE, MUSIC = 1000, 1500, 2200, 440


@pytest.fixture
def customer(lab: Lab) -> Iterator[Phone]:
    with Phone("customer", tone_hz=CUSTOMER_TONE, auto_answer=True) as phone:
        assert phone.register("1003", AGENTS["1003"], lab.kamailio.hostport) == 200
        yield phone


@pytest.fixture
def target(lab: Lab) -> Iterator[Phone]:
    with Phone("target", tone_hz=TARGET_TONE, auto_answer=True) as phone:
        assert phone.register("1002", AGENTS["1002"], lab.kamailio.hostport) == 200
        yield phone


async def consulting(gateway: Gateway, customer: Phone, to: str) -> tuple[Agent, str]:
    """The agent talks to the customer, then starts a consult call to ``to``."""
    agent = await gateway.agent("rosa", extension="1001", tone=AGENT_TONE)
    await agent.online()
    call_id = await agent.dial("1003")
    await agent.wait_call("connected")
    assert await agent.rtc.wait_hears(CUSTOMER_TONE)
    await agent.send(signalling.Consult(call_id=call_id, target=to))
    await agent.wait_event(lambda e: e["type"] == "call" and e["call_id"] == call_id
                           and e["held"])
    # The customer is on hold and hears music, not the agent.
    assert await asyncio.to_thread(customer.wait_hears, MUSIC, 5)
    return agent, call_id


def consult_event(call_id: str, state: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: bool(e["type"] == "call" and e["call_id"] == call_id
                      and e["consult_state"] == state)


@pytest.mark.parametrize("sip_media", ["pjmedia", "direct"])
async def test_complete_joins_customer_and_target(gateway: Gateway, customer: Phone,
                                                  target: Phone) -> None:
    agent, call_id = await consulting(gateway, customer, "1002")
    talking = await agent.wait_event(consult_event(call_id, "talking"))
    consult_id = talking["consult"]
    # The agent's line follows the consult call both ways.
    assert await agent.rtc.wait_hears(TARGET_TONE)
    assert await asyncio.to_thread(target.wait_hears, AGENT_TONE, 5)
    assert not await asyncio.to_thread(customer.hears, AGENT_TONE)

    await agent.send(signalling.ConsultComplete(call_id=call_id))
    ended: dict[str, str] = {}
    for _ in range(2):
        event = await agent.wait_event(
            lambda e: e["type"] == "call" and e["state"] == "ended"
            and e["call_id"] not in ended, timeout=15)
        ended[event["call_id"]] = event["reason"]
    assert ended == {call_id: "transferred", consult_id: "transferred"}
    # Customer and target now talk to each other, without the agent.
    assert await asyncio.to_thread(customer.wait_hears, TARGET_TONE, 8)
    assert await asyncio.to_thread(target.wait_hears, CUSTOMER_TONE, 8)
    for cid in (call_id, consult_id):
        record = await call_records.get(gateway.db, cid)
        assert record is not None and record.outcome == "transferred"
    await asyncio.to_thread(customer.hangup)
    await asyncio.to_thread(target.wait_event, lambda e: e.get("event") == "call_state"
                            and e.get("state") == "DISCONNECTED", 10)


async def test_go_back_returns_to_the_customer(gateway: Gateway, customer: Phone,
                                               target: Phone) -> None:
    agent, call_id = await consulting(gateway, customer, "1002")
    talking = await agent.wait_event(consult_event(call_id, "talking"))
    assert await agent.rtc.wait_hears(TARGET_TONE)
    mark = len(agent.events)
    await agent.send(signalling.ConsultBack(call_id=call_id))
    await agent.wait_event(lambda e: e["type"] == "call" and e["state"] == "ended"
                           and e["call_id"] == talking["consult"], since=mark)
    await agent.wait_event(lambda e: e["type"] == "call" and e["call_id"] == call_id
                           and not e["held"], since=mark)
    assert await agent.rtc.wait_hears(CUSTOMER_TONE)
    assert await asyncio.to_thread(customer.wait_hears, AGENT_TONE, 5)
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_event(lambda e: e["type"] == "call" and e["call_id"] == call_id
                           and e["state"] == "ended", since=mark)
    # Nothing was handed on: the customer's call is an ordinary completed call.
    record = await call_records.get(gateway.db, call_id)
    assert record is not None and record.outcome == "completed"


async def test_busy_target_leaves_the_customer_on_hold_until_back(
        gateway: Gateway, customer: Phone) -> None:
    agent, call_id = await consulting(gateway, customer, BUSY)
    error = await agent.wait_event(lambda e: e["type"] == "error", timeout=15)
    assert error["code"] == "consult_failed"
    assert await asyncio.to_thread(customer.wait_hears, MUSIC, 5)  # still held, unharmed
    mark = len(agent.events)
    await agent.send(signalling.ConsultComplete(call_id=call_id))
    refused = await agent.wait_event(lambda e: e["type"] == "error", since=mark)
    assert refused["code"] == "consult_not_connected"
    await agent.send(signalling.ConsultBack(call_id=call_id))
    await agent.wait_event(lambda e: e["type"] == "call" and e["call_id"] == call_id
                           and not e["held"], since=mark)
    assert await asyncio.to_thread(customer.wait_hears, AGENT_TONE, 5)
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_event(lambda e: e["type"] == "call" and e["call_id"] == call_id
                           and e["state"] == "ended", since=mark)


MIX = 0.2  # share of the energy one voice needs in a mix of two


async def agent_hears_in_mix(agent: Agent, freq: float, timeout: float = 5) -> bool:
    """Like ``rtc.wait_hears``, for one of several voices summed by the bridge."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        since = time.monotonic() - 0.5
        frames = [samples for at, samples in agent.rtc._heard if at >= since]
        if len(frames) >= 12 and tone_present(np.concatenate(frames), LISTEN_RATE, freq,
                                              min_ratio=MIX):
            return True
        await asyncio.sleep(0.1)  # polling interval
    return False


@pytest.mark.parametrize("sip_media", ["pjmedia", "direct"])
async def test_conference_mixes_all_three(gateway: Gateway, customer: Phone,
                                          target: Phone) -> None:
    agent, call_id = await consulting(gateway, customer, "1002")
    talking = await agent.wait_event(consult_event(call_id, "talking"))
    mark = len(agent.events)
    await agent.send(signalling.ConsultConference(call_id=call_id))
    await agent.wait_event(lambda e: e["type"] == "call" and e["call_id"] == call_id
                           and not e["held"] and e["consult_state"] == "conference", since=mark)
    # The agent hears both far ends; each far end hears the agent and the other one.
    assert await agent_hears_in_mix(agent, CUSTOMER_TONE)
    assert await agent_hears_in_mix(agent, TARGET_TONE)
    assert await asyncio.to_thread(customer.wait_hears, AGENT_TONE, 5, MIX)
    assert await asyncio.to_thread(customer.wait_hears, TARGET_TONE, 5, MIX)
    assert await asyncio.to_thread(target.wait_hears, AGENT_TONE, 5, MIX)
    assert await asyncio.to_thread(target.wait_hears, CUSTOMER_TONE, 5, MIX)
    assert not await asyncio.to_thread(customer.hears, MUSIC, MIX)  # music stopped

    # The target leaves: the agent and the customer carry on, the line back on A.
    mark = len(agent.events)
    await asyncio.to_thread(target.hangup)
    await agent.wait_event(lambda e: e["type"] == "call" and e["state"] == "ended"
                           and e["call_id"] == talking["consult"], since=mark)
    assert await agent.rtc.wait_hears(CUSTOMER_TONE)
    assert await asyncio.to_thread(customer.wait_hears, AGENT_TONE, 5)
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_event(lambda e: e["type"] == "call" and e["call_id"] == call_id
                           and e["state"] == "ended", since=mark)


async def test_the_agent_hanging_up_ends_the_conference(gateway: Gateway, customer: Phone,
                                                         target: Phone) -> None:
    agent, call_id = await consulting(gateway, customer, "1002")
    talking = await agent.wait_event(consult_event(call_id, "talking"))
    await agent.send(signalling.ConsultConference(call_id=call_id))
    await agent.wait_event(consult_event(call_id, "conference"))
    mark = len(agent.events)
    await agent.send(signalling.ConsultBack(call_id=call_id))
    refused = await agent.wait_event(lambda e: e["type"] == "error", since=mark)
    assert refused["code"] == "consult_in_conference"
    await agent.send(signalling.Hangup(call_id=talking["consult"]))
    ended: set[str] = set()
    while len(ended) < 2:
        event = await agent.wait_event(lambda e: e["type"] == "call" and e["state"] == "ended"
                                       and e["call_id"] not in ended, since=mark)
        ended.add(event["call_id"])
    assert ended == {call_id, talking["consult"]}
    await asyncio.to_thread(customer.wait_state, "DISCONNECTED", 10)


async def test_bad_consult_requests_get_clear_errors_and_leave_the_call_alone(
        gateway: Gateway, customer: Phone) -> None:
    agent = await gateway.agent("rosa", extension="1001", tone=AGENT_TONE)
    await agent.online()
    call_id = await agent.dial("1003")
    await agent.wait_call("connected")
    for command, code in (
        (signalling.Consult(call_id=call_id, target="=cmd|' /C calc'!A0"), "invalid_number"),
        (signalling.Consult(call_id=call_id, target="<script>"), "invalid_number"),
        (signalling.Consult(call_id=call_id, target=gateway.settings.echo_number),
         "invalid_transfer_target"),
        (signalling.Consult(call_id="nope", target="1002"), "no_such_call"),
        (signalling.ConsultComplete(call_id=call_id), "consult_not_connected"),
        (signalling.ConsultConference(call_id=call_id), "consult_not_connected"),
    ):
        mark = len(agent.events)
        await agent.send(command)
        error = await agent.wait_event(lambda e: e["type"] == "error", since=mark)
        assert error["code"] == code, command
    assert gateway.lines.active_calls() == 1
    assert await agent.rtc.wait_hears(CUSTOMER_TONE)  # not put on hold, still talking
    assert await asyncio.to_thread(customer.wait_hears, AGENT_TONE, 5)
    mark = len(agent.events)
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_event(lambda e: e["type"] == "call" and e["call_id"] == call_id
                           and e["state"] == "ended", since=mark)
