"""The missed-call pages in headless Chromium, against the real web app (no PBX needed:
call records are written the way the gateway writes them)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from crm import call_records, clock, contacts, users
from crm.call_flow import Ended
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
OTHER = "+34600111222"


@dataclass
class PagesApp:
    url: str
    db: Database


async def missed_call(db: Database, remote: str, ago: float, name: str = "") -> None:
    """An inbound call no one answered, ``ago`` seconds ago (as the gateway records it)."""
    agent = await users.get_by_username(db, "agent")
    assert agent is not None
    start = clock.utc_now() - timedelta(seconds=ago)
    call_id = str(uuid.uuid4())
    await call_records.create(db, call_id, agent.id, "inbound", "1001", remote, name, start)
    await call_records.apply_event(db, call_id, Ended(reason="hangup", side="remote"),
                                   start + timedelta(seconds=12))


async def seed(db: Database) -> None:
    for name, role, display in (("sup", "supervisor", "Sue Pervisor"),
                                ("agent", "agent", "Agent Smith")):
        await users.create_user(db, name, PASSWORD, role=role, display_name=display,
                                hashing=FAST_HASHING)
    await contacts.create_contact(db, ContactDraft(
        kind=ContactKind.PERSON, name="Lucía Pérez",
        phones=(ContactPhone(PhoneLabel.MOBILE, LUCIA),)))
    await missed_call(db, "911234567", 900)
    await missed_call(db, "911234567", 300)
    await missed_call(db, OTHER, 120)


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
        await seed(app[DB])
        yield PagesApp(f"http://127.0.0.1:{port}", app[DB])
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


async def login(browser: Browser, app: PagesApp, username: str,
                record_notifications: bool = False) -> Page:
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    if record_notifications:
        await context.grant_permissions(["notifications"], origin=app.url)
        # Keep the real Notification, and note what the page shows with it.
        await context.add_init_script("""
            window.__notes = [];
            const Real = window.Notification;
            window.Notification = class extends Real {
              constructor(title, options) { super(title, options); window.__notes.push(title); }
            };
            Object.defineProperty(window.Notification, "permission",
                                  { get: () => Real.permission });
        """)
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


async def test_supervisor_expands_and_hides_a_row(browser: Browser, pages_app: PagesApp) -> None:
    page = await login(browser, pages_app, "sup")
    badge = page.locator("[data-missed-badge]")
    assert (await badge.inner_text()).strip().endswith("2")
    await page.click("a[href='/missed']")
    await page.wait_for_url("**/missed")
    items = page.locator("li.missed-item")
    assert await items.count() == 2
    lucia = page.locator(f"li.missed-item[data-key='{LUCIA}']")
    assert "Lucía Pérez" in await lucia.inner_text()
    assert await lucia.locator(f"a[data-dial='{LUCIA}'][href='tel:{LUCIA}']").count() == 2
    # Expand with the keyboard: the history shows both missed attempts.
    timeline = lucia.locator("ol.timeline")
    assert not await timeline.is_visible()
    await lucia.locator("summary").focus()
    await page.keyboard.press("Enter")
    await timeline.wait_for(state="visible")
    assert await timeline.locator("li.entry-missed").count() == 2

    await lucia.get_by_role("button", name="Hide").click()
    await page.wait_for_url("**/missed?done=hide")
    assert await page.locator(f"li.missed-item[data-key='{LUCIA}']").count() == 0
    assert await page.locator("li.missed-item").count() == 1
    assert (await badge.inner_text()).strip().endswith("1")
    await page.get_by_role("link", name="Hidden").click()
    hidden = page.locator(f"li.missed-item[data-key='{LUCIA}']")
    await hidden.get_by_role("button", name="Show again").click()
    await page.wait_for_url("**done=restore")
    still_hidden = f"li.missed-item[data-key='{LUCIA}'][data-view='hidden']"
    assert await page.locator(still_hidden).count() == 0
    assert page.errors == []  # type: ignore[attr-defined]


async def test_agent_sees_the_list_without_hide_or_remove(browser: Browser,
                                                         pages_app: PagesApp) -> None:
    page = await login(browser, pages_app, "agent")
    await page.goto(f"{pages_app.url}/missed")
    assert await page.locator("li.missed-item").count() == 2
    assert await page.get_by_role("button", name="Hide").count() == 0
    assert await page.get_by_role("button", name="Remove").count() == 0
    first = page.locator("li.missed-item").first
    await first.locator("summary").click()
    await first.locator("ol.timeline").wait_for(state="visible")
    assert await page.get_by_role("button", name="SMS sent").count() == 2
    assert page.errors == []  # type: ignore[attr-defined]


async def test_badge_follows_new_missed_calls_and_notifies(
        browser: Browser, pages_app: PagesApp) -> None:
    page = await login(browser, pages_app, "agent", record_notifications=True)
    badge = page.locator("[data-missed-badge]")
    # The first poll only sets the mark: nothing is new yet.
    await page.wait_for_function(
        "() => localStorage.getItem('headset.missed.latest') !== null")
    await missed_call(pages_app.db, "+34600999888", 1)
    await page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")
    await page.wait_for_function(
        "() => document.querySelector('[data-missed-badge]').textContent.trim().endsWith('3')")
    assert not await badge.is_hidden()
    await page.wait_for_function("() => window.__notes.length === 1")
    assert await page.evaluate("() => window.__notes") == ["New missed call"]


async def test_stats_bar_opens_the_filtered_list(browser: Browser, pages_app: PagesApp) -> None:
    page = await login(browser, pages_app, "sup")
    await page.goto(f"{pages_app.url}/missed/stats")
    bar = page.locator("a.bar-link", has_text="Not contacted yet")
    assert "2" in await bar.locator(".bar-value").inner_text()
    await bar.click()
    await page.wait_for_url("**/missed?view=all&status=no_attempt**")
    assert await page.locator("li.missed-item").count() == 2
    assert page.errors == []  # type: ignore[attr-defined]
