"""Ticket pages in headless Chromium, in Spanish: open a ticket with an action from a
contact's page, mark the action done, see the ticket's state change and the log say so.

Set HEADSET_SCREENSHOTS=<folder> to keep light and dark screenshots of the list and the
ticket.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page

from crm import contacts, ticket_store, users
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import database_ctx
from crm.tickets import ActionDraft, ActionEvent, Priority, TicketDraft
from gateway.settings import Settings
from tests.lab.ports import free_tcp_port
from tests.support.gateway import FAST_HASHING
from web.appkeys import DB, SETTINGS
from web.setup import setup_web

PASSWORD = "tickets page password"


@asynccontextmanager
async def pages_server(tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    """The web pages on a free loopback port, with a Spanish-speaking agent, a contact of
    theirs (with a company and a number) and a few older tickets; yields (url, contact id)."""
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
        lucia = await users.create_user(db, "lucia", PASSWORD, role="agent",
                                        display_name="Lucía Fernández", language="es",
                                        hashing=FAST_HASHING)
        acme = await contacts.create_contact(db, ContactDraft(
            kind=ContactKind.COMPANY, name="Transportes Ibéricos S.L."))
        ana = await contacts.create_contact(db, ContactDraft(
            kind=ContactKind.PERSON, name="Ana López", owner_id=lucia.id, company_id=acme.id,
            phones=(ContactPhone(PhoneLabel.MOBILE, "+34612345678"),
                    ContactPhone(PhoneLabel.WORK, "+34911234567"))))
        for subject, priority, done in (("Cambio de tarifa", Priority.LOW, True),
                                        ("Router sin conexión", Priority.URGENT, False),
                                        ("Baja de una línea", Priority.HIGH, False)):
            ticket_id = await ticket_store.create_ticket(
                db, TicketDraft(ana.id, subject, priority=priority, agent_id=lucia.id,
                                group="Soporte técnico"), lucia, ActionDraft("Llamar"))
            if done:
                ticket = await ticket_store.get_ticket(db, ticket_id)
                assert ticket is not None
                await ticket_store.change_action(db, ticket_id, ticket.actions[0].id,
                                                 ActionEvent.COMPLETE, lucia)
        yield f"http://127.0.0.1:{port}", ana.id
    finally:
        await runner.cleanup()


async def _login(browser: Browser, base: str) -> Page:
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{base}/login")
    await page.fill("#username", "lucia")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/")
    return page


async def _screenshots(page: Page, name: str) -> None:
    folder = os.environ.get("HEADSET_SCREENSHOTS")
    if not folder:
        return
    await page.evaluate("window.scrollTo(0, 0)")
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.screenshot(path=str(Path(folder) / f"{name}-{scheme}.png"), full_page=True)
    await page.emulate_media(color_scheme="light")


@pytest.mark.timeout(180)
async def test_ticket_with_an_action_from_a_contact(browser: Browser, tmp_path: Path) -> None:
    async with pages_server(tmp_path) as (base, contact_id):
        page = await _login(browser, base)
        await page.goto(f"{base}/contacts/{contact_id}")
        await _screenshots(page, "contact-page")
        await page.click(f"a[href='/tickets/new?contact_id={contact_id}']")
        await page.wait_for_selector("#subject")
        # The agent is preselected for the ticket and its action.
        assert await page.input_value("#agent_id") != ""
        await _screenshots(page, "ticket-new")
        await page.fill("#subject", "Factura duplicada de marzo")
        await page.fill("#description", "Le han cobrado dos veces la cuota.")
        await page.select_option("#priority", "high")
        await page.fill("#group", "  Facturación ")
        await page.fill("#action_description", "Llamar para confirmar el abono")
        await page.fill("#action_due", "2026-03-12T10:30")
        await page.click("form button.primary")
        await page.wait_for_url("**/tickets/*?done=created")
        assert "Incidencia abierta." in await page.inner_text("p.notice")
        assert await page.get_attribute(".ticket-meta", "data-ticket-state") == "open"
        assert "Abierta" in await page.inner_text(".ticket-meta .tk-state")
        action = page.locator(".tk-action").first
        assert await action.get_attribute("data-action-state") == "pending"
        assert "Acción pendiente" in await action.inner_text()
        # The contact's numbers can be dialled from the ticket.
        assert await page.locator("a.tel[data-dial='+34612345678']").count() == 1
        await _screenshots(page, "ticket-open")

        # Marking it done: the keyboard reaches the button by its name.
        await page.get_by_role("button",
                               name="Marcar como hecha: Llamar para confirmar el abono").click()
        await page.wait_for_url("**done=action_changed*")
        assert await page.get_attribute(".ticket-meta", "data-ticket-state") == "done"
        assert "Resuelta" in await page.inner_text(".ticket-meta .tk-state")
        assert await action.get_attribute("data-action-state") == "done"
        # The log says who changed the action, from what to what, newest first.
        first = page.locator("table.tk-log tbody tr").first
        text = await first.inner_text()
        assert "Lucía Fernández" in text and "Estado de la acción" in text
        assert "Llamar para confirmar el abono" in text
        assert await first.locator("del").inner_text() == "Acción pendiente"
        assert await first.locator("ins").inner_text() == "Hecha"
        assert await page.locator("table.tk-log tbody tr").count() == 10
        await _screenshots(page, "ticket-done")

        # The list: the new ticket done (green, with its word), others still pending.
        await page.click(".breadcrumb a")
        await page.wait_for_selector("table.tickets")
        row = page.locator("table.tickets tbody tr").first
        assert await row.get_attribute("data-ticket-state") == "done"
        assert "Resuelta" in await row.inner_text()
        await _screenshots(page, "tickets-list")
        await page.select_option("#state", "open")
        await page.click("form[role=search] button.primary")
        await page.wait_for_url("**state=open*")
        subjects = await page.locator("table.tickets th[scope=row] a").all_inner_texts()
        assert subjects == ["Baja de una línea", "Router sin conexión"]
        # Pending in the light theme's red (--danger, #b3261e), done in its green.
        assert await page.eval_on_selector("table.tickets tbody tr .tk-state",
                                           "el => getComputedStyle(el).color") == "rgb(179, 38, 30)"
        assert page.errors == []  # type: ignore[attr-defined]
