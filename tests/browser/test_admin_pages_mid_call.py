"""The administration pages under soft navigation, during a live call: an administrator
who is also an agent walks users, queues, dispositions, pause codes, settings and the SMS
gateway by links and forms (mistakes first, then right) while talking to a pjsua2 phone
through Kamailio. Afterwards both tones are still heard, by the browser and by the phone,
on the same document and the same RTCPeerConnection."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page

from crm import disposition_catalog, pause_codes, queue_store, users
from tests.browser.conftest import BROWSER_TONE, login
from tests.browser.test_page_navigation import shown
from tests.browser.test_softphone import (
    ROOT,
    hears,
    online_in_a_call_heard_both_ways,
    state,
)
from tests.conftest import Lab
from tests.support.server import RunningServer
from web.appkeys import DB

PHONE_TONE = 1500
MARK = """async () => {
  const boot = await import("/static/softphone-boot.js");
  window.__adminWalk = { pc: boot.softphone.pc };
  return Boolean(boot.softphone.pc);
}"""
SAME = """async () => {
  if (!window.__adminWalk) return "document replaced";
  const boot = await import("/static/softphone-boot.js");
  return boot.softphone.pc === window.__adminWalk.pc ? "same" : "peer connection replaced";
}"""


async def _open(page: Page, selector: str) -> str:
    """Follow a link by the keyboard (the call window may sit over the page); its path."""
    href = await page.get_attribute(selector, "href")
    assert href
    await page.focus(selector)
    await page.keyboard.press("Enter")
    await shown(page, urlsplit(href).path)
    return urlsplit(href).path


async def _submit(page: Page, form: str) -> None:
    await page.focus(f"{form} button[type=submit]")
    await page.keyboard.press("Enter")


async def _notice(page: Page) -> str:
    """After a form that redirects with a notice: the page shown, its notice text."""
    await page.wait_for_selector("main .notice")
    await page.wait_for_function("() => !document.querySelector('main[aria-busy]')")
    return await page.inner_text("main .notice")


@pytest.mark.timeout(240)
async def test_admin_pages_by_links_and_forms_keep_the_call(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    db = server.app[DB]
    ana = await users.get_by_username(db, "ana")
    assert ana is not None
    await users.update_user(db, ana.id, role="admin")
    page = await login(browser, server, "ana")
    await page.set_viewport_size({"width": 1366, "height": 768})
    async with online_in_a_call_heard_both_ways(page, lab, PHONE_TONE) as (phone, call_id):
        assert await page.evaluate(MARK)

        await _open(page, ".topnav a[href='/admin']")
        # Users: the list, one user's page, back.
        await _open(page, "main a[href='/admin/users']")
        await _open(page, f"main a[href='/admin/users/{ana.id}']")
        await page.go_back()
        await shown(page, "/admin/users")
        await page.go_back()
        await shown(page, "/admin")

        # Queues: a queue sent without a name (refused in place), then right.
        await _open(page, "main a[href='/admin/queues']")
        await _submit(page, "main form[action='/admin/queues/new']")
        await page.wait_for_selector("main .error-summary")
        await page.fill("#queue-name", "Ventas")
        await page.fill("#queue-pbx_number", "600")
        await _submit(page, "main form[action='/admin/queues/new']")
        await _notice(page)
        (queue,) = await queue_store.list_queues(db)
        await _open(page, f"main a[href='/admin/queues/{queue.id}']")
        await _open(page, ".topnav a[href='/admin']")

        # Dispositions: a category, the queue's "must disposition", a disposition for it.
        await _open(page, "main a[href='/admin/dispositions']")
        await page.fill("#category_name", "Venta")
        await _submit(page, "main form[action='/admin/dispositions/categories']")
        await _notice(page)
        await page.check(f"#must_disposition_queue_{queue.id}")
        await _submit(page, "main form[action='/admin/dispositions/policy']")
        await _notice(page)
        assert await disposition_catalog.must_disposition(db, queue_id=queue.id)
        await page.fill("#disposition_name", "Vendido")
        await page.select_option("#disposition_campaign", queue.ref)
        await _submit(page, "main form[action='/admin/dispositions/new']")
        await _notice(page)
        (made,) = await disposition_catalog.list_dispositions(db)
        assert made.queue_id == queue.id

        # Pause codes: a code that is not a number (refused in place), then right.
        await _open(page, ".topnav a[href='/admin']")
        await _open(page, "main a[href='/admin/pause-codes']")
        await page.fill("#code", "x")
        await page.fill("#name", "Almuerzo")
        await _submit(page, "main form[action='/admin/pause-codes']")
        await page.wait_for_selector("main .error-summary")
        await page.fill("#code", "11")
        await _submit(page, "main form[action='/admin/pause-codes']")
        await _notice(page)
        assert [c.name for c in await pause_codes.list_codes(db)] == ["Almuerzo"]

        # Settings saved as they are; the SMS gateway page.
        await _open(page, ".topnav a[href='/admin']")
        await _open(page, "main a[href='/admin/settings']")
        await _submit(page, "main form[action='/admin/settings']")
        await _notice(page)
        await _open(page, ".topnav a[href='/admin']")
        await _open(page, "main a[href='/admin/sms']")

        # The same call on the same document and peer connection; both tones still heard.
        assert await page.evaluate(SAME) == "same"
        await state(page, "call-state", "connected")
        assert await page.get_attribute(ROOT, "data-call-id") == call_id
        assert await hears(page, PHONE_TONE), "the browser no longer hears the phone"
        assert await asyncio.to_thread(phone.wait_hears, BROWSER_TONE, 8), \
            "the phone no longer hears the browser"
        await page.click("section.softphone [data-action=hangup]")
        await state(page, "call-state", "ended")
    assert [e for e in page.errors  # type: ignore[attr-defined]
            if not e.startswith(("ws ", "<", ">", "Failed to load resource: the server "
                                 "responded with a status of 400"))] == []
