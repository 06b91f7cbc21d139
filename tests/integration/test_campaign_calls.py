"""Queues and campaigns against real peers (workers, Kamailio, SIPp): a call in a campaign
with "must disposition" blocks the agent's next call while one in a campaign without it
does not; a call through a PBX queue (X-Headset-Queue, via Kamailio) rings only an agent
logged in to that queue and is answered 486 otherwise."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from crm import agent_state_store, call_records, call_work, queue_store
from crm.queues import CampaignState, Kind
from gateway import signalling
from tests.conftest import BUSY, ECHO, HANGS_UP, NO_ANSWER, Lab
from tests.integration.conftest import Gateway
from tests.lab.sipp import HOST, Sipp
from tests.support.gateway import Agent


class QueueCaller(Sipp):
    """A customer whose call the PBX hands over from queue ``queue`` (uac_queue_call.xml)."""

    def __init__(self, proxy: str, target: str, queue: str) -> None:
        super().__init__("uac_queue_call", remote=proxy, service=target, hold_ms=500,
                         tone_hz=1000, host=HOST)
        self.queue = queue

    def command(self, work: Path) -> list[str]:
        return [*super().command(work), "-key", "queue", self.queue]


async def _hang_up(agent: Agent, call_id: str) -> dict[str, object]:
    """Hang up a connected call; the work event that follows."""
    mark = len(agent.events)
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_call("ended", since=mark)
    return await agent.wait_event(lambda e: e["type"] == "work", since=mark)


async def test_a_strict_campaign_blocks_the_next_call_and_a_loose_one_does_not(
        gateway: Gateway) -> None:
    agent = await gateway.agent("ana", extension="1001")
    me = agent.user.id
    strict = await queue_store.save_campaign(gateway.db, None, "Strict", CampaignState.ACTIVE,
                                             None, None, True, [me])
    loose = await queue_store.save_campaign(gateway.db, None, "Loose", CampaignState.ACTIVE,
                                            None, None, False, [me])
    await agent.online()  # logs in to both campaigns
    logins = await agent_state_store.logins(gateway.db, me)
    assert logins.campaigns == {strict.id, loose.id}

    # Calls of the loose campaign: nothing blocks, the next call goes out. (Each lab line
    # takes one call: the echo line, then the busy one, which still needs work.)
    await agent_state_store.choose_campaign(gateway.db, me, loose.id)
    first = await agent.dial(ECHO)
    await agent.wait_call("connected")
    work = await _hang_up(agent, first)
    assert work["blocking_call_id"] == ""
    assert (await call_work.get(gateway.db, first)).campaign_id == loose.id  # type: ignore[union-attr]
    mark = len(agent.events)
    await agent.dial(BUSY)
    await agent.wait_call("ended", since=mark)
    work = await agent.wait_event(lambda e: e["type"] == "work", since=mark)
    assert work["blocking_call_id"] == ""

    # A call of the strict campaign: the next one is refused until it is dispositioned.
    await agent_state_store.choose_campaign(gateway.db, me, strict.id)
    mark = len(agent.events)
    third = await agent.dial(HANGS_UP)
    await agent.wait_call("connected", since=mark)
    await agent.wait_call("ended", since=mark)  # the far end hangs up
    work = await agent.wait_event(
        lambda e: e["type"] == "work" and e["blocking_call_id"] != "", since=mark)
    assert work["blocking_call_id"] == third
    assert (await call_work.get(gateway.db, third)).campaign_id == strict.id  # type: ignore[union-attr]
    mark = len(agent.events)
    await agent.send(signalling.Dial(target=NO_ANSWER))
    refused = await agent.wait_event(lambda e: e["type"] in ("error", "call"), since=mark)
    assert refused["type"] == "error" and refused["code"] == "disposition_required"
    assert gateway.lines.active_calls() == 0


async def test_a_queue_call_rings_only_an_agent_logged_in_to_that_queue(
        gateway: Gateway, lab: Lab) -> None:
    agent = await gateway.agent("bea", extension="1001")
    me = agent.user.id
    support = await queue_store.save_queue(gateway.db, None, "Soporte", "600", [me])
    sales = await queue_store.save_queue(gateway.db, None, "Ventas", "+34910000601", [me])
    await agent.online()  # logs in to both queues
    await agent_state_store.change_item(gateway.db, me, Kind.QUEUE, sales.id, False,
                                        "page", datetime.now(UTC).date())

    # Through Ventas (the DID, without its +): logged out of it, so busy for the PBX.
    mark = len(agent.events)
    with QueueCaller(lab.kamailio.hostport, "1001", "34910000601") as customer:
        result = await asyncio.to_thread(customer.wait, 15)
    assert result.failed == 1 and "486" in result.log, result.log
    assert not [e for e in agent.events[mark:] if e["type"] == "call"], "the agent rang"
    (last,) = await call_records.list_for_user(gateway.db, me, limit=1)
    assert (last.sip_code, last.answered_at) == (486, None)
    assert (await call_work.get(gateway.db, last.id)).queue_id == sales.id  # type: ignore[union-attr]

    # Through Soporte: it rings, and the call remembers its queue.
    mark = len(agent.events)
    with QueueCaller(lab.kamailio.hostport, "1001", "600"):
        ringing = await agent.wait_call("ringing", since=mark)
        work = await call_work.get(gateway.db, str(ringing["call_id"]))
        assert work is not None and work.queue_id == support.id
        await agent.send(signalling.RejectCall(call_id=ringing["call_id"]))
        await agent.wait_call("ended", since=mark)

    # **1 on the keypad logs in to all the agent's queues again: now Ventas rings too.
    mark = len(agent.events)
    await agent.send(signalling.Dial(target="**1"))
    await agent.wait_event(lambda e: e["type"] == "agent_state", since=mark)
    assert (await agent_state_store.logins(gateway.db, me)).queues == {support.id, sales.id}
    mark = len(agent.events)
    with QueueCaller(lab.kamailio.hostport, "1001", "+34910000601"):
        ringing = await agent.wait_call("ringing", since=mark)
        await agent.send(signalling.RejectCall(call_id=ringing["call_id"]))
        await agent.wait_call("ended", since=mark)

