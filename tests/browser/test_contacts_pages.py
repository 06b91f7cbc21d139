"""Contact pages in headless Chromium: searching the list, importing a CSV file with its
progress bar, against the real pages on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, Response

from crm import contacts, users
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import database_ctx
from gateway.settings import Settings
from tests.lab.ports import free_tcp_port
from tests.support.gateway import FAST_HASHING
from web.appkeys import DB, SETTINGS
from web.setup import setup_web

PASSWORD = "contacts page password"


@asynccontextmanager
async def pages_server(tmp_path: Path) -> AsyncIterator[str]:
    """The web pages (no line workers: nothing here calls) with a supervisor and some
    contacts, on a free loopback port."""
    app = web.Application()
    app[SETTINGS] = Settings(data_dir=str(tmp_path / "data"), region="ES")
    app.cleanup_ctx.append(database_ctx)
    setup_web(app, hashing=FAST_HASHING)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_tcp_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        db = app[DB]
        await users.create_user(db, "sara", PASSWORD, role="supervisor",
                                display_name="Sara Supervisora", language="es",
                                hashing=FAST_HASHING)
        for i in range(40):
            await contacts.create_contact(db, ContactDraft(
                kind=ContactKind.PERSON, name=f"Cliente {i:02d}",
                phones=(ContactPhone(PhoneLabel.MOBILE, f"+3460000{i:04d}"),)))
        await contacts.create_contact(db, ContactDraft(
            kind=ContactKind.PERSON, name="Zofia Wójcik", email="zofia@firma.pl",
            phones=(ContactPhone(PhoneLabel.WORK, "+34612345678"),)))
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _login(browser: Browser, base: str) -> Page:
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{base}/login")
    await page.fill("#username", "sara")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/")
    return page


async def _names(page: Page) -> list[str]:
    return [n.strip() for n in await page.locator("table.contacts th[scope=row] a")
            .all_inner_texts()]


@pytest.mark.timeout(180)
async def test_search_the_list_by_name_and_number(browser: Browser, tmp_path: Path) -> None:
    async with pages_server(tmp_path) as base:
        page = await _login(browser, base)
        await page.goto(f"{base}/contacts")
        assert len(await _names(page)) == 25
        await page.fill("#q", "wojcik")
        await page.press("#q", "Enter")
        await page.wait_for_url("**/contacts?q=wojcik*")
        assert await _names(page) == ["Zofia Wójcik"]
        # A number as an agent would type it, in national format.
        await page.fill("#q", "612 34 56 78")
        await page.press("#q", "Enter")
        await page.wait_for_url("**q=612*")
        assert await _names(page) == ["Zofia Wójcik"]
        # A short prefix, then the next page of many matches.
        await page.fill("#q", "cl")
        await page.press("#q", "Enter")
        await page.wait_for_url("**q=cl*")
        assert (await _names(page))[0] == "Cliente 00"
        await page.click("a[rel=next]")
        await page.wait_for_url("**page=2*")
        assert await _names(page) == [f"Cliente {i:02d}" for i in range(25, 40)]
        assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.timeout(240)
async def test_import_shows_progress_to_100_percent(browser: Browser, tmp_path: Path) -> None:
    rows = ["Nombre;Teléfono;Correo electrónico;Etiquetas"]
    rows += [f"Importado {i};6{i:08d};imp{i}@example.es;Feria" for i in range(3000)]
    rows.append('<script>alert(1)</script>;12ab;x;')
    source = tmp_path / "clientes.csv"
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    async with pages_server(tmp_path) as base:
        page = await _login(browser, base)
        await page.goto(f"{base}/contacts")
        await page.click("a[href='/contacts/import']")
        await page.set_input_files("#file", str(source))
        await page.click("#import-upload button[type=submit]")
        # The mapping step, guessed from the Spanish titles.
        await page.wait_for_selector("#map_0")
        assert await page.input_value("#map_0") == "name"
        assert await page.input_value("#map_1") == "phone_other"
        assert await page.input_value("#map_2") == "email"
        polled: list[int] = []

        async def record(response: Response) -> None:
            if response.url.endswith("/progress"):
                polled.append((await response.json())["percent"])

        page.on("response", record)
        await page.click("form button.primary")
        await page.wait_for_selector("#import-bar")
        await page.wait_for_selector("#import-finished:not([hidden])", timeout=180_000)
        assert await page.eval_on_selector("#import-bar", "bar => bar.value") == 100
        assert await page.inner_text("#import-percent") == "100"
        message = await page.inner_text("#import-finished .notice")
        assert "Importados: 3000. Filas saltadas: 1. Filas del archivo: 3001." in message
        assert polled and polled[-1] == 100
        # The result page lists the bad row, escaped.
        await page.click("#import-finished a.button")
        await page.wait_for_selector("table.import-errors")
        assert "Filas saltadas: 1." in await page.inner_text("#import-summary")
        assert await page.locator("table.import-errors tbody tr").count() == 2
        assert await page.locator("script:not([src])").count() == 0
        assert page.errors == []  # type: ignore[attr-defined]
