"""Queues and campaigns in Chromium: the agent logs in to one queue from the status
control, then to everything, picks the campaign for their calls, is refused (in words,
the box un-ticked) for one archived meanwhile; the admin page and the control are
screenshotted light and dark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from crm import agent_state_store, queue_store, users
from crm.queues import CampaignState, Kind
from tests.browser.conftest import login
from tests.support.server import FAST_HASHING, PASSWORD, RunningServer
from web.appkeys import DB

STATUS = "[data-agent-status]"
SHOTS = Path("/tmp/headset-shots")


async def _shoot(page: Page, name: str, tmp_path: Path, target: str | None = None) -> None:
    """Light and dark screenshots at 1366x768 (kept in tmp_path, copied to SHOTS to look at)."""
    SHOTS.mkdir(exist_ok=True)
    await page.set_viewport_size({"width": 1366, "height": 768})
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        for folder in (tmp_path, SHOTS):
            path = str(folder / f"{name}-{scheme}.png")
            if target:
                await page.locator(target).screenshot(path=path)
            else:
                await page.screenshot(path=path, full_page=False)


async def test_agent_logs_in_to_queues_and_picks_a_campaign(browser: Browser,
                                                            server: RunningServer,
                                                            tmp_path: Path) -> None:
    db = server.app[DB]
    ana = await users.get_by_username(db, "ana")
    assert ana is not None
    soporte = await queue_store.save_queue(db, None, "Soporte", "600", [ana.id])
    ventas = await queue_store.save_queue(db, None, "Ventas", "601", [ana.id])
    renov = await queue_store.save_campaign(db, None, "Renovaciones", CampaignState.ACTIVE,
                                            None, None, True, [ana.id])
    encuesta = await queue_store.save_campaign(db, None, "Encuesta", CampaignState.ACTIVE,
                                               None, None, False, [ana.id])
    page = await login(browser, server, "ana")
    status = page.locator(f"{STATUS} [data-status-text]")
    await expect(status).to_have_text("Not taking calls")
    box = page.get_by_role("checkbox", name="Ventas")
    await expect(box).not_to_be_checked()

    # One queue from logged out: available, in that queue only.
    await box.check()
    await expect(status).to_have_text("Available")
    await expect(page.get_by_role("checkbox", name="Soporte")).not_to_be_checked()
    logins = await agent_state_store.logins(db, ana.id)
    assert logins.queues == {ventas.id} and logins.campaigns == frozenset()

    # Both campaigns by keyboard: the picker appears and sends calls to the chosen one.
    await page.get_by_role("checkbox", name="Renovaciones").focus()
    await page.keyboard.press("Space")
    await expect(page.get_by_role("checkbox", name="Renovaciones")).to_be_checked()
    picker = page.get_by_label("Campaign for my calls")
    await expect(picker).to_be_hidden()  # one campaign: it is the one
    await page.get_by_role("checkbox", name="Encuesta").check()
    await expect(picker).to_be_visible()
    # The select changes at once; the server's answer is what to wait for.
    async with page.expect_response(lambda r: r.url.endswith("/api/agent/state")
                                    and r.request.method == "POST") as answer:
        await picker.select_option(label="Encuesta")
    assert (await answer.value).ok
    await expect(picker).to_have_value(f"campaign:{encuesta.id}")
    assert await agent_state_store.outbound_campaign(db, ana.id) == encuesta.id
    await _shoot(page, "status-control", tmp_path, STATUS)

    # Archived meanwhile: ticking it is refused in words and the box goes back.
    await queue_store.set_archived(db, Kind.QUEUE, soporte.id, True)
    await page.get_by_role("checkbox", name="Soporte").check()
    await expect(page.locator(f"{STATUS} [data-status-error]")).to_contain_text("archived")
    await expect(page.get_by_role("checkbox", name="Soporte")).to_have_count(0)

    # Out of one campaign: back to the only one left, the picker goes.
    await page.get_by_role("checkbox", name="Encuesta").uncheck()
    await expect(picker).to_be_hidden()
    assert await agent_state_store.outbound_campaign(db, ana.id) == renov.id
    now = datetime.now(UTC)
    entries = await agent_state_store.item_log(db, ana.id, now - timedelta(hours=1),
                                               now + timedelta(hours=1))
    assert {(e.queue_id, e.campaign_id) for e in entries} == {
        (ventas.id, None), (None, renov.id), (None, encuesta.id)}
    assert not [e for e in page.errors if "pageerror" in e]  # type: ignore[attr-defined]

    # The admin page, as an administrator sees it.
    await users.create_user(db, "boss", PASSWORD, role="admin", dialer_enabled=True,
                            hashing=FAST_HASHING)
    admin = await login(browser, server, "boss")
    await admin.goto(f"{server.url}/admin/queues")
    await expect(admin.get_by_role("heading", name="Queues and campaigns")).to_be_visible()
    await _shoot(admin, "admin-queues", tmp_path)
    await admin.goto(f"{server.url}/admin/campaigns/{renov.id}")
    await _shoot(admin, "admin-campaign", tmp_path)
    await admin.goto(f"{server.url}/agents")
    row = admin.locator("tr", has_text="ana")
    await expect(row.locator("[data-agent-queues]")).to_contain_text("Ventas")
    await expect(row.locator("[data-agent-queues]")).to_contain_text("Renovaciones")
    await _shoot(admin, "agents-board", tmp_path)

    # In Spanish, logged in to everything (the longest labels): the control still fits.
    nuria = await users.get_by_username(db, "nuria")
    assert nuria is not None
    await queue_store.save_campaign(db, renov.id, "Renovaciones", CampaignState.ACTIVE, None,
                                    None, True, [ana.id, nuria.id])
    await queue_store.save_campaign(db, encuesta.id, "Encuesta", CampaignState.ACTIVE, None,
                                    None, False, [ana.id, nuria.id])
    es = await login(browser, server, "nuria")
    await es.get_by_role("button", name="Conectarme a la cola").click()
    await expect(es.locator(f"{STATUS} [data-status-text]")).to_have_text("Disponible")
    await expect(es.get_by_label("Campaña de mis llamadas")).to_be_visible()
    await _shoot(es, "status-control-es", tmp_path, STATUS)

