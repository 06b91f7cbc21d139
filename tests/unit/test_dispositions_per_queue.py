"""Dispositions and "must disposition" per inbound queue: the pure rules, the store, the
blocking query, /admin/dispositions (roles, CSRF, refusals in the user's language,
nothing saved on bad input) and the call window's offer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm import call_records, call_work, disposition_catalog, queue_store, users
from crm.call_flow import Answered, Ended
from crm.db import Database
from crm.dispositions import Disposition, Kind, Scenario, offered, policy_scopes
from crm.queues import CampaignState
from crm.queues import Kind as QueueKind
from gateway.settings import Settings
from tests.support.web_client import Client, page_client
from tests.unit.test_web_http import FAST, HOSTILE, HTML, PASSWORD, csrf_in, login
from web.appkeys import DB

PAGE = "/admin/dispositions"
ECHO = "*43"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with page_client(Settings(data_dir=str(tmp_path)), PASSWORD, FAST) as test_client:
        yield test_client


def _d(id_: int, *, campaign: int | None = None, queue: int | None = None,
       scenarios: frozenset[Scenario] = frozenset(Scenario)) -> Disposition:
    return Disposition(id=id_, name=f"d{id_}", category_id=1, category="c", kind=Kind.SUCCESS,
                       campaign_id=campaign, queue_id=queue, scenarios=scenarios)


def test_offer_follows_queue_campaign_and_scenario() -> None:
    everywhere, q1, q2, c1 = _d(1), _d(2, queue=1), _d(3, queue=2), _d(4, campaign=1)
    manual_only = _d(5, queue=1, scenarios=frozenset({Scenario.MANUAL}))
    catalogue = [everywhere, q1, q2, c1, manual_only]
    ids = [d.id for d in offered(catalogue, Scenario.INBOUND, None, 1)]
    assert ids == [1, 2]
    assert [d.id for d in offered(catalogue, Scenario.INBOUND, None, None)] == [1]
    assert [d.id for d in offered(catalogue, Scenario.MANUAL, 1, None)] == [1, 4]


def test_policy_scopes() -> None:
    assert policy_scopes(7, None) == ((7, None),)
    assert policy_scopes(None, 3) == ((None, 3), (None, None))
    assert policy_scopes(None, None) == ((None, None),)


async def _call(db: Database, user_id: int, call_id: str, queue_id: int | None) -> None:
    at = datetime.now(UTC) - timedelta(minutes=5)
    await call_records.create(db, call_id, user_id, "inbound", "1001", "+34911234567", "", at)
    await call_work.start(db, call_id, user_id, None, at, queue_id=queue_id)
    await call_records.apply_event(db, call_id, Answered(), at + timedelta(seconds=3))
    await call_records.apply_event(db, call_id, Ended(reason="hangup", side="remote"),
                                   at + timedelta(seconds=60))


async def test_a_queue_follows_its_own_policy_or_the_default(client: Client) -> None:
    db = client.app[DB]
    agent = await users.get_by_username(db, "agent")
    assert agent is not None
    strict = await queue_store.save_queue(db, None, "Ventas", "600", [])
    loose = await queue_store.save_queue(db, None, "Soporte", "700", [])
    unset = await queue_store.save_queue(db, None, "Cobros", "800", [])
    now = datetime.now(UTC)
    await disposition_catalog.set_must_disposition(db, True, queue_id=strict.id)
    await disposition_catalog.set_must_disposition(db, False, queue_id=loose.id)
    # The default is off: only the strict queue's call blocks.
    await _call(db, agent.id, "loose", loose.id)
    await _call(db, agent.id, "unset", unset.id)
    await _call(db, agent.id, "none", None)
    assert await call_work.blocking_call(db, agent.id, now, ECHO) is None
    await _call(db, agent.id, "strict", strict.id)
    assert await call_work.blocking_call(db, agent.id, now, ECHO) == "strict"
    assert await disposition_catalog.must_disposition(db, queue_id=strict.id)
    assert not await disposition_catalog.must_disposition(db, queue_id=unset.id)
    # The default on: a queue without a setting follows it; one set to off does not.
    await disposition_catalog.set_must_disposition(db, True)
    assert await disposition_catalog.must_disposition(db, queue_id=unset.id)
    assert not await disposition_catalog.must_disposition(db, queue_id=loose.id)
    await db.execute("UPDATE call_work SET finished_at = ? WHERE call_id IN (?, ?)",
                     (now.isoformat(), "strict", "none"))
    assert await call_work.blocking_call(db, agent.id, now, ECHO) == "unset"
    await db.execute("UPDATE call_work SET finished_at = ? WHERE call_id = ?",
                     (now.isoformat(), "unset"))
    assert await call_work.blocking_call(db, agent.id, now, ECHO) is None  # "loose" is off
    assert await disposition_catalog.queue_policies(db) == {strict.id: True, loose.id: False}
    # The default's own row was not touched by the queues' rows.
    await disposition_catalog.set_must_disposition(db, False)
    assert not await disposition_catalog.must_disposition(db)
    assert await disposition_catalog.must_disposition(db, queue_id=strict.id)


async def _post(client: Client, path: str, data: list[tuple[str, str]],
                token: str | None = "page") -> tuple[int, str]:
    if token == "page":
        token = csrf_in(await (await client.get("/", headers=HTML)).text())
    items = [("csrf_token", token), *data] if token else data
    resp = await client.post(path, headers=HTML, allow_redirects=False, data=items)
    return resp.status, await resp.text()


async def test_only_admins_and_supervisors_with_csrf(client: Client) -> None:
    db = client.app[DB]
    queue = await queue_store.save_queue(db, None, "Ventas", "600", [])
    category = await disposition_catalog.create_category(db, "Venta", Kind.SUCCESS)
    new = [("disposition_name", "Vendido"), ("disposition_category", str(category)),
           ("disposition_scenarios", "inbound"), ("disposition_campaign", f"queue:{queue.id}")]
    policy = [("policy_queue", str(queue.id)), (f"must_disposition_queue_{queue.id}", "1")]
    await login(client, "agent")
    assert (await _post(client, f"{PAGE}/new", new))[0] == 403
    assert (await _post(client, f"{PAGE}/policy", policy))[0] == 403
    await client.post("/logout", headers=HTML,
                      data={"csrf_token": csrf_in(await (await client.get("/")).text())})
    await login(client, "sup")
    assert (await _post(client, f"{PAGE}/new", new, token=None))[0] == 403
    assert (await _post(client, f"{PAGE}/policy", policy, token=None))[0] == 403
    assert await disposition_catalog.list_dispositions(db) == []
    assert await disposition_catalog.queue_policies(db) == {}
    assert (await _post(client, f"{PAGE}/new", new))[0] == 303
    assert (await _post(client, f"{PAGE}/policy", policy))[0] == 303
    (made,) = await disposition_catalog.list_dispositions(db)
    assert (made.queue_id, made.campaign_id) == (queue.id, None)
    assert await disposition_catalog.queue_policies(db) == {queue.id: True}
    assert not await disposition_catalog.must_disposition(db)  # the default unticked
    page = await (await client.get(PAGE, headers=HTML)).text()
    row = page.split("Vendido", 1)[1].split("</th>", 1)[0]
    assert "Queue: Ventas" in row
    box = page.split(f'id="must_disposition_queue_{queue.id}"', 1)[0].rsplit("<input", 1)[1]
    box += page.split(f'id="must_disposition_queue_{queue.id}"', 1)[1].split(">", 1)[0]
    assert "checked" in box


@pytest.mark.parametrize(("lang", "unknown", "archived"), [
    ("es", "Esa cola o campaña no existe", "está archivada"),
    ("pl", "Ta kolejka lub kampania nie istnieje", "jest zarchiwizowana"),
    ("pt-BR", "Essa fila ou campanha não existe", "está arquivada"),
])
async def test_refusals_in_the_users_language_save_nothing(client: Client, lang: str,
                                                           unknown: str, archived: str) -> None:
    db = client.app[DB]
    root = await users.get_by_username(db, "root")
    assert root is not None
    await users.update_user(db, root.id, language=lang)
    live = await queue_store.save_queue(db, None, "Ventas", "600", [])
    old = await queue_store.save_queue(db, None, HOSTILE, "700", [])
    await queue_store.set_archived(db, QueueKind.QUEUE, old.id, True)
    campaign = await queue_store.save_campaign(db, None, "Renovar", CampaignState.ACTIVE,
                                               None, None, False, [])
    category = await disposition_catalog.create_category(db, "Venta", Kind.SUCCESS)
    await login(client, "root")
    page = await (await client.get(PAGE, headers=HTML)).text()
    assert f'value="queue:{live.id}"' in page and f'value="queue:{old.id}"' not in page
    assert f'value="campaign:{campaign.id}"' in page
    base = [("disposition_name", "Vendido"), ("disposition_category", str(category)),
            ("disposition_scenarios", "inbound")]
    for ref, words in ((f"queue:{old.id}", archived), ("queue:999", unknown),
                       ("queue:abc", unknown)):
        status, body = await _post(client, f"{PAGE}/new", [*base, ("disposition_campaign", ref)])
        assert status == 400 and words in body, (ref, body[:200])
        assert HOSTILE not in body
        assert 'value="Vendido"' in body  # what was typed is kept
    assert await disposition_catalog.list_dispositions(db) == []
    # The policy form: a queue that is archived or unknown refuses the whole form.
    for queue_ref, words in ((str(old.id), archived), ("999", unknown), ("x", unknown)):
        status, body = await _post(client, f"{PAGE}/policy", [
            ("must_disposition", "1"), ("policy_queue", str(live.id)),
            (f"must_disposition_queue_{live.id}", "1"), ("policy_queue", queue_ref)])
        assert status == 400 and words in body, (queue_ref, body[:200])
    assert not await disposition_catalog.must_disposition(db)
    assert await disposition_catalog.queue_policies(db) == {}
    # The same name twice in one queue is refused; in another queue it is fine.
    ok = [*base, ("disposition_campaign", f"queue:{live.id}")]
    assert (await _post(client, f"{PAGE}/new", ok))[0] == 303
    status, body = await _post(client, f"{PAGE}/new", ok)
    assert status == 400
    assert (await _post(client, f"{PAGE}/new", [*base, ("disposition_campaign",
                                                        f"campaign:{campaign.id}")]))[0] == 303
    assert len(await disposition_catalog.list_dispositions(db)) == 2


async def test_call_window_offers_the_calls_queue_only(client: Client) -> None:
    db = client.app[DB]
    agent = await users.get_by_username(db, "agent")
    assert agent is not None
    sales = await queue_store.save_queue(db, None, "Ventas", "600", [])
    support = await queue_store.save_queue(db, None, "Soporte", "700", [])
    category = await disposition_catalog.create_category(db, "Venta", Kind.SUCCESS)
    everywhere = await disposition_catalog.create_disposition(
        db, "Contestador", category, None, frozenset(Scenario))
    sold = await disposition_catalog.create_disposition(
        db, "Vendido", category, None, frozenset(Scenario), queue_id=sales.id)
    other = await disposition_catalog.create_disposition(
        db, "Resuelto", category, None, frozenset(Scenario), queue_id=support.id)
    await disposition_catalog.create_disposition(
        db, "Solo manual", category, None, frozenset({Scenario.MANUAL}), queue_id=sales.id)
    await disposition_catalog.set_must_disposition(db, True, queue_id=sales.id)
    await _call(db, agent.id, "in-sales", sales.id)
    await login(client, "agent")
    data = await (await client.get("/api/calls/in-sales")).json()
    assert [d["id"] for d in data["dispositions"]] == [everywhere, sold]
    assert data["must_disposition"] is True
    token = csrf_in(await (await client.get("/", headers=HTML)).text())
    headers = {"Content-Type": "application/json", "X-CSRF-Token": token}
    # Another queue's disposition is refused as unknown, and nothing is stored.
    resp = await client.post("/api/calls/in-sales/finish", headers=headers,
                             data=json.dumps({"disposition_id": other}))
    assert resp.status == 400
    assert (await call_work.get(db, "in-sales")).finished_at is None  # type: ignore[union-attr]
    assert await call_work.blocking_call(db, agent.id, datetime.now(UTC), ECHO) == "in-sales"
    resp = await client.post("/api/calls/in-sales/finish", headers=headers,
                             data=json.dumps({"disposition_id": sold}))
    assert resp.status == 200
    assert await call_work.blocking_call(db, agent.id, datetime.now(UTC), ECHO) is None
