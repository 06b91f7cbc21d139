"""The status control above the softphone, in Chromium: going online logs the agent in,
the pause menu pauses with a reason, a keypad code resumes, time in status runs."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from crm import pause_codes
from crm.db import open_database
from tests.browser.conftest import login
from tests.browser.test_softphone import go_online
from tests.support.server import RunningServer

STATUS = "[data-agent-status]"


async def _status_text(page: Page, text: str) -> None:
    await expect(page.locator(f"{STATUS} [data-status-text]")).to_have_text(text, timeout=10000)


async def test_online_pause_and_keypad_resume(browser: Browser, server: RunningServer,
                                              tmp_path: Path) -> None:
    db = await open_database(server.settings.database_path)
    try:
        await pause_codes.create(db, "7", "Lunch", productive=False)
        await pause_codes.create(db, "8", "Training", productive=True)
    finally:
        await db.close()
    page = await login(browser, server, "ana")
    await _status_text(page, "Not taking calls")
    await go_online(page)
    await _status_text(page, "Available")
    timer = page.locator(f"{STATUS} [data-status-timer]")
    await expect(timer).to_have_text(re.compile(r"^\d\d:\d\d$"))
    first = await timer.text_content()
    await expect(timer).not_to_have_text(first or "", timeout=5000)  # it runs

    await page.select_option("#agent-pause-reason", "7")
    await page.click(f"{STATUS} [data-agent-action=pause]")
    await _status_text(page, "Paused: Lunch")
    await expect(page.locator(f"{STATUS} [data-agent-action=resume]")).to_be_visible()
    await page.screenshot(path=str(tmp_path / "agent-status-paused.png"))

    # **3 on the softphone's keypad resumes; the control follows the socket's event.
    await page.fill("#softphone-number", "**3")
    await page.press("#softphone-number", "Enter")
    await _status_text(page, "Available")
    await expect(page.locator(f"{STATUS} [data-agent-action=resume]")).to_be_hidden()

    # A wrong code is refused in words, and nothing changes.
    await page.fill("#softphone-number", "**299")
    await page.press("#softphone-number", "Enter")
    await expect(page.locator("section.softphone")).to_contain_text(
        "There is no active pause with that code")
    await _status_text(page, "Available")
    assert not [e for e in page.errors if "pageerror" in e]  # type: ignore[attr-defined]
