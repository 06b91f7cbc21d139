"""The call window in headless Chromium, through the real app, workers, Kamailio and a
pjsua2 phone: it opens with the call, keeps notes through a crashed or closed tab, and
"must disposition" keeps the Call button off until the call is saved and finished.

Set HEADSET_SCREENSHOTS=<folder> to keep light and dark screenshots of the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import replace
from pathlib import Path

from playwright.async_api import Browser, Page

from crm import call_work, contacts, disposition_catalog
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.dispositions import Kind, Scenario
from tests.conftest import Lab
from tests.lab.sipp import uac_call
from tests.support.server import RunningServer
from web.appkeys import DB, DEPLOYMENT

from .conftest import login
from .test_softphone import call_to_a_phone, go_online, state

WINDOW = "#call-window"
NOTE = "Cliente pide factura =cmd|' /C calc'!A0 <script>alert(1)</script>"


async def _open_window(page: Page) -> str:
    await page.wait_for_selector(f"{WINDOW}:not([hidden])[data-call-id]")
    call_id = await page.get_attribute(WINDOW, "data-call-id")
    assert call_id
    return call_id


async def _call_and_hang_up(page: Page, lab: Lab, during: str = "") -> str:
    """Call the lab phone; the window opens by itself; choose the disposition ``during``
    the call if given; hang up from the softphone."""
    async with call_to_a_phone(page, lab) as phone:
        call_id = await _open_window(page)
        await page.wait_for_selector(f"{WINDOW}[data-state=connected]")
        if during:
            await page.select_option("#cw-disposition", during)
        await page.click("section.softphone [data-action=hangup]")
        await state(page, "call-state", "ended")
        await asyncio.to_thread(phone.wait_state, "DISCONNECTED")
    await page.wait_for_selector(f"{WINDOW}[data-state=ended]")
    return call_id


async def _stored_note(server: RunningServer, call_id: str, user_id: int,
                       timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        note = await call_work.get_note(server.app[DB], call_id, user_id)
        if (note is not None and note.body == NOTE) or time.monotonic() > deadline:
            return note.body if note else ""
        await asyncio.sleep(0.1)


async def _user_id(page: Page, server: RunningServer, username: str) -> int:
    row = await server.app[DB].fetchone("SELECT id FROM users WHERE username = ?", (username,))
    assert row is not None
    return int(row["id"])


async def test_notes_survive_a_crashed_tab_and_a_closed_browser(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    page = await login(browser, server, "ana")
    await go_online(page)
    call_id = await _call_and_hang_up(page, lab)
    ana = await _user_id(page, server, "ana")

    # Typed, and the tab's renderer dies at once, before the autosave's quiet second.
    await page.fill("#cw-notes", NOTE)
    await page.evaluate("1")  # the input event has been handled
    crashed = asyncio.Event()
    page.on("crash", lambda _page: crashed.set())
    # The navigation never completes: the renderer is gone.
    with contextlib.suppress(Exception):
        await page.goto("chrome://crash", timeout=3000)
    await asyncio.wait_for(crashed.wait(), 10)
    # The same browser profile opens Headset again: the unfinished call is listed, and
    # its window sends the note the crashed tab kept locally.
    again = await page.context.new_page()
    await again.goto(f"{server.url}/")
    await again.click(f".cw-list [data-call-id='{call_id}'] [data-action=cw-reopen]")
    await again.wait_for_selector(f"{WINDOW}[data-note-state=saved]")
    assert await again.input_value("#cw-notes") == NOTE
    assert await _stored_note(server, call_id, ana) == NOTE

    # Typed again, and the tab is closed at once (no goodbye, before the autosave's quiet
    # second): the page's hide handler sends the note with keepalive, which the browser
    # finishes after the tab is gone. (Closing the whole browser profile instead also
    # tears down its network stack, so a request in flight may be cut: not a tab close.)
    edited = NOTE + " — llamar el lunes"
    await again.fill("#cw-notes", edited)
    await again.close()
    deadline = time.monotonic() + 10
    while (note := await call_work.get_note(server.app[DB], call_id, ana)) is None or (
            note.body != edited):
        assert time.monotonic() < deadline, f"the last note was lost: {note}"
        await asyncio.sleep(0.1)


async def test_mandatory_disposition_blocks_the_call_button_until_saved(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    db = server.app[DB]
    await disposition_catalog.set_must_disposition(db, True)
    sold = await disposition_catalog.create_category(db, "Venta", Kind.SUCCESS)
    form = await disposition_catalog.create_form(db, "Pedido")
    await disposition_catalog.add_field(db, form, "Importe", "number", True, [])
    sale = await disposition_catalog.create_disposition(db, "Venta cerrada", sold, form,
                                                        frozenset(Scenario))
    page = await login(browser, server, "ana")
    await page.set_viewport_size({"width": 1366, "height": 768})
    await go_online(page)
    # Chosen while talking, kept when the call ends and the window reloads it.
    call_id = await _call_and_hang_up(page, lab, during=str(sale))
    assert await page.input_value("#cw-disposition") == str(sale)

    # The server says which call blocks; the Call button is off and says why.
    await page.wait_for_selector(f"section.softphone[data-blocking-call='{call_id}']")
    assert await page.is_disabled("section.softphone [data-action=dial]")
    assert await page.is_visible("section.softphone .sp-work")
    await page.fill("#softphone-number", "1003")
    await page.press("#softphone-number", "Enter")
    await page.wait_for_function(
        "document.querySelector('section.softphone .sp-notice').innerText"
        ".includes('Save and finish')")
    await state(page, "call-state", "idle")

    # A disposition whose required field is empty: a clear message, nothing saved.
    await page.click("[data-action=cw-finish]")
    await page.wait_for_selector(f"{WINDOW} .cw-summary:not([hidden])")
    assert "Importe: this field is required." in await page.inner_text(WINDOW)
    assert (await call_work.get(db, call_id)).finished_at is None  # type: ignore[union-attr]
    await _screenshots(page, "call-window-errors")

    await page.fill("#cw-field-importe", "149,90")
    await page.fill("#cw-notes", "Cliente satisfecho")
    await page.fill("#cw-tags", "VIP, Factura")
    await page.press("#cw-tags", "Tab")
    await page.eval_on_selector(f"{WINDOW} .cw-body", "body => body.scrollTo(0, 0)")
    await _screenshots(page, "call-window")
    await page.click("[data-action=cw-finish]")
    await page.wait_for_selector(f"{WINDOW}[hidden]", state="attached")
    await page.wait_for_selector("section.softphone[data-blocking-call='']")
    assert await page.is_enabled("section.softphone [data-action=dial]")
    work = await call_work.get(db, call_id)
    assert work is not None and work.disposition_id == sale
    assert work.values == {"importe": "149.9"}
    assert await call_work.get_tags(db, call_id) == ["VIP", "Factura"]
    # The list of calls still to finish is refreshed after the save: wait for it, a
    # single read raced the refresh on a loaded machine.
    await page.wait_for_function("document.querySelector('.cw-list').innerText.trim() === ''")
    errors = [e for e in page.errors  # type: ignore[attr-defined]
              if not e.startswith(("ws ", "<", ">")) and "status of 400" not in e]
    assert errors == []


async def test_without_auto_open_a_ringing_call_offers_the_window(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    db = server.app[DB]
    await contacts.create_contact(db, ContactDraft(
        kind=ContactKind.PERSON, name="Lucía Fernández",
        phones=(ContactPhone(PhoneLabel.MOBILE, "+34911234567"),)))
    # A talk-time target the 2 s call will pass (the settings page allows 10 s or more).
    live = server.app[DEPLOYMENT]
    live.current = replace(live.current, target_talk_seconds=1)
    page = await login(browser, server, "ana")
    await call_work.set_auto_open(db, await _user_id(page, server, "ana"), False)
    await page.reload()
    await go_online(page)
    with uac_call(lab.kamailio.hostport, "1001", from_user="34911234567",
                  hold_ms=2000) as customer:
        await state(page, "call-state", "ringing")
        button = "[data-action=cw-open-live]"
        await page.wait_for_selector(button)
        assert await page.is_hidden(WINDOW)
        await page.focus(button)
        await page.keyboard.press("Enter")
        await page.wait_for_selector(f"{WINDOW}:not([hidden])[data-state=ringing]")
        assert "Lucía Fernández" in await page.inner_text(f"{WINDOW} .cw-contact")
        # Opened by the agent: the keyboard is in the notes; Escape hides the window.
        assert await page.evaluate("document.activeElement.id") == "cw-notes"
        await page.click("section.softphone [data-action=answer]")
        await page.wait_for_selector(f"{WINDOW}[data-state=connected]")
        await page.wait_for_selector(f"{WINDOW}[data-state=ended]", timeout=20_000)
        assert (await asyncio.to_thread(customer.wait, 10)).ok
    # The talk timer turned red past the target, and says so in words.
    await page.wait_for_selector(f"{WINDOW} .cw-talk.cw-talk--over[data-over=true]")
    assert "00:01" in (await page.get_attribute(f"{WINDOW} .cw-talk", "title") or "")
    await page.focus("#cw-notes")
    await page.keyboard.press("Escape")
    await page.wait_for_selector(f"{WINDOW}[hidden]", state="attached")
    # The ended call waits in the dock until it is finished.
    await page.wait_for_selector(".cw-list li:has-text('Lucía Fernández')")


async def _screenshots(page: Page, name: str) -> None:
    folder = os.environ.get("HEADSET_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.screenshot(path=str(Path(folder) / f"{name}-{scheme}.png"))
    await page.emulate_media(color_scheme="light")
