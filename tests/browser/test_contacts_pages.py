"""Contact pages in headless Chromium: searching the list, importing a CSV file with its
progress bar, against the real pages on a loopback port."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, Response

from crm import call_records, call_work, clock, contacts, disposition_catalog, users
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database, database_ctx
from crm.dispositions import Kind, Scenario, Submission
from gateway.settings import Settings
from tests.lab.ports import free_tcp_port
from tests.support.gateway import FAST_HASHING
from web.appkeys import DB, SETTINGS
from web.setup import setup_web

PASSWORD = "contacts page password"
# The database behind each running pages server, by its base URL.
_DATABASES: dict[str, Database] = {}


def pages_db(base: str) -> Database:
    return _DATABASES[base]


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
        base = f"http://127.0.0.1:{port}"
        _DATABASES[base] = db
        yield base
    finally:
        _DATABASES.pop(f"http://127.0.0.1:{port}", None)
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
        # A short prefix, then the next page of its matches (few enough: by name).
        await page.fill("#q", "cl")
        await page.press("#q", "Enter")
        await page.wait_for_url("**q=cl*")
        assert (await _names(page))[0] == "Cliente 00"
        await page.click("a[rel=next]")
        await page.wait_for_url("**after=*")
        assert await _names(page) == [f"Cliente {i:02d}" for i in range(25, 40)]
        await page.click("a[rel=prev]")
        await page.wait_for_url("**before=*")
        assert (await _names(page))[0] == "Cliente 00"
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
        # Rows 0-39 bring the numbers "Cliente 00".."39" already have: skipped (the
        # default choice), not duplicated.
        assert "Importados: 2960. Filas saltadas: 1. Filas del archivo: 3001." in message
        assert polled and polled[-1] == 100
        # The result page lists the bad row, escaped, and each duplicate.
        await page.click("#import-finished a.button")
        await page.wait_for_selector("table.import-errors")
        summary = await page.inner_text("#import-summary")
        assert "Filas saltadas: 1." in summary
        assert "Duplicados: 40 omitidos, 0 actualizados, 0 creados de todos modos." in summary
        assert await page.locator("table.import-errors tbody tr").count() == 2
        assert await page.locator("table.import-duplicates tbody tr").count() == 40
        # No script from the file's cells (the page's own JSON data block aside).
        assert await page.locator("script:not([src]):not([type='application/json'])"
                                  ).count() == 0
        assert page.errors == []  # type: ignore[attr-defined]


async def _screenshots(page: Page, name: str) -> None:
    """Light and dark screenshots when HEADSET_SCREENSHOTS names a folder."""
    folder = os.environ.get("HEADSET_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.screenshot(path=str(Path(folder) / f"{name}-{scheme}.png"))
    await page.emulate_media(color_scheme="light")


async def _calls(base_db: Database) -> int:
    """Zofia called two days ago with the disposition "Venta"; the others never."""
    agent = await base_db.fetchone("SELECT id FROM users WHERE username = 'sara'")
    assert agent is not None
    zofia = await base_db.fetchone("SELECT id FROM contacts WHERE name = 'Zofia Wójcik'")
    assert zofia is not None
    category = await disposition_catalog.create_category(base_db, "Éxito", Kind.SUCCESS)
    sale = await disposition_catalog.create_disposition(base_db, "Venta", category, None,
                                                        frozenset(Scenario))
    started = clock.utc_now() - timedelta(days=2)
    await call_records.create(base_db, "call-1", agent["id"], "outbound", "1001",
                              "+34612345678", "", started, region="ES")
    await call_work.start(base_db, "call-1", agent["id"], zofia["id"], started)
    await call_work.finish(base_db, "call-1", Submission(disposition_id=sale), started)
    return sale


@pytest.mark.timeout(180)
async def test_company_autocomplete_and_activity_filters(browser: Browser,
                                                         tmp_path: Path) -> None:
    async with pages_server(tmp_path) as base:
        db = pages_db(base)
        for name in ("Transportes García", "Transportes Łódź", "Telecom Sur"):
            await contacts.create_contact(db, ContactDraft(kind=ContactKind.COMPANY,
                                                           name=name))
        sale = await _calls(db)
        page = await _login(browser, base)
        await page.goto(f"{base}/contacts/new")
        combo = page.locator("#company_name")
        assert await combo.get_attribute("role") == "combobox"
        # Keyboard only: type, arrow down twice, Enter.
        await combo.focus()
        await page.keyboard.type("trans")
        await page.wait_for_selector("#company_name-options li >> nth=1")
        assert await combo.get_attribute("aria-expanded") == "true"
        options = await page.locator("#company_name-options li").all_inner_texts()
        assert options == ["Transportes García", "Transportes Łódź",
                           "Crear la empresa «trans»"]
        await page.keyboard.press("ArrowDown")
        await page.keyboard.press("ArrowDown")
        active = await combo.get_attribute("aria-activedescendant")
        assert active and await page.inner_text(f"#{active}") == "Transportes Łódź"
        await _screenshots(page, "contact-form-company-autocomplete")
        await page.keyboard.press("Enter")
        assert await combo.input_value() == "Transportes Łódź"
        assert await combo.get_attribute("aria-expanded") == "false"
        assert await page.input_value("input[name=company_id]") != ""
        await page.fill("#name", "Ana Autocompletada")
        await page.click("form button.primary")
        await page.wait_for_url("**done=created")
        assert await page.input_value("#company_name") == "Transportes Łódź"
        # A company that does not exist yet: the last suggestion creates it; Escape
        # closes the list without choosing.
        await page.goto(f"{base}/contacts/new")
        await page.locator("#company_name").focus()
        await page.keyboard.type("Nueva Empresa SL")
        await page.wait_for_selector("#company_name-options li.create")
        await page.keyboard.press("Escape")
        assert await page.locator("#company_name-options").is_hidden()
        await page.keyboard.press("ArrowDown")
        await page.wait_for_selector("#company_name-options li.create")
        await page.keyboard.press("ArrowDown")
        await page.keyboard.press("Enter")
        assert await page.input_value("input[name=company_create]") == "1"
        await page.fill("#name", "Bea Nueva")
        await page.click("form button.primary")
        await page.wait_for_url("**done=created")
        assert await contacts.company_named(db, "nueva empresa sl") is not None

        # The list's filters: last call and disposition, next to the others.
        await page.goto(f"{base}/contacts")
        await page.select_option("#activity", "7d")
        await page.click("form.filters button.primary")
        await page.wait_for_url("**activity=7d*")
        assert await _names(page) == ["Zofia Wójcik"]
        await page.select_option("#activity", "never")
        await page.click("form.filters button.primary")
        await page.wait_for_url("**activity=never*")
        assert "Zofia Wójcik" not in await _names(page)
        await page.select_option("#activity", "")
        await page.select_option("#disposition", str(sale))
        await page.locator("#company_name").fill("")
        await page.click("form.filters button.primary")
        await page.wait_for_url(f"**disposition={sale}*")
        assert await _names(page) == ["Zofia Wójcik"]
        # The company filter is the same autocomplete.
        await page.goto(f"{base}/contacts")
        await page.locator("#company_name").focus()
        await page.keyboard.type("transportes l")
        await page.wait_for_selector("#company_name-options li")
        await page.keyboard.press("ArrowDown")
        await page.keyboard.press("Enter")
        await page.click("form.filters button.primary")
        await page.wait_for_url("**company=*")
        assert await _names(page) == ["Ana Autocompletada", "Transportes Łódź"]
        await page.goto(f"{base}/contacts?activity=30d&disposition={sale}")
        await _screenshots(page, "contact-list-filters")
        assert page.errors == []  # type: ignore[attr-defined]
        # A date range that ends before it starts: said next to the field (the page
        # answers 400, which is all the console reports).
        await page.goto(f"{base}/contacts?active_from=2026-03-02&active_to=2026-03-01"
                        "&activity=30d")
        assert await page.locator("#active_to-error").is_visible()
        await _screenshots(page, "contact-list-filters-error")
        assert all("status of 400" in e for e in page.errors)  # type: ignore[attr-defined]
