"""Call quality against real peers: aiortc browser leg, pjsua2 SIP leg, SIPp echoing RTP."""

from __future__ import annotations

import pytest

from crm import call_quality
from gateway import signalling
from tests.conftest import ECHO, Lab
from tests.integration.conftest import Gateway


@pytest.mark.parametrize("sip_media", ["pjmedia", "direct"])
async def test_quality_reported_live_and_kept_with_the_record(gateway: Gateway,
                                                              lab: Lab) -> None:
    agent = await gateway.agent("ines", extension="1001", tone=1000)
    await agent.online()
    call_id = await agent.dial(ECHO)
    await agent.wait_call("connected")
    # Two samples with both legs: the second covers a full interval of audio.
    first = await agent.wait_event(
        lambda e: e["type"] == "quality" and e["browser"] and e["sip"], timeout=15)
    mark = agent.events.index(first) + 1
    event = await agent.wait_event(
        lambda e: e["type"] == "quality" and e["browser"] and e["sip"], timeout=15,
        since=mark)
    print("quality event:", event)
    assert event["call_id"] == call_id
    for leg in (event["browser"], event["sip"]):
        assert leg["loss_pct"] == 0
        assert 0 <= leg["jitter_ms"] < 30
        assert leg["mos"] >= 4.0 and leg["grade"] == "good"
        assert leg["rtt_ms"] is None or 0 <= leg["rtt_ms"] < 100
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_call("ended")
    stored = await call_quality.get(gateway.db, call_id)
    print("stored:", stored)
    assert set(stored) == {"browser", "sip"}
    for summary in stored.values():
        assert summary.samples >= 2
        assert summary.loss_max_pct == 0
        assert summary.mos_min >= 4.0 and summary.mos_avg >= summary.mos_min
        assert summary.jitter_max_ms >= summary.jitter_avg_ms >= 0
    assert lab.lines[ECHO].wait(10).ok


async def test_echo_test_number_reports_only_the_browser_leg(gateway: Gateway) -> None:
    agent = await gateway.agent("otto", extension=None)
    await agent.online()
    call_id = await agent.dial(gateway.settings.echo_number)
    await agent.wait_call("connected")
    event = await agent.wait_event(lambda e: e["type"] == "quality", timeout=15)
    assert event["sip"] is None and event["browser"]["mos"] >= 4.0
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_call("ended")
    assert set(await call_quality.get(gateway.db, call_id)) == {"browser"}
