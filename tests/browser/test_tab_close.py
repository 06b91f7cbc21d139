"""Closing the tab of a live call, in headless Chromium against the real app, workers,
Kamailio and a pjsua2 phone: the SIP leg ends once the offline grace has passed with no
tab coming back, and the call's record says the system ended it, not the agent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from crm import call_records
from tests.browser.conftest import login
from tests.browser.test_softphone import ROOT, call_to_a_phone, go_online, hears
from tests.conftest import AGENTS, Lab, gateway_settings
from tests.support.server import RunningServer, add_agent, running_server
from web.appkeys import DB
from webrtc.ice import restrict_host_addresses

GRACE = 2.0
PHONE_TONE = 1500


@pytest.fixture
async def short_grace_server(tmp_path: Path, lab: Lab) -> AsyncIterator[RunningServer]:
    restrict_host_addresses(["127.0.0.1"])
    settings = gateway_settings(tmp_path / "data", lab.kamailio.hostport,
                                offline_grace=GRACE)
    await add_agent(settings, "ana", "1001", AGENTS["1001"])
    async with running_server(settings) as running:
        yield running
        assert running.lines.active_calls() == 0


async def test_closing_the_tab_ends_the_call_after_the_grace(
        browser: Browser, short_grace_server: RunningServer, lab: Lab) -> None:
    server = short_grace_server
    page = await login(browser, server, "ana")
    await go_online(page)
    async with call_to_a_phone(page, lab, tone=PHONE_TONE) as phone:
        assert await hears(page, PHONE_TONE)
        call_id = await page.get_attribute(ROOT, "data-call-id")
        assert call_id
        closed = time.monotonic()
        await page.context.close()
        await asyncio.to_thread(phone.wait_state, "DISCONNECTED", 10 + GRACE)
        after = time.monotonic() - closed
        print(f"\ntab closed -> far end hung up: {after:.1f} s (grace {GRACE} s)")
        # Not before the grace: a reload in that time would have found its call.
        assert after >= GRACE
    record = await call_records.get(server.app[DB], call_id)
    assert record is not None and record.state == "ended"
    assert record.answered_at is not None
    assert (record.outcome, record.hangup_side) == ("completed", "system")
