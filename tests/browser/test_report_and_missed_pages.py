"""The agent-state report and the paginated missed-call list in headless Chromium, against
the real web app: reached from the menu, filtered with the keyboard, the CSV downloaded,
and the missed list walked page by page. ``HEADSET_SCREENSHOTS=dir`` keeps light and dark
screenshots (1366x768)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from crm import clock, pause_codes, users
from crm.db import database_ctx
from gateway.settings import Settings
from tests.browser.test_missed_pages import PagesApp, login, missed_call, seed
from tests.lab.ports import free_tcp_port
from tests.support.chromium import CHROMIUM, chromium_args
from tests.support.gateway import FAST_HASHING
from web.appkeys import DB, SETTINGS
from web.setup import setup_web


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[PagesApp]:
    application = web.Application()
    application[SETTINGS] = Settings(data_dir=str(tmp_path), region="ES")
    application.cleanup_ctx.append(database_ctx)
    setup_web(application, hashing=FAST_HASHING)
    runner = web.AppRunner(application)
    await runner.setup()
    port = free_tcp_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await seed(application[DB])
        yield PagesApp(f"http://127.0.0.1:{port}", application[DB])
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


async def _screenshots(page: Page, name: str) -> None:
    folder = os.environ.get("HEADSET_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.screenshot(path=str(Path(folder) / f"{name}-{scheme}.png"), full_page=True)
    await page.emulate_media(color_scheme="light")


async def test_supervisor_opens_the_report_filters_by_hour_and_downloads_it(
        browser: Browser, app: PagesApp) -> None:
    agent = await users.get_by_username(app.db, "agent")
    assert agent is not None
    coffee = await pause_codes.create(app.db, "12", "Coffee", False)
    # Yesterday (UTC, the deployment's zone here): 10:00-11:00 available, 11:00-11:30
    # paused for coffee, then available until now.
    yesterday = (clock.utc_now() - timedelta(days=1)).date()
    ten = datetime(yesterday.year, yesterday.month, yesterday.day, 10, tzinfo=UTC)
    for status, begin, end, code in (("available", 0, 60, None),
                                     ("paused", 60, 90, coffee.id),
                                     ("available", 90, None, None)):
        await app.db.execute(
            "INSERT INTO agent_state_log (user_id, status, pause_code_id, source, started_at,"
            " ended_at) VALUES (?, ?, ?, 'page', ?, ?)",
            (agent.id, status, code, clock.to_db(ten + timedelta(minutes=begin)),
             None if end is None else clock.to_db(ten + timedelta(minutes=end))))
    page = await login(browser, app, "sup")
    await page.click("nav.topnav >> text=Reports")
    await page.wait_for_url(f"{app.url}/reports/agent-states")
    # Yesterday, per hour, from the keyboard.
    await page.fill("#from", yesterday.isoformat())
    await page.fill("#to", yesterday.isoformat())
    await page.focus("#interval")
    await page.keyboard.press("ArrowDown")
    assert await page.input_value("#interval") == "hour"
    await page.keyboard.press("Tab")  # to Show
    await page.keyboard.press("Enter")
    await page.wait_for_url("**interval=hour**")
    row = page.locator("table[data-report=agents] tbody tr", has_text="Agent Smith")
    cells = await row.locator("td").all_inner_texts()
    # Logged in 14 h (10:00 to midnight), 30 minutes of an unproductive pause, one pause.
    assert (cells[0], cells[5], cells[8]) == ("14:00:00", "30:00", "1")
    hours = page.locator("table[data-report=intervals] tbody tr")
    assert await hours.count() == 24
    eleven = await hours.nth(11).locator("td").all_inner_texts()
    assert (eleven[1], eleven[5]) == ("30:00", "30:00")
    assert page.errors == []  # type: ignore[attr-defined]
    await _screenshots(page, "report-agent-states")
    async with page.expect_download() as info:
        await page.click("text=Export CSV")
    download = await info.value
    assert download.suggested_filename.endswith("-hour.csv")
    text = Path(await download.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("From,To,Logged in (s)")


async def test_the_missed_list_pages_through_every_row(browser: Browser,
                                                       app: PagesApp) -> None:
    for i in range(110):
        await missed_call(app.db, f"+3461000{i:04d}", 1000 + i * 10)
    page = await login(browser, app, "agent")
    await page.goto(f"{app.url}/missed?view=all")
    seen: list[str] = []
    counts = []
    for number in (1, 2, 3):
        await page.locator(".pager .muted", has_text=f"Page {number}").wait_for()
        keys = await page.locator("li.missed-item").evaluate_all(
            "items => items.map(i => i.dataset.key)")
        counts.append(len(keys))
        seen.extend(keys)
        if number == 2:
            await _screenshots(page, "missed-page-2")
        if number < 3:
            await page.click(".pager a[rel=next]")
    # 110 callers and the 2 of the seed: each once, newest first, nothing capped.
    assert counts == [50, 50, 12] and len(set(seen)) == 112
    assert await page.locator(".pager a[rel=next]").count() == 0
    await page.click(".pager a[rel=first]")
    await page.locator(".pager .muted", has_text="Page 1").wait_for()
    assert page.errors == []  # type: ignore[attr-defined]
