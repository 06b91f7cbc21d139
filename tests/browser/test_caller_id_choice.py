"""The softphone offers the agent's allowed caller IDs and calls out with the chosen one."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import Browser

from crm import sip_accounts
from crm.db import open_database
from crm.secret_key import load_or_create_key
from tests.conftest import ECHO, Lab
from tests.support.server import RunningServer

from .conftest import login
from .test_softphone import go_online, state

ALLOWED = ("+34911000111", "+48221234567")


async def grant_caller_ids(server: RunningServer, username: str) -> None:
    db = await open_database(server.settings.database_path)
    try:
        row = await db.fetchone("SELECT id FROM users WHERE username = ?", (username,))
        assert row is not None
        account = await sip_accounts.get_account(db, row["id"])
        assert account is not None
        await sip_accounts.set_account(db, load_or_create_key(server.settings.data_dir),
                                       row["id"], extension=account.extension,
                                       caller_ids=ALLOWED)
    finally:
        await db.close()


async def test_the_agent_chooses_the_number_the_customer_sees(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    await grant_caller_ids(server, "ana")
    page = await login(browser, server, "ana")
    await go_online(page)
    select = page.locator("#softphone-caller-id")
    await select.wait_for(state="visible")
    assert await select.locator("option").all_inner_texts() == list(ALLOWED)
    shots = os.environ.get("HEADSET_SCREENSHOTS")
    if shots:
        await page.set_viewport_size({"width": 1366, "height": 768})
        await page.screenshot(path=str(Path(shots) / "caller-id-light.png"))
        await page.emulate_media(color_scheme="dark")
        await page.screenshot(path=str(Path(shots) / "caller-id-dark.png"))
    await select.select_option(ALLOWED[1])
    await page.fill("#softphone-number", ECHO)
    await page.press("#softphone-number", "Enter")
    await state(page, "call-state", "connected")
    assert not await select.is_visible()  # no choice to make during a call
    await page.click("[data-action=hangup]")
    await state(page, "call-state", "ended")
    seen = lab.lines[ECHO].wait(10)
    assert f"P-Asserted-Identity: <sip:{ALLOWED[1]}@" in seen.log
