"""HTTP tests of the queues and campaigns pages (/admin/queues, /admin/campaigns/<id>)
and of logging in to them through /api/agent/state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from crm import (
    agent_state_store,
    call_records,
    call_work,
    callback_store,
    disposition_catalog,
    queue_store,
    users,
)
from crm.agent_states import Status
from crm.dispositions import Kind as DispositionKind
from crm.dispositions import Scenario, offered
from crm.queues import CampaignState, Kind
from gateway.settings import Settings
from tests.support.web_client import Client, page_client
from tests.unit.test_web_http import FAST, HOSTILE, HTML, PASSWORD, csrf_in, login
from web.appkeys import DB


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with page_client(Settings(data_dir=str(tmp_path)), PASSWORD, FAST) as test_client:
        yield test_client


async def _uid(client: Client, name: str) -> int:
    user = await users.get_by_username(client.app[DB], name)
    assert user is not None
    return user.id


async def _token(client: Client, path: str = "/profile") -> str:
    return csrf_in(await (await client.get(path, headers=HTML)).text())


async def _snapshot(client: Client) -> tuple[object, ...]:
    db = client.app[DB]
    return (await queue_store.list_queues(db), await queue_store.list_campaigns(db))


async def test_admins_create_queues_and_campaigns_with_errors_in_the_users_language(
        client: Client) -> None:
    await login(client, "root")
    agent = await _uid(client, "agent")
    await users.update_user(client.app[DB], agent, dialer_enabled=True)
    page = await client.get("/admin/queues", headers=HTML)
    assert page.status == 200
    body = await page.text()
    assert "X-Headset-Queue" in body and "P-Called-Party-ID" in body  # the mapping
    token = csrf_in(body)
    resp = await client.post("/admin/queues/new", headers=HTML, allow_redirects=False, data={
        "queue-name": HOSTILE, "queue-pbx_number": "+34910000600",
        "queue-member": str(agent), "csrf_token": token})
    assert resp.status == 303
    listing = await (await client.get("/admin/queues?done=created", headers=HTML)).text()
    assert HOSTILE not in listing and "&lt;script&gt;" in listing
    before = await _snapshot(client)
    # Each bad form: 400, an alert naming the problem, nothing stored.
    for data, words in (
            ({"queue-name": "", "queue-pbx_number": ""}, "Type a name"),
            ({"queue-name": "Otra", "queue-pbx_number": "34910000600"}, "already belongs"),
            ({"queue-name": "Otra", "queue-pbx_number": "6 0 0"}, "no spaces"),
            ({"queue-name": "Otra", "queue-member": "999"}, "Choose members"),
            ({"queue-name": "Otra", "queue-member": "x"}, "Choose members"),
            ({"queue-name": "Otra", "queue-member": "²"}, "Choose members")):
        bad = await client.post("/admin/queues/new", headers=HTML,
                                data=data | {"csrf_token": token})
        assert bad.status == 400, data
        text = await bad.text()
        assert 'role="alert"' in text and words in text, data
    for data, words in (
            ({"campaign-name": "C", "campaign-state": "running"}, "Choose Active"),
            ({"campaign-name": "C", "campaign-state": "active",
              "campaign-starts_on": "2026-12-10", "campaign-ends_on": "2026-12-01"},
             "cannot be before"),
            ({"campaign-name": "C", "campaign-state": "active",
              "campaign-starts_on": "10/12/2026"}, "year-month-day")):
        bad = await client.post("/admin/campaigns/new", headers=HTML,
                                data=data | {"csrf_token": token})
        assert bad.status == 400 and words in await bad.text(), data
    assert await _snapshot(client) == before
    # The same mistake, in Spanish for a Spanish-speaking admin.
    root = await _uid(client, "root")
    await users.update_user(client.app[DB], root, language="es")
    bad = await client.post("/admin/queues/new", headers=HTML,
                            data={"queue-name": "", "csrf_token": token})
    assert bad.status == 400 and "Escriba un nombre" in await bad.text()
    resp = await client.post("/admin/campaigns/new", headers=HTML, allow_redirects=False, data={
        "campaign-name": "Renovaciones", "campaign-state": "active",
        "campaign-must_disposition": "1", "campaign-member": str(agent), "csrf_token": token})
    assert resp.status == 303
    (campaign,) = await queue_store.list_campaigns(client.app[DB])
    assert campaign.must_disposition and campaign.members == {agent}


async def test_supervisors_see_read_only_and_agents_not_at_all(client: Client) -> None:
    db = client.app[DB]
    queue = await queue_store.save_queue(db, None, "Soporte", "600", [])
    campaign = await queue_store.save_campaign(db, None, "C", CampaignState.ACTIVE, None, None,
                                               False, [])
    await login(client, "sup")
    page = await client.get("/admin/queues", headers=HTML)
    assert page.status == 200
    assert 'action="/admin/queues/new"' not in await page.text()
    edit = await client.get(f"/admin/queues/{queue.id}", headers=HTML)
    assert edit.status == 200 and "readonly" in await edit.text()
    token = csrf_in(await edit.text())
    for path, data in ((f"/admin/queues/{queue.id}", {"name": "X"}),
                       (f"/admin/campaigns/{campaign.id}/archive", {"archived": "1"}),
                       ("/admin/queues/new", {"queue-name": "Y"})):
        resp = await client.post(path, headers=HTML, data=data | {"csrf_token": token})
        assert resp.status == 403, path
    await client.post("/logout", headers=HTML, data={"csrf_token": token})
    await login(client, "agent")
    assert (await client.get("/admin/queues", headers=HTML)).status == 403
    assert (await client.get(f"/admin/campaigns/{campaign.id}", headers=HTML)).status == 403
    assert [q.name for q in await queue_store.list_queues(db)] == ["Soporte"]
    assert not (await queue_store.list_campaigns(db))[0].archived


async def test_edit_archive_and_restore(client: Client) -> None:
    db = client.app[DB]
    agent = await _uid(client, "agent")
    await users.update_user(db, agent, dialer_enabled=True)
    queue = await queue_store.save_queue(db, None, "Soporte", "600", [agent])
    await login(client, "root")
    token = await _token(client, f"/admin/queues/{queue.id}")
    # Without the CSRF token nothing changes.
    resp = await client.post(f"/admin/queues/{queue.id}", headers=HTML,
                             data={"name": "Nuevo"})
    assert resp.status == 403
    resp = await client.post(f"/admin/queues/{queue.id}", headers=HTML, allow_redirects=False,
                             data={"name": "Soporte VIP", "pbx_number": "601",
                                   "csrf_token": token})
    assert resp.status == 303
    changed = await queue_store.get_queue(db, queue.id)
    assert changed is not None
    assert (changed.name, changed.pbx_number, changed.members) == ("Soporte VIP", "601",
                                                                   frozenset())
    assert (await client.post("/admin/queues/999", headers=HTML,
                              data={"name": "X", "csrf_token": token})).status == 404
    resp = await client.post(f"/admin/queues/{queue.id}/archive", headers=HTML,
                             allow_redirects=False, data={"archived": "1", "csrf_token": token})
    assert resp.status == 303
    assert (await queue_store.get_queue(db, queue.id)).archived  # type: ignore[union-attr]
    # Its number taken meanwhile: bringing it back is refused with the reason.
    await queue_store.save_queue(db, None, "Otra", "601", [])
    resp = await client.post(f"/admin/queues/{queue.id}/archive", headers=HTML,
                             data={"archived": "0", "csrf_token": token})
    assert resp.status == 400 and "already belongs" in await resp.text()
    assert (await queue_store.get_queue(db, queue.id)).archived  # type: ignore[union-attr]


async def _post_state(client: Client, body: object, token: str) -> tuple[int, dict[str, object]]:
    resp = await client.post("/api/agent/state", json=body, headers={"X-CSRF-Token": token})
    return resp.status, await resp.json()


async def test_agents_log_in_to_their_queues_with_clear_refusals(client: Client) -> None:
    db = client.app[DB]
    agent = await _uid(client, "agent")
    mine = await queue_store.save_queue(db, None, "Soporte", "600", [agent])
    theirs = await queue_store.save_queue(db, None, "Ventas", "601", [])
    old = await queue_store.save_queue(db, None, "Antigua", "602", [agent])
    await queue_store.set_archived(db, Kind.QUEUE, old.id, True)
    paused = await queue_store.save_campaign(db, None, "Pausada", CampaignState.PAUSED, None,
                                             None, False, [agent])
    c1 = await queue_store.save_campaign(db, None, "Uno", CampaignState.ACTIVE, None, None,
                                         True, [agent])
    c2 = await queue_store.save_campaign(db, None, "Dos", CampaignState.ACTIVE, None, None,
                                         False, [agent])
    await login(client, "agent")
    token = await _token(client)
    state = await (await client.get("/api/agent/state")).json()
    assert [q["name"] for q in state["queues"]] == ["Soporte"]
    assert [c["name"] for c in state["campaigns"]] == ["Dos", "Pausada", "Uno"]
    # Without the token: refused, nothing changed.
    resp = await client.post("/api/agent/state", json={"event": "login",
                                                       "queue": f"queue:{mine.id}"})
    assert resp.status == 403
    for body, key in (
            ({"event": "login", "queue": f"queue:{theirs.id}"}, "queues.error.not_member"),
            ({"event": "login", "queue": "queue:999"}, "queues.error.unknown"),
            ({"event": "login", "queue": f"queue:{old.id}"}, "queues.error.archived"),
            ({"event": "login", "queue": f"campaign:{paused.id}"}, "queues.error.not_running"),
            ({"event": "login", "queue": "bogus"}, "queues.error.unknown"),
            ({"event": "pause", "queue": f"queue:{mine.id}"}, "agent.error.bad_request"),
            ({"event": "choose_campaign", "queue": f"campaign:{c1.id}"},
             "queues.error.not_logged_in")):
        status, answer = await _post_state(client, body, token)
        assert status == 400 and answer["error"] == key, body
        assert answer["message"] and "{" not in str(answer["message"])
    assert (await agent_state_store.get(db, agent)).status is Status.LOGGED_OUT
    # In the agent's own language.
    await users.update_user(db, agent, language="pl")
    status, answer = await _post_state(client, {"event": "login",
                                                "queue": f"queue:{theirs.id}"}, token)
    assert status == 400 and answer["message"] == (
        "Nie należysz do „Ventas”. Poproś supervisora o dodanie.")
    await users.update_user(db, agent, language="en")
    assert await agent_state_store.logins(db, agent) == type(
        await agent_state_store.logins(db, agent))()
    status, answer = await _post_state(client, {"event": "login", "queue": f"queue:{mine.id}"},
                                       token)
    assert status == 200 and answer["status"] == "available"
    assert answer["queues"] == [{"ref": f"queue:{mine.id}", "name": "Soporte", "logged_in": True}]
    # "Take calls" logs in to everything running; two campaigns: the agent picks one.
    status, answer = await _post_state(client, {"event": "login"}, token)
    assert answer["campaign"] is None
    status, answer = await _post_state(
        client, {"event": "choose_campaign", "queue": f"campaign:{c1.id}"}, token)
    assert status == 200 and answer["campaign"] == f"campaign:{c1.id}"
    assert await agent_state_store.outbound_campaign(db, agent) == c1.id
    status, answer = await _post_state(client, {"event": "logout", "queue": f"campaign:{c2.id}"},
                                       token)
    assert status == 200
    logins = await agent_state_store.logins(db, agent)
    assert (logins.queues, logins.campaigns) == ({mine.id}, {c1.id})


async def test_the_agents_board_shows_the_queues_each_agent_is_logged_in_to(
        client: Client) -> None:
    db = client.app[DB]
    agent = await _uid(client, "agent")
    await users.update_user(db, agent, dialer_enabled=True)
    queue = await queue_store.save_queue(db, None, "Soporte <b>", "600", [agent])
    await queue_store.save_queue(db, None, "Ventas", "601", [agent])
    await agent_state_store.change_item(db, agent, Kind.QUEUE, queue.id, True, "page",
                                        date.today())
    await login(client, "sup")
    board = await (await client.get("/agents", headers=HTML)).text()
    cell = board[board.index("data-agent-queues"):].split("</td>")[0]
    assert "Soporte &lt;b&gt;" in cell and "Ventas" not in cell


async def test_a_disposition_can_be_limited_to_a_live_campaign(client: Client) -> None:
    db = client.app[DB]
    category = await disposition_catalog.create_category(db, "Venta", DispositionKind.SUCCESS)
    live = await queue_store.save_campaign(db, None, "Renovaciones", CampaignState.ACTIVE,
                                           None, None, False, [])
    old = await queue_store.save_campaign(db, None, "Antigua", CampaignState.ACTIVE, None,
                                          None, False, [])
    await queue_store.set_archived(db, Kind.CAMPAIGN, old.id, True)
    await login(client, "root")
    page = await (await client.get("/admin/dispositions", headers=HTML)).text()
    assert f'value="campaign:{live.id}"' in page and f'value="campaign:{old.id}"' not in page
    token = csrf_in(page)
    base = {"disposition_name": "Renovó", "disposition_category": str(category),
            "disposition_scenarios": "manual", "csrf_token": token}
    for ref, words in ((f"campaign:{old.id}", "is archived"), ("campaign:999", "does not exist"),
                       ("queue:999", "does not exist"), ("x", "does not exist")):
        bad = await client.post("/admin/dispositions/new", headers=HTML,
                                data=base | {"disposition_campaign": ref})
        assert bad.status == 400 and words in await bad.text(), ref
    assert await disposition_catalog.list_dispositions(db) == []
    resp = await client.post("/admin/dispositions/new", headers=HTML, allow_redirects=False,
                             data=base | {"disposition_campaign": f"campaign:{live.id}"})
    assert resp.status == 303
    (made,) = await disposition_catalog.list_dispositions(db)
    assert made.campaign_id == live.id
    assert [d.id for d in offered([made], Scenario.MANUAL, live.id)] == [made.id]
    assert offered([made], Scenario.MANUAL, None) == []
    page = await (await client.get("/admin/dispositions", headers=HTML)).text()
    assert "Renovaciones" in page.split("Renovó", 1)[1].split("</th>", 1)[0]


async def test_callbacks_pick_a_queue_or_campaign_and_filter_by_it(client: Client) -> None:
    db = client.app[DB]
    live = await queue_store.save_campaign(db, None, "Cobranças", CampaignState.ACTIVE, None,
                                           None, False, [])
    old = await queue_store.save_campaign(db, None, "Antigua", CampaignState.ACTIVE, None,
                                          None, False, [])
    await queue_store.set_archived(db, Kind.CAMPAIGN, old.id, True)
    await login(client, "agent")
    page = await (await client.get("/callbacks/new", headers=HTML)).text()
    assert f'value="{live.ref}"' in page and f'value="{old.ref}"' not in page
    token = csrf_in(page)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    form = {"csrf_token": token, "due": tomorrow, "expiry": "3600",
            "phone_0": "911 23 45 67", "reason": "Quote"}
    for value, words in ((old.ref, "is archived"), ("campaign:999", "does not exist"),
                         ("Ventas", "does not exist")):
        bad = await client.post("/callbacks/new", headers=HTML, data=form | {"queue": value})
        assert bad.status == 400 and words in await bad.text(), value
    assert await callback_store.search(db, callback_store.Query()) == []
    resp = await client.post("/callbacks/new", headers=HTML, allow_redirects=False,
                             data=form | {"queue": live.ref})
    assert resp.status == 303
    (made,) = await callback_store.search(db, callback_store.Query())
    assert (made.campaign_id, made.queue_id, made.queue) == (live.id, None, "Cobranças")
    # Renamed later: the callback shows the campaign's current name; the filter finds it.
    await queue_store.save_campaign(db, live.id, "Cobranças 2027", CampaignState.ACTIVE, None,
                                    None, False, [])
    listing = await (await client.get(f"/callbacks?queue={live.ref}", headers=HTML)).text()
    assert "Cobranças 2027" in listing and f'data-callback="{made.id}"' in listing
    other = await (await client.get(f"/callbacks?queue={old.ref}", headers=HTML)).text()
    assert 'data-callback="' not in other
    bad = await client.get("/callbacks?queue=queue:999", headers=HTML)
    assert bad.status == 400 and "does not exist" in await bad.text()


async def test_history_filters_by_queue_or_campaign(client: Client) -> None:
    db = client.app[DB]
    agent = await _uid(client, "agent")
    queue = await queue_store.save_queue(db, None, "Soporte", "600", [agent])
    campaign = await queue_store.save_campaign(db, None, "Renovaciones", CampaignState.ACTIVE,
                                               None, None, False, [agent])
    now = datetime.now(UTC)
    for call_id, direction, number, kinds in (
            ("in-queue", "inbound", "+34911000001", {"queue_id": queue.id}),
            ("out-campaign", "outbound", "+34911000002", {"campaign_id": campaign.id}),
            ("plain", "outbound", "+34911000003", {})):
        await call_records.create(db, call_id, agent, direction, "1001", number, "", now)
        await call_work.start(db, call_id, agent, None, now, **kinds)
    await login(client, "agent")
    page = await (await client.get("/history", headers=HTML)).text()
    assert f'value="{queue.ref}"' in page and f'value="{campaign.ref}"' in page

    async def numbers(query: str) -> set[str]:
        text = await (await client.get(f"/history/export.csv?{query}")).text()
        return {n for n in ("+34911000001", "+34911000002", "+34911000003")
                if n[1:] in text.replace(" ", "")}

    assert await numbers("") == {"+34911000001", "+34911000002", "+34911000003"}
    assert await numbers(f"queue={queue.ref}") == {"+34911000001"}
    assert await numbers(f"queue={campaign.ref}") == {"+34911000002"}
    bad = await client.get("/history?queue=team:1", headers=HTML)
    assert bad.status == 400 and "does not exist" in await bad.text()
