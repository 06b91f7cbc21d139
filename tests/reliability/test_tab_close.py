"""A Chromium tab closed in the middle of a call: the SIP leg is released (the far end
gets its BYE) within ``offline_grace`` + 5 s, and the call record is closed.

(tests/integration/test_records.py covers the same loss at the control-plane level with
an aiortc tab; this is the real page, its WebSocket and a SIPp line.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from crm import call_records
from crm.db import open_database
from tests.browser.conftest import browser, login
from tests.browser.test_softphone import go_online, state
from tests.conftest import AGENTS, ECHO, Lab, gateway_settings
from tests.lab.sipp import Sipp
from tests.support.server import RunningServer, add_agent, running_server
from webrtc.ice import restrict_host_addresses

__all__ = ["browser"]

GRACE = 2.0


@pytest.fixture
async def server(tmp_path: Path, lab: Lab) -> AsyncIterator[RunningServer]:
    restrict_host_addresses(["127.0.0.1"])
    settings = gateway_settings(tmp_path / "data", lab.kamailio.hostport, offline_grace=GRACE)
    await add_agent(settings, "ana", "1001", AGENTS["1001"])
    async with running_server(settings) as running:
        yield running
        assert running.lines.active_calls() == 0


async def _bye_seen(line: Sipp, timeout: float) -> float:
    """Monotonic time at which SIPp's message log first shows the BYE it received."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "BYE sip:" in line.log_text():
            return time.monotonic()
        await asyncio.sleep(0.05)  # polling SIPp's log file
    raise AssertionError(f"no BYE within {timeout} s:\n{line.log_text()[-2000:]}")


async def test_closed_tab_releases_the_sip_leg(browser: Browser, server: RunningServer,
                                               lab: Lab) -> None:
    page = await login(browser, server, "ana")
    await go_online(page)
    await page.fill("#softphone-number", ECHO)
    await page.press("#softphone-number", "Enter")
    await state(page, "call-state", "connected")
    line = lab.lines[ECHO]
    assert "BYE sip:" not in line.log_text()

    closed = time.monotonic()
    await page.context.close()
    bye = await _bye_seen(line, GRACE + 5)
    assert bye - closed <= GRACE + 5, f"BYE {bye - closed:.1f} s after the tab closed"
    assert (await asyncio.to_thread(line.wait, 10)).ok
    # The server's record says the system ended it, not the agent or the customer.
    deadline = time.monotonic() + 5
    while server.lines.active_calls() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert server.lines.active_calls() == 0
    db = await open_database(server.settings.database_path)
    try:
        rows = await db.fetchall("SELECT id FROM call_records")
        assert len(rows) == 1
        record = await call_records.get(db, rows[0]["id"])
    finally:
        await db.close()
    assert record is not None and record.state == "ended" and record.hangup_side == "system"
