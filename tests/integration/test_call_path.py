"""The call path against real peers: line workers (pjsua2 + aiortc), Kamailio, SIPp."""

from __future__ import annotations

from crm import call_records
from gateway import signalling
from tests.integration.conftest import ECHO, Gateway, Lab


async def test_echo_test_number_works_without_a_sip_account(gateway: Gateway) -> None:
    agent = await gateway.agent("nuria", extension=None)
    await agent.online()
    assert agent.events[-1]["type"] != "error"
    call_id = await agent.dial(gateway.settings.echo_number)
    await agent.wait_call("connected")
    assert await agent.rtc.wait_hears(1000), "own tone not echoed back"
    await agent.send(signalling.Hangup(call_id=call_id))
    ended = await agent.wait_call("ended")
    assert ended["reason"] == "completed"
    assert await agent.rtc.wait_silence(1000)


async def test_outbound_call_carries_audio_both_ways(gateway: Gateway, lab: Lab) -> None:
    agent = await gateway.agent("ana", extension="1001", tone=1000)
    await agent.online()
    call_id = await agent.dial(ECHO)
    await agent.wait_call("connected")
    # SIPp echoes RTP: hearing our tone proves browser->SIP and SIP->browser.
    assert await agent.rtc.wait_hears(1000)
    await agent.send(signalling.Hangup(call_id=call_id))
    ended = await agent.wait_call("ended")
    assert ended["reason"] == "completed"
    record = await call_records.get(gateway.db, call_id)
    assert record is not None
    assert record.state == "ended" and record.outcome == "completed"
    assert record.answered_at is not None and record.hangup_side == "agent"
    assert lab.lines[ECHO].wait(10).ok
