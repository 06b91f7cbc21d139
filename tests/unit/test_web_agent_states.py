"""HTTP tests of the pause-code admin page and the agent's state API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm import agent_state_store, pause_codes, users
from crm.agent_states import Event, Status
from gateway.settings import Settings
from tests.support.web_client import Client, page_client
from tests.unit.test_web_http import FAST, HOSTILE, HTML, PASSWORD, csrf_in, login
from web.appkeys import DB


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with page_client(Settings(data_dir=str(tmp_path)), PASSWORD, FAST) as test_client:
        yield test_client


async def _token(client: Client, path: str = "/profile") -> str:
    return csrf_in(await (await client.get(path, headers=HTML)).text())


async def _post_state(client: Client, body: object, token: str) -> tuple[int, dict[str, object]]:
    resp = await client.post("/api/agent/state", json=body, headers={"X-CSRF-Token": token})
    return resp.status, await resp.json()


async def test_only_admins_manage_pause_codes(client: Client) -> None:
    await login(client, "agent")
    assert (await client.get("/admin/pause-codes", headers=HTML)).status == 403
    token = await _token(client)
    resp = await client.post("/admin/pause-codes", headers=HTML, allow_redirects=False,
                             data={"code": "1", "name": "Lunch", "csrf_token": token})
    assert resp.status == 403
    assert await pause_codes.list_codes(client.app[DB]) == []


async def test_admin_adds_and_edits_pause_codes_with_clear_errors(client: Client) -> None:
    await login(client, "root")
    page = await client.get("/admin/pause-codes", headers=HTML)
    assert page.status == 200
    token = csrf_in(await page.text())
    resp = await client.post("/admin/pause-codes", headers=HTML, allow_redirects=False,
                             data={"code": "2", "name": HOSTILE, "productive": "1",
                                   "csrf_token": token})
    assert resp.status == 303
    listing = await (await client.get("/admin/pause-codes?done=created", headers=HTML)).text()
    assert HOSTILE not in listing and "&lt;script&gt;" in listing
    assert "Pause code added." in listing
    for data in ({"code": "2", "name": "Again"}, {"code": "12345", "name": "Long"},
                 {"code": "3", "name": ""}):
        bad = await client.post("/admin/pause-codes", headers=HTML,
                                data=data | {"csrf_token": token})
        assert bad.status == 400
        assert 'role="alert"' in await bad.text()
    (code,) = await pause_codes.list_codes(client.app[DB])
    assert (code.code, code.productive) == ("2", True)
    # Without the CSRF token nothing changes.
    resp = await client.post(f"/admin/pause-codes/{code.id}", headers=HTML,
                             data={"name": "Break", "active": "1"})
    assert resp.status == 403
    resp = await client.post(f"/admin/pause-codes/{code.id}", headers=HTML,
                             allow_redirects=False,
                             data={"name": "Break", "csrf_token": token})
    assert resp.status == 303
    (code,) = await pause_codes.list_codes(client.app[DB])
    assert (code.name, code.productive, code.active) == ("Break", False, False)
    assert (await client.post("/admin/pause-codes/999", headers=HTML,
                              data={"name": "X", "csrf_token": token})).status == 404


async def test_agent_logs_in_pauses_and_resumes_through_the_api(client: Client) -> None:
    db = client.app[DB]
    await pause_codes.create(db, "4", "Training", productive=True)
    await login(client, "agent")
    state = await (await client.get("/api/agent/state")).json()
    assert state["status"] == "logged_out"
    assert state["pause_codes"] == [{"code": "4", "name": "Training", "productive": True}]
    token = await _token(client)
    status, answer = await _post_state(client, {"event": "pause", "pause_code": "4"}, token)
    assert status == 400 and answer["error"] == "agent.error.log_in_first"
    status, answer = await _post_state(client, {"event": "login"}, token)
    assert status == 200 and answer["status"] == "available" and answer["pause"] is None
    status, answer = await _post_state(client, {"event": "pause", "pause_code": "4"}, token)
    assert status == 200 and answer["status"] == "paused"
    assert answer["pause"] == {"code": "4", "name": "Training"}
    status, answer = await _post_state(client, {"event": "resume"}, token)
    assert status == 200 and answer["status"] == "available" and answer["takes_calls"]
    user = await users.get_by_username(db, "agent")
    assert user is not None
    assert (await agent_state_store.get(db, user.id)).status is Status.AVAILABLE


@pytest.mark.parametrize("body", [
    {"event": "wrap_up"}, {"event": "finish"}, {"event": 1}, [], "pause", None,
    {"event": "pause"}, {"event": "pause", "pause_code": 4}, {"event": "pause", "pause_code": "9"},
])
async def test_bad_state_requests_get_a_message_and_change_nothing(
        client: Client, body: object) -> None:
    await pause_codes.create(client.app[DB], "4", "Training", productive=True)
    await login(client, "agent")
    token = await _token(client)
    await _post_state(client, {"event": "login"}, token)
    status, answer = await _post_state(client, body, token)
    assert status in (400, 404) and answer["message"]
    state = await (await client.get("/api/agent/state")).json()
    assert state["status"] == "available"


async def test_state_changes_need_login_and_csrf(client: Client) -> None:
    assert (await client.get("/api/agent/state")).status == 401
    await login(client, "agent")
    resp = await client.post("/api/agent/state", json={"event": "login"})
    assert resp.status == 403
    state = await (await client.get("/api/agent/state")).json()
    assert state["status"] == "logged_out"


async def test_the_agents_board_is_for_supervisors_and_shows_each_status(
        client: Client) -> None:
    db = client.app[DB]
    lunch = await pause_codes.create(db, "7", "Lunch", productive=False)
    hostile = await users.create_user(db, "eve", PASSWORD, role="agent", display_name=HOSTILE,
                                      dialer_enabled=True, hashing=FAST)
    agent = await users.get_by_username(db, "agent")
    assert agent is not None
    await users.update_user(db, agent.id, dialer_enabled=True)
    await agent_state_store.change(db, agent.id, Event.LOGIN, "system")
    await agent_state_store.change(db, agent.id, Event.PAUSE, "page", pause_code_id=lunch.id)
    await agent_state_store.change(db, hostile.id, Event.LOGIN, "system")

    await login(client, "agent")
    for path in ("/agents", "/admin"):
        assert (await client.get(path, headers=HTML)).status == 403
    await client.post("/logout", headers=HTML, data={"csrf_token": await _token(client)})

    await login(client, "sup")
    board = await client.get("/agents", headers=HTML)
    assert board.status == 200
    html = await board.text()
    assert HOSTILE not in html and "&lt;script&gt;" in html
    assert "Paused: Lunch" in html and "Available" in html
    # The paused agent comes first: they need a supervisor's eye.
    assert html.index("Paused: Lunch") < html.index("&lt;script&gt;")
    hub = await (await client.get("/admin", headers=HTML)).text()
    assert "/admin/users" in hub and "/admin/pause-codes" not in hub  # admins only
