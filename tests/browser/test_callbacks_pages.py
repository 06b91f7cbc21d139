"""The callback panel and the calendar in headless Chromium, against the real web app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from crm import callback_store, clock, contacts, users
from crm.callbacks import DUE_SOON, NewCallback, State
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database, database_ctx
from gateway.settings import Settings
from tests.lab.ports import free_tcp_port
from tests.support.chromium import CHROMIUM, chromium_args
from tests.support.gateway import FAST_HASHING
from tests.support.server import PASSWORD
from web.appkeys import DB, SETTINGS
from web.setup import setup_web

LUCIA = "+34911234567"


@dataclass
class PagesApp:
    url: str
    db: Database
    contact_id: int


@pytest.fixture
async def pages_app(tmp_path: Path) -> AsyncIterator[PagesApp]:
    app = web.Application()
    app[SETTINGS] = Settings(data_dir=str(tmp_path), region="ES")
    app.cleanup_ctx.append(database_ctx)
    setup_web(app, hashing=FAST_HASHING)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_tcp_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        db = app[DB]
        await users.create_user(db, "agent", PASSWORD, role="agent", display_name="Agent Smith",
                                hashing=FAST_HASHING)
        lucia = await contacts.create_contact(db, ContactDraft(
            kind=ContactKind.PERSON, name="Lucía Pérez",
            phones=(ContactPhone(PhoneLabel.MOBILE, LUCIA),)))
        yield PagesApp(f"http://127.0.0.1:{port}", db, lucia.id)
    finally:
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args())
        try:
            yield chromium
        finally:
            await chromium.close()


async def login(browser: Browser, app: PagesApp, username: str) -> Page:
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{app.url}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{app.url}/")
    return page


async def test_create_see_in_panel_and_calendar_then_complete(browser: Browser,
                                                             pages_app: PagesApp) -> None:
    page = await login(browser, pages_app, "agent")
    # From the contact page: its numbers come filled in.
    await page.goto(f"{pages_app.url}/contacts/{pages_app.contact_id}")
    await page.get_by_role("link", name="Schedule a callback").click()
    await page.wait_for_url(f"**/callbacks/new?contact_id={pages_app.contact_id}")
    assert await page.input_value("#phone_0") == LUCIA
    due = (clock.utc_now() + timedelta(hours=3)).astimezone(UTC)
    # A past time first: refused with a clear message, nothing stored.
    await page.fill("#due", "2020-01-01T10:00")
    await page.fill("#reason", "Quote for the <b>router</b>")
    await page.get_by_role("button", name="Schedule").click()
    await page.locator(".error-summary").wait_for()
    assert "That time has already passed" in await page.locator(".error-summary").inner_text()
    assert await callback_store.search(pages_app.db, callback_store.Query()) == []
    page.errors.clear()  # type: ignore[attr-defined]  # the refused form answers 400
    await page.fill("#due", due.strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#link_name_0", "Order")
    await page.fill("#link_url_0", "https://shop.example/o/1")
    await page.get_by_role("button", name="Schedule").click()
    await page.wait_for_url("**/callbacks?done=created")

    item = page.locator("li.callback-item")
    assert await item.count() == 1
    assert await item.get_attribute("data-urgency") == "upcoming"
    text = await item.inner_text()
    assert "Lucía Pérez" in text and "Quote for the <b>router</b>" in text
    assert await item.locator(f"a[data-dial='{LUCIA}'][href='tel:{LUCIA}']").count() == 1
    assert await item.locator("a[href='https://shop.example/o/1']").inner_text() == "Order"

    # The calendar (month of the due day) shows it, with a dial link; keyboard moves on.
    await page.get_by_role("link", name="Calendar", exact=True).first.click()
    await page.wait_for_url(f"{pages_app.url}/calendar")
    await page.goto(f"{pages_app.url}/calendar?view=month&date={due.date().isoformat()}")
    cal_item = page.locator("li.cal-item[data-callback]")
    assert await cal_item.count() == 1
    assert await cal_item.locator(f"a[data-dial='{LUCIA}']").count() == 1
    heading = await page.locator(".cal-heading").inner_text()
    await page.locator("a[rel='next']").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        "h => document.querySelector('.cal-heading').textContent !== h", arg=heading)
    assert await page.locator("li.cal-item[data-callback]").count() == 0

    # Back to the panel: complete it.
    await page.goto(f"{pages_app.url}/callbacks")
    await page.locator("li.callback-item").get_by_role("button", name="Done").click()
    await page.wait_for_url("**/callbacks?done=complete")
    assert await page.locator("li.callback-item").count() == 0
    assert "Callback marked as done." in await page.locator(".notice").inner_text()
    stored = await callback_store.search(pages_app.db, callback_store.Query())
    assert [cb.state for cb in stored] == [State.COMPLETED]
    assert page.errors == []  # type: ignore[attr-defined]


async def test_panel_turns_amber_as_the_time_approaches(browser: Browser,
                                                       pages_app: PagesApp) -> None:
    page = await login(browser, pages_app, "agent")
    agent = await users.get_by_username(pages_app.db, "agent")
    assert agent is not None
    # Due just over 15 minutes from now: "scheduled" when the page is made, "due soon"
    # a few seconds later, without a reload.
    await callback_store.create(pages_app.db, NewCallback(
        user_id=agent.id, queue="", contact_id=None,
        due_at=clock.utc_now() + DUE_SOON + timedelta(seconds=6), expiry_seconds=3600,
        phones=(LUCIA,), reason="", links=()), agent.id, clock.utc_now())
    await page.goto(f"{pages_app.url}/callbacks")
    item = page.locator("li.callback-item")
    assert await item.get_attribute("data-urgency") == "upcoming"
    assert await item.locator(".badge.urgency").inner_text() == "Scheduled"
    await page.wait_for_function(
        "() => document.querySelector('li.callback-item').dataset.urgency === 'due_soon'",
        timeout=15000)
    assert await item.locator(".badge.urgency").inner_text() == "Due soon"
    assert "urgency-due_soon" in (await item.get_attribute("class") or "")
    assert page.errors == []  # type: ignore[attr-defined]
