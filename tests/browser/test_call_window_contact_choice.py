"""The call window's contact choice in headless Chromium, with SIPp customers calling
through Kamailio: a number two contacts share offers both, and picking one shows that
contact and keeps it with the call; an unknown number offers "New contact", which opens
the contact form with the number filled in while the call carries on, and its call is
closed with the "wrong number" shortcut."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Browser

from crm import call_work, contacts
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from tests.browser.test_call_window import WINDOW
from tests.browser.test_page_navigation import shown
from tests.conftest import Lab
from tests.lab.sipp import uac_call
from tests.support.server import RunningServer
from web.appkeys import DB

from .conftest import login
from .test_softphone import go_online, state

SHARED = "+34911234567"


async def test_pick_among_matches_and_create_for_an_unknown_number(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    db = server.app[DB]
    ids = {}
    for name in ("Lucía Fernández", "Luis Fernández"):
        ids[name] = (await contacts.create_contact(db, ContactDraft(
            kind=ContactKind.PERSON, name=name,
            phones=(ContactPhone(PhoneLabel.MOBILE, SHARED),)))).id
    page = await login(browser, server, "ana")
    await page.set_viewport_size({"width": 1366, "height": 768})
    await go_online(page)

    with uac_call(lab.kamailio.hostport, "1001", from_user=SHARED.lstrip("+"),
                  hold_ms=4000) as customer:
        await state(page, "call-state", "ringing")
        await page.click("section.softphone [data-action=answer]")
        await page.wait_for_selector(f"{WINDOW}:not([hidden])[data-call-id]")
        call_id = await page.get_attribute(WINDOW, "data-call-id")
        assert call_id
        picks = page.locator(f"{WINDOW} [data-action=cw-pick]")
        await picks.nth(1).wait_for()
        assert await picks.count() == 2
        chosen = ids["Luis Fernández"]
        await page.click(f"{WINDOW} [data-action=cw-pick][data-contact-id='{chosen}']")
        # The pick buttons carry the names too: wait for them to go before looking for
        # the chosen contact, or the name on a button would satisfy the wait.
        await page.wait_for_selector(f"{WINDOW} [data-action=cw-pick]", state="detached")
        await page.wait_for_selector(f"{WINDOW} .cw-contact :text('Luis Fernández')")
        assert await page.locator(f"{WINDOW} .cw-contact :text('Lucía Fernández')").count() == 0
        work = await call_work.get(db, call_id)
        assert work is not None and work.contact_id == chosen
        await state(page, "call-state", "ended", timeout=20)
        assert (await asyncio.to_thread(customer.wait, 10)).ok

    with uac_call(lab.kamailio.hostport, "1001", from_user="34919999999",
                  hold_ms=6000) as customer:
        await state(page, "call-state", "ringing")
        await page.click("section.softphone [data-action=answer]")
        await page.wait_for_selector(f"{WINDOW}[data-state=connected]")
        link = page.locator(f"{WINDOW} a[href^='/contacts/new?number=']")
        await link.wait_for()
        await link.focus()
        await page.keyboard.press("Enter")
        await shown(page, "/contacts/new")
        number = await page.input_value("main form input[name='phone_number_0']")
        assert re.sub(r"\D", "", number).endswith("919999999"), number
        await state(page, "call-state", "connected")  # the page changed, the call did not
        unknown = await page.get_attribute(WINDOW, "data-call-id")
        assert unknown
        await state(page, "call-state", "ended", timeout=20)
        assert (await asyncio.to_thread(customer.wait, 10)).ok
    # Closed with the "wrong number" shortcut from the window, still over the form page.
    await page.click(f"{WINDOW} [data-action=wrap-wrong_number]")
    assert await page.input_value("#cw-disposition") == "wrap:wrong_number"
    await page.click(f"{WINDOW} [data-action=cw-finish]")
    await page.wait_for_selector(f"{WINDOW}[hidden]", state="attached")
    work = await call_work.get(db, unknown)
    assert work is not None and work.finished_at is not None
    assert work.wrap_up is not None and work.wrap_up.value == "wrong_number"
