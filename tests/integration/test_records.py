"""Call records are the server's: they end properly when the tab vanishes, and a crash
leaves nothing "active" after the next start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from crm import call_records
from crm.clock import utc_now
from crm.db import open_database
from gateway import signalling
from tests.conftest import ECHO, gateway_settings
from tests.integration.conftest import Gateway
from tests.support.server import add_agent, running_server


@pytest.mark.parametrize("gateway_options", [{"offline_grace": 1.0}])
async def test_call_ends_when_the_tab_vanishes(gateway: Gateway) -> None:
    agent = await gateway.agent("olga", extension="1001")
    await agent.online()
    call_id = await agent.dial(ECHO)
    await agent.wait_call("connected")
    # The tab disappears without a word (crash, closed laptop): only the socket closes.
    await agent.close()
    gateway.agents.remove(agent)
    record = None
    for _ in range(100):
        record = await call_records.get(gateway.db, call_id)
        if record is not None and record.state == "ended":
            break
        await asyncio.sleep(0.1)
    assert record is not None and record.state == "ended"
    # Ended by the gateway, not by the agent pressing hang up: the record says so.
    assert record.outcome == "completed" and record.hangup_side == "system"
    assert gateway.lines.active_calls() == 0


@pytest.mark.parametrize("gateway_options", [{"browser_codec": "pcmu"}])
@pytest.mark.parametrize("sip_media", ["pjmedia", "direct"])
async def test_pcmu_end_to_end(gateway: Gateway) -> None:
    agent = await gateway.agent("pia", extension="1001")
    await agent.online()
    assert "opus" not in agent.rtc.pc.remoteDescription.sdp.lower()
    call_id = await agent.dial(ECHO)
    await agent.wait_call("connected")
    assert await agent.rtc.wait_hears(1000)
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_call("ended")


async def test_records_left_active_by_a_crash_are_closed_at_start(tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path, "")
    user = await add_agent(settings, "quim", None)
    db = await open_database(settings.database_path)
    try:
        await call_records.create(db, "left-over", user.id, "inbound", "1001",
                                  "+34911234567", "", utc_now())
        await call_records.apply_event(db, "left-over", call_records.Answered(), utc_now())
    finally:
        await db.close()
    async with running_server(settings):
        pass
    db = await open_database(settings.database_path)
    try:
        record = await call_records.get(db, "left-over")
    finally:
        await db.close()
    assert record is not None
    assert record.state == "ended" and record.outcome == "interrupted"
    assert record.answered_at is not None and record.ended_at is not None
