"""HTTP tests of the call window's API: ownership, CSRF, notes, tags, dispositions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm import call_records, call_work, contacts, disposition_catalog, users
from crm.call_flow import Answered, Ended
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database
from crm.dispositions import Kind, Scenario
from gateway.settings import Settings
from tests.support.web_client import Client, page_client
from tests.unit.test_web_http import FAST, HOSTILE, HTML, PASSWORD, csrf_in, login
from web.appkeys import DB, DEPLOYMENT

SPREADSHEET = "=cmd|' /C calc'!A0"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(data_dir=str(tmp_path), region="ES")
    async with page_client(settings, PASSWORD, FAST) as test_client:
        yield test_client


def _db(client: Client) -> Database:
    return client.app[DB]


async def _user_id(client: Client, name: str) -> int:
    user = await users.get_by_username(_db(client), name)
    assert user is not None
    return user.id


async def _ended_call(client: Client, owner: str, call_id: str, *,
                      remote: str = "+34911234567", live: bool = False) -> None:
    db = _db(client)
    at = datetime.now(UTC) - timedelta(minutes=3)
    await call_records.create(db, call_id, await _user_id(client, owner), "inbound", "1001",
                              remote, "", at)
    await call_records.apply_event(db, call_id, Answered(), at + timedelta(seconds=2))
    if not live:
        await call_records.apply_event(db, call_id, Ended(reason="hangup", side="remote"),
                                       at + timedelta(seconds=90))


async def _token(client: Client) -> str:
    return csrf_in(await (await client.get("/", headers=HTML)).text())


async def _write(client: Client, method: str, path: str, body: Any,
                 token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-CSRF-Token"] = token
    resp = await client.request(method, path, data=json.dumps(body), headers=headers)
    text = await resp.text()
    return resp.status, json.loads(text) if text.startswith("{") else text


async def _catalogue(client: Client) -> int:
    db = _db(client)
    sold = await disposition_catalog.create_category(db, "Sold", Kind.SUCCESS)
    form = await disposition_catalog.create_form(db, "Sale")
    await disposition_catalog.add_field(db, form, "Amount", "number", True, [])
    await disposition_catalog.add_field(db, form, "Plan", "choice", True, ["Gold", "Silver"])
    return await disposition_catalog.create_disposition(
        db, "Sale", sold, form, frozenset(Scenario))


async def test_login_required(client: Client) -> None:
    await _ended_call(client, "agent", "c1")
    for path in ("/api/calls/c1", "/api/calls/unfinished", "/i18n/calls.json"):
        resp = await client.get(path)
        assert resp.status == 401, path
    status, _ = await _write(client, "PUT", "/api/calls/c1/notes", {"body": "x", "revision": 1})
    assert status in (401, 403)
    assert await call_work.get_note(_db(client), "c1", await _user_id(client, "agent")) is None


async def test_agent_cannot_touch_another_agents_call(client: Client) -> None:
    await users.create_user(_db(client), "other", PASSWORD, display_name="Other",
                            hashing=FAST)
    await _ended_call(client, "other", "theirs")
    await login(client, "agent")
    token = await _token(client)
    assert (await client.get("/api/calls/theirs")).status == 404
    for method, path, body in (("PUT", "/api/calls/theirs/notes", {"body": "x", "revision": 5}),
                               ("PUT", "/api/calls/theirs/tags", {"tags": ["x"]}),
                               ("POST", "/api/calls/theirs/finish", {"wrap_up": "voicemail"})):
        status, _ = await _write(client, method, path, body, token)
        assert status == 404, path
    db = _db(client)
    assert await call_work.get_note(db, "theirs", await _user_id(client, "agent")) is None
    assert await call_work.get_tags(db, "theirs") == []
    assert (await call_work.unfinished(db, await _user_id(client, "other"),
                                       datetime.now(UTC), "*43"))[0]["id"] == "theirs"


async def test_writes_need_the_csrf_header(client: Client) -> None:
    await _ended_call(client, "agent", "c1")
    await login(client, "agent")
    status, _ = await _write(client, "PUT", "/api/calls/c1/notes", {"body": "x", "revision": 1})
    assert status == 403
    status, _ = await _write(client, "PUT", "/api/calls/c1/notes", {"body": "x", "revision": 1},
                             "wrong-token")
    assert status == 403
    assert await call_work.get_note(_db(client), "c1", await _user_id(client, "agent")) is None


async def test_notes_autosave_newest_revision_wins(client: Client) -> None:
    await _ended_call(client, "agent", "c1")
    await login(client, "agent")
    token = await _token(client)
    status, body = await _write(client, "PUT", "/api/calls/c1/notes",
                                {"body": HOSTILE, "revision": 200}, token)
    assert status == 200 and body == {"saved": True, "revision": 200, "body": HOSTILE}
    # The same write again (a retry) and an older one (overtaken) change nothing.
    status, body = await _write(client, "PUT", "/api/calls/c1/notes",
                                {"body": "older", "revision": 100}, token)
    assert status == 200 and body == {"saved": False, "revision": 200, "body": HOSTILE}
    status, body = await _write(client, "PUT", "/api/calls/c1/notes",
                                {"body": "bad", "revision": "300"}, token)
    assert status == 400 and body["error"] == "revision"
    status, body = await _write(client, "PUT", "/api/calls/c1/notes",
                                {"body": "x" * 20_001, "revision": 300}, token)
    assert status == 400 and "20000" in body["message"]
    resp = await client.put("/api/calls/c1/notes", data="{not json",
                            headers={"X-CSRF-Token": token})
    assert resp.status == 400
    workspace = await (await client.get("/api/calls/c1")).json()
    assert workspace["note"] == {"body": HOSTILE, "revision": 200}


async def test_workspace_shows_contact_history_and_tags(client: Client) -> None:
    db = _db(client)
    ana = await contacts.create_contact(db, ContactDraft(
        kind=ContactKind.PERSON, name=HOSTILE,
        phones=(ContactPhone(PhoneLabel.MOBILE, "+34911234567"),)))
    agent = await _user_id(client, "agent")
    await _ended_call(client, "agent", "earlier")
    await call_work.start(db, "earlier", agent, ana.id, datetime.now(UTC))
    await call_work.save_note(db, "earlier", agent, "Wants the gold plan", 1, datetime.now(UTC))
    await _ended_call(client, "agent", "now", live=True)
    await login(client, "agent", next_url="/")
    token = await _token(client)
    status, body = await _write(client, "PUT", "/api/calls/now/tags",
                                {"tags": ["VIP", "vip", SPREADSHEET]}, token)
    assert status == 200 and body == {"tags": ["VIP", SPREADSHEET]}
    status, body = await _write(client, "PUT", "/api/calls/now/tags", {"tags": "VIP"}, token)
    assert status == 400
    data = await (await client.get("/api/calls/now")).json()
    assert data["contact"]["name"] == HOSTILE and data["contact"]["url"] == f"/contacts/{ana.id}"
    assert data["call"]["state"] == "connected" and data["call"]["remote_shown"] == "911 23 45 67"
    assert data["tags"] == ["VIP", SPREADSHEET]
    assert [(a["call_id"], a["note"]) for a in data["activities"]] == [
        ("earlier", "Wants the gold plan")]
    assert data["target_talk_seconds"] == 180 and data["must_disposition"] is False
    live = client.app[DEPLOYMENT]
    live.current = replace(live.current, target_talk_seconds=240)
    assert (await (await client.get("/api/calls/now")).json())["target_talk_seconds"] == 240
    # A live call cannot be finished yet.
    status, body = await _write(client, "POST", "/api/calls/now/finish", {}, token)
    assert status == 409


async def test_several_matches_and_picking_one(client: Client) -> None:
    db = _db(client)
    refs = [await contacts.create_contact(db, ContactDraft(
        kind=ContactKind.PERSON, name=name,
        phones=(ContactPhone(PhoneLabel.WORK, "+34911234567"),))) for name in ("Ana", "Bea")]
    await _ended_call(client, "agent", "c1")
    await login(client, "agent")
    token = await _token(client)
    data = await (await client.get("/api/calls/c1")).json()
    assert data["contact"] is None and [m["name"] for m in data["matches"]] == ["Ana", "Bea"]
    status, _ = await _write(client, "PUT", "/api/calls/c1/contact",
                             {"contact_id": refs[1].id}, token)
    assert status == 200
    assert (await (await client.get("/api/calls/c1")).json())["contact"]["name"] == "Bea"
    status, _ = await _write(client, "PUT", "/api/calls/c1/contact", {"contact_id": 999}, token)
    assert status == 404


async def test_disposition_with_missing_fields_is_refused_in_the_users_language(
        client: Client) -> None:
    sale = await _catalogue(client)
    await disposition_catalog.set_must_disposition(_db(client), True)
    await _ended_call(client, "agent", "c1")
    await login(client, "agent")
    agent = await _user_id(client, "agent")
    await users.update_user(_db(client), agent, language="es")
    token = await _token(client)
    data = await (await client.get("/api/calls/c1")).json()
    (offered,) = data["dispositions"]
    assert [f["name"] for f in offered["fields"]] == ["amount", "plan"]
    assert data["must_disposition"] is True
    unfinished = await (await client.get("/api/calls/unfinished")).json()
    assert [c["id"] for c in unfinished["calls"]] == ["c1"] and unfinished["blocking"] == "c1"

    status, body = await _write(client, "POST", "/api/calls/c1/finish", {}, token)
    assert status == 400 and set(body["fields"]) == {"_disposition"}
    status, body = await _write(client, "POST", "/api/calls/c1/finish",
                                {"disposition_id": sale, "values": {"amount": "doce"}}, token)
    assert status == 400 and set(body["fields"]) == {"amount", "plan"}
    assert "Amount" in body["fields"]["amount"] and "número" in body["fields"]["amount"]
    assert (await call_work.get(_db(client), "c1")).finished_at is None  # type: ignore[union-attr]

    status, body = await _write(client, "POST", "/api/calls/c1/finish", {
        "disposition_id": sale, "values": {"amount": "12,5", "plan": "gold", "junk": "x"}},
        token)
    assert status == 200
    work = await call_work.get(_db(client), "c1")
    assert work is not None and work.finished_at is not None
    assert work.values == {"amount": "12.5", "plan": "Gold"}
    unfinished = await (await client.get("/api/calls/unfinished")).json()
    assert unfinished["calls"] == [] and unfinished["blocking"] is None


async def test_callback_shortcut_records_the_time(client: Client) -> None:
    await _ended_call(client, "agent", "c1")
    await login(client, "agent")
    token = await _token(client)
    status, body = await _write(client, "POST", "/api/calls/c1/finish",
                                {"wrap_up": "callback", "callback_at": "2001-01-01T10:00"},
                                token)
    assert status == 400 and set(body["fields"]) == {"_callback_at"}
    when = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    status, _ = await _write(client, "POST", "/api/calls/c1/finish",
                             {"wrap_up": "callback", "callback_at": when, "tz_offset": 60},
                             token)
    assert status == 200
    work = await call_work.get(_db(client), "c1")
    assert work is not None and work.callback_at is not None
    assert work.callback_at.strftime("%Y-%m-%dT%H:%M") != when  # stored in UTC


async def test_window_messages_in_the_users_language(client: Client) -> None:
    await login(client, "agent")
    await users.update_user(_db(client), await _user_id(client, "agent"), language="pl")
    data = await (await client.get("/i18n/calls.json")).json()
    assert data["lang"] == "pl"
    assert all(k.startswith(("calls.", "call.outcome.")) for k in data["messages"])
    assert "calls.window.finish" in data["messages"]
