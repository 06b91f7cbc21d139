"""Dispositions per inbound queue through real peers: a SIPp customer's call arrives
through Kamailio with X-Headset-Queue, the agent answers it in headless Chromium, and the
call window offers only the dispositions of that queue (and those offered everywhere);
the queue's "must disposition" then keeps the Call button off until it is saved.

Set HEADSET_SCREENSHOTS=<folder> to keep light and dark screenshots of the admin page.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from playwright.async_api import Browser

from crm import call_work, disposition_catalog, queue_store, users
from crm.dispositions import Kind, Scenario
from tests.conftest import Lab
from tests.lab.sipp import HOST, Sipp
from tests.support.server import FAST_HASHING, PASSWORD, RunningServer
from web.appkeys import DB

from .conftest import login
from .test_call_window import WINDOW, _screenshots, _user_id
from .test_softphone import go_online, state


class QueueCaller(Sipp):
    """A customer the PBX hands over from queue ``queue`` (uac_queue_call.xml), who
    talks for ``hold_ms`` and hangs up."""

    def __init__(self, proxy: str, target: str, queue: str, hold_ms: int) -> None:
        super().__init__("uac_queue_call", remote=proxy, service=target, hold_ms=hold_ms,
                         tone_hz=1000, host=HOST)
        self.queue = queue

    def command(self, work: Path) -> list[str]:
        return [*super().command(work), "-key", "queue", self.queue]


async def test_the_call_window_offers_the_queues_dispositions(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    db = server.app[DB]
    page = await login(browser, server, "ana")
    await page.set_viewport_size({"width": 1366, "height": 768})
    me = await _user_id(page, server, "ana")
    sales = await queue_store.save_queue(db, None, "Ventas", "600", [me])
    support = await queue_store.save_queue(db, None, "Soporte", "700", [me])
    category = await disposition_catalog.create_category(db, "Resultado", Kind.SUCCESS)
    everywhere = await disposition_catalog.create_disposition(
        db, "Contestador", category, None, frozenset(Scenario))
    sold = await disposition_catalog.create_disposition(
        db, "Vendido", category, None, frozenset(Scenario), queue_id=sales.id)
    await disposition_catalog.create_disposition(
        db, "Resuelto", category, None, frozenset(Scenario), queue_id=support.id)
    await disposition_catalog.create_disposition(
        db, "Llamada saliente", category, None, frozenset({Scenario.MANUAL}),
        queue_id=sales.id)
    await disposition_catalog.set_must_disposition(db, True, queue_id=sales.id)
    await go_online(page)  # logs in to both queues

    with QueueCaller(lab.kamailio.hostport, "1001", "600", hold_ms=1500) as customer:
        await state(page, "call-state", "ringing")
        await page.click("section.softphone [data-action=answer]")
        await page.wait_for_selector(f"{WINDOW}:not([hidden])[data-call-id]")
        call_id = await page.get_attribute(WINDOW, "data-call-id")
        assert call_id
        offered = await page.eval_on_selector_all(
            "#cw-disposition option", "options => options.map(o => o.value)")
        ids = [v for v in offered if v and not v.startswith("wrap:")]
        assert ids == [str(everywhere), str(sold)], offered
        # Time in the current status, from the server's clock: talking, then wrap-up.
        await page.wait_for_selector(f"{WINDOW}[data-state=connected]")
        assert re.fullmatch(r"Talking · \d\d:\d\d", await page.inner_text(f"{WINDOW} .cw-status"))
        await state(page, "call-state", "ended", timeout=20)
        assert (await asyncio.to_thread(customer.wait, 10)).ok
        await page.wait_for_selector(f"{WINDOW}[data-state=ended]")
        assert re.fullmatch(r"Wrap-up · \d\d:\d\d", await page.inner_text(f"{WINDOW} .cw-status"))
    work = await call_work.get(db, call_id)
    assert work is not None and work.queue_id == sales.id

    # Ventas says "must disposition": the Call button is off until Save and finish.
    await page.wait_for_selector(f"section.softphone[data-blocking-call='{call_id}']")
    assert await page.is_disabled("section.softphone [data-action=dial]")
    await page.select_option("#cw-disposition", str(sold))
    await page.click("[data-action=cw-finish]")
    await page.wait_for_selector("section.softphone[data-blocking-call='']")
    work = await call_work.get(db, call_id)
    assert work is not None and work.disposition_id == sold and work.finished_at is not None

    # The admin page shows where each disposition is offered and the queue's setting.
    await users.create_user(db, "boss", PASSWORD, role="admin", dialer_enabled=True,
                            hashing=FAST_HASHING)
    admin = await login(browser, server, "boss")
    await admin.set_viewport_size({"width": 1366, "height": 768})
    await admin.goto(f"{server.url}/admin/dispositions")
    assert await admin.is_checked(f"#must_disposition_queue_{sales.id}")
    assert not await admin.is_checked(f"#must_disposition_queue_{support.id}")
    row = admin.locator("table.dispositions tr", has_text="Vendido")
    assert "Queue: Ventas" in await row.inner_text()
    await _screenshots(admin, "admin-dispositions-queues")
    await row.scroll_into_view_if_needed()
    await _screenshots(admin, "admin-dispositions-queue-rows")
