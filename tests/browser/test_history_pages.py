"""The call history pages and click-to-dial in headless Chromium, against the real app.

Call records are written straight into the database the way the gateway writes them (the
number as the PBX sent it); the page reads and links them. The softphone test goes
through the real line worker and Kamailio, and looks at the command the page sends.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, WebSocket

from crm import call_records, contacts, users
from crm.call_records import Answered, Ended
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import open_database
from gateway.settings import Settings
from tests.conftest import gateway_settings
from tests.support.gateway import FAST_HASHING
from tests.support.server import PASSWORD, RunningServer, add_agent, running_server

from .test_softphone import go_online, state

BASE = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
MOBILE = "+34612345678"


async def seed_calls(settings: Settings, username: str, *, prefix: str = "") -> None:
    """Five calls of ``username`` over two days, two of them with Ana López."""
    db = await open_database(settings.database_path)
    try:
        row = await db.fetchone("SELECT id FROM users WHERE username = ?", (username,))
        assert row is not None
        user_id = int(row["id"])
        if not await db.fetchone("SELECT id FROM contacts WHERE name = 'Ana López'"):
            await contacts.create_contact(db, ContactDraft(
                kind=ContactKind.PERSON, name="Ana López",
                phones=(ContactPhone(PhoneLabel.MOBILE, MOBILE),)))
        calls = [("in-1", "inbound", "612345678", 0, 65),
                 ("out-1", "outbound", "+34911234567", 60, 125),
                 ("in-2", "inbound", "anonymous", 120, None),
                 ("out-2", "outbound", MOBILE, 1440, 30),
                 ("in-3", "inbound", "+48221234567", 1500, 10)]
        for call_id, direction, remote, minutes, talk in calls:
            at = BASE + timedelta(minutes=minutes)
            await call_records.create(db, prefix + call_id, user_id, direction, "1001",  # type: ignore[arg-type]
                                      remote, "", at)
            if talk is not None:
                await call_records.apply_event(db, prefix + call_id, Answered(), at)
            await call_records.apply_event(db, prefix + call_id,
                                           Ended(reason="hangup", side="remote"),
                                           at + timedelta(seconds=talk or 20))
    finally:
        await db.close()


@pytest.fixture
async def pages_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """The app with no PBX: a supervisor, an agent with the dialer, one without."""
    settings = gateway_settings(tmp_path / "data", "")
    await add_agent(settings, "marta", None, language="es")
    olga = await add_agent(settings, "olga", None, language="pl")
    await add_agent(settings, "lena", None)  # no language of her own
    db = await open_database(settings.database_path)
    try:
        await users.update_user(db, olga.id, dialer_enabled=False)
        await users.create_user(db, "sup", PASSWORD, role="supervisor",
                                display_name="Sue Pervisor", hashing=FAST_HASHING)
    finally:
        await db.close()
    for name in ("marta", "olga", "lena"):
        await seed_calls(settings, name, prefix=name + "-")
    async with running_server(settings) as running:
        yield running


async def sign_in(browser: Browser, server: RunningServer, username: str,
                  **context: object) -> Page:
    page = await (await browser.new_context(**context)).new_page()  # type: ignore[arg-type]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{server.url}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{server.url}/")
    return page


async def row_ids(page: Page) -> list[str]:
    return await page.eval_on_selector_all(
        "tr[data-call-id]", "rows => rows.map(r => r.dataset.callId)")


async def test_filters_narrow_the_table_and_export_downloads_it(
        browser: Browser, pages_server: RunningServer) -> None:
    page = await sign_in(browser, pages_server, "sup", accept_downloads=True)
    await page.click("nav.topnav a[href='/history']")
    await page.wait_for_selector("table.history")
    assert len(await row_ids(page)) == 15  # every agent's calls

    await page.select_option("#agent", label="marta")
    await page.select_option("#direction", "outbound")
    await page.click("form.history-filters button[type=submit]")
    await page.wait_for_url("**/history?*direction=outbound*")
    assert await row_ids(page) == ["marta-out-2", "marta-out-1"]

    await page.fill("#from", "2026-03-11T00:00")
    await page.click("form.history-filters button[type=submit]")
    await page.wait_for_url("**from=2026-03-11*")
    assert await row_ids(page) == ["marta-out-2"]
    cells = await page.inner_text("tr[data-call-id='marta-out-2']")
    assert "Ana López" in cells and "612 34 56 78" in cells and "0:30" in cells

    async with page.expect_download() as info:
        await page.click("a[href^='/history/export.csv']")
    download = await info.value
    raw = Path(await download.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header, *rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert header[0] == "Date and time" and len(rows) == 1
    assert rows[0][0] == "2026-03-11 09:00:00" and rows[0][3] == "'" + MOBILE
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_bad_date_is_explained_and_lists_nothing(
        browser: Browser, pages_server: RunningServer) -> None:
    page = await sign_in(browser, pages_server, "marta")
    response = await page.goto(f"{pages_server.url}/history?from=2026-02-31")
    assert response is not None and response.status == 400
    alert = await page.inner_text(".error-summary")
    assert "no es una fecha" in alert
    assert await row_ids(page) == []


async def test_hidden_dialer_leaves_tel_links_to_the_computer(
        browser: Browser, pages_server: RunningServer) -> None:
    page = await sign_in(browser, pages_server, "olga")
    await page.goto(f"{pages_server.url}/history")
    assert await page.query_selector("#softphone-slot") is None
    link = page.locator(f"tr[data-call-id='olga-out-2'] a[data-dial='{MOBILE}']")
    assert await link.get_attribute("href") == f"tel:{MOBILE}"
    # Nobody but the browser may handle the click: look after every listener, then
    # stop the navigation to tel: (headless Chromium has no handler for it).
    await page.evaluate("""() => window.addEventListener("click", (event) => {
        window.lastClick = { prevented: event.defaultPrevented };
        event.preventDefault();
    })""")
    await link.click()
    assert await page.evaluate("window.lastClick") == {"prevented": False}
    assert page.errors == []  # type: ignore[attr-defined]


async def test_offline_softphone_gets_the_number_in_its_field(
        browser: Browser, pages_server: RunningServer) -> None:
    page = await sign_in(browser, pages_server, "marta")
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda p: sent.append(str(p))))
    await page.goto(f"{pages_server.url}/history/recent")
    await page.wait_for_selector("section.softphone[data-socket-state='open']")
    assert await page.input_value("#softphone-number") == ""
    await page.click(f"tr[data-call-id='marta-out-2'] a.button[data-dial='{MOBILE}']")
    await page.wait_for_function(
        f"document.querySelector('#softphone-number').value === '{MOBILE}'")
    assert not [frame for frame in sent if '"dial"' in frame]
    assert page.errors == []  # type: ignore[attr-defined]


async def test_click_to_dial_calls_from_the_softphone(browser: Browser,
                                                      server: RunningServer) -> None:
    """Ana's line is registered at Kamailio: a click on a number places the call."""
    await seed_calls(server.settings, "ana")
    page = await sign_in(browser, server, "ana")
    commands: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    def watch(ws: WebSocket) -> None:
        ws.on("framesent", lambda payload: commands.put_nowait(json.loads(payload)))

    page.on("websocket", watch)
    await page.goto(f"{server.url}/history")
    await go_online(page)
    await page.click(f"tr[data-call-id='out-2'] a[data-dial='{MOBILE}']")
    while (command := await asyncio.wait_for(commands.get(), 10))["type"] != "dial":
        pass
    assert command["target"] == MOBILE
    assert page.url == f"{server.url}/history"  # no navigation to tel:
    # Nobody has that number at Kamailio: the call is placed, then refused.
    await state(page, "call-state", "ended")


async def test_the_browser_language_is_used_when_the_user_has_none(
        browser: Browser, pages_server: RunningServer) -> None:
    page = await sign_in(browser, pages_server, "lena", locale="pt-BR")
    await page.goto(f"{pages_server.url}/history")
    assert await page.get_attribute("html", "lang") == "pt-BR"
    assert await page.inner_text("h1") == "Histórico de chamadas"
    first = await page.inner_text("tr[data-call-id='lena-in-1']")
    assert "10/03/2026 09:00" in first and "Recebida" in first and "1:05" in first
    # Another browser, another language, same user.
    page = await sign_in(browser, pages_server, "lena", locale="pl-PL")
    await page.goto(f"{pages_server.url}/history")
    assert await page.inner_text("h1") == "Historia połączeń"
    assert "10.03.2026, 09:00" in await page.inner_text("tr[data-call-id='lena-in-1']")


async def test_switching_the_profile_language_changes_the_pages(
        browser: Browser, pages_server: RunningServer) -> None:
    page = await sign_in(browser, pages_server, "marta", locale="en-US")
    await page.goto(f"{pages_server.url}/history")
    assert await page.get_attribute("html", "lang") == "es"  # her profile beats the browser
    assert "10/3/26, 9:00" in await page.inner_text("tr[data-call-id='marta-in-1']")
    await page.goto(f"{pages_server.url}/profile")
    await page.select_option("#language", "pl")
    await page.click("form[action='/profile/language'] button[type=submit]")
    await page.wait_for_url("**/profile?done=language")
    assert await page.get_attribute("html", "lang") == "pl"
    await page.click("nav.topnav a[href='/history']")
    await page.wait_for_selector("table.history")
    assert await page.inner_text("h1") == "Historia połączeń"
    row = await page.inner_text("tr[data-call-id='marta-in-1']")
    assert "10.03.2026, 09:00" in row and "Przychodzące" in row
    await page.select_option("#direction", "outbound")
    await page.click("form.history-filters button[type=submit]")
    await page.wait_for_url("**direction=outbound*")
    assert await row_ids(page) == ["marta-out-2", "marta-out-1"]
    assert page.errors == []  # type: ignore[attr-defined]


async def test_contact_page_shows_the_contacts_calls(browser: Browser,
                                                     pages_server: RunningServer) -> None:
    page = await sign_in(browser, pages_server, "olga")
    await page.goto(f"{pages_server.url}/contacts")
    await page.click("table.contacts a:has-text('Ana López')")
    section = page.locator("section.contact-history")
    await section.locator("li[data-call-id]").first.wait_for()
    # Olga's calls with Ana's number, hers only (Marta and Lena called Ana too).
    assert await section.locator("li[data-call-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.callId)") == ["olga-out-2", "olga-in-1"]
    assert await section.locator("h2").inner_text() == "Połączenia"
    assert page.errors == []  # type: ignore[attr-defined]
