"""HTTP tests of /admin/dispositions: roles, CSRF, the catalogue, escaping, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm import call_work, disposition_catalog, users
from crm.dispositions import FieldType, Scenario
from gateway.settings import Settings
from tests.support.web_client import Client, page_client
from tests.unit.test_web_http import FAST, HOSTILE, HTML, PASSWORD, csrf_in, login
from web.appkeys import DB

PAGE = "/admin/dispositions"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with page_client(Settings(data_dir=str(tmp_path)), PASSWORD, FAST) as test_client:
        yield test_client


async def _post(client: Client, path: str, data: dict[str, str] | list[tuple[str, str]]
                ) -> tuple[int, str]:
    token = csrf_in(await (await client.get(PAGE, headers=HTML)).text())
    items = list(data.items()) if isinstance(data, dict) else data
    resp = await client.post(path, headers=HTML, allow_redirects=False,
                             data=[("csrf_token", token), *items])
    return resp.status, await resp.text()


async def test_only_admins_and_supervisors(client: Client) -> None:
    resp = await client.get(PAGE, headers=HTML, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login")
    await login(client, "agent")
    assert (await client.get(PAGE, headers=HTML)).status == 403
    token = csrf_in(await (await client.get("/", headers=HTML)).text())
    resp = await client.post(f"{PAGE}/policy", headers=HTML, allow_redirects=False,
                             data={"csrf_token": token, "must_disposition": "1"})
    assert resp.status == 403
    assert not await disposition_catalog.must_disposition(client.app[DB])
    await client.post("/logout", headers=HTML, data={"csrf_token": token})
    await login(client, "sup")
    assert (await client.get(PAGE, headers=HTML)).status == 200


async def test_csrf_is_required(client: Client) -> None:
    await login(client, "root")
    resp = await client.post(f"{PAGE}/policy", headers=HTML, allow_redirects=False,
                             data={"must_disposition": "1"})
    assert resp.status == 403
    assert not await disposition_catalog.must_disposition(client.app[DB])


async def test_build_a_catalogue(client: Client) -> None:
    db = client.app[DB]
    await login(client, "root")
    assert (await _post(client, f"{PAGE}/policy", {"must_disposition": "1"}))[0] == 303
    assert await disposition_catalog.must_disposition(db)
    assert (await _post(client, f"{PAGE}/categories",
                        {"category_name": HOSTILE, "category_kind": "success"}))[0] == 303
    assert (await _post(client, f"{PAGE}/forms", {"form_name": "Venta"}))[0] == 303
    (form,) = await disposition_catalog.list_forms(db)
    status, _ = await _post(client, f"{PAGE}/forms/{form.id}/fields", {
        f"field_{form.id}_label": "Plan", f"field_{form.id}_type": "choice",
        f"field_{form.id}_required": "1", f"field_{form.id}_choices": "Oro\nPlata"})
    assert status == 303
    (category,) = await disposition_catalog.list_categories(db)
    status, _ = await _post(client, f"{PAGE}/new", [
        ("disposition_name", "Venta cerrada"), ("disposition_category", str(category.id)),
        ("disposition_form", str(form.id)), ("disposition_scenarios", "inbound"),
        ("disposition_scenarios", "manual")])
    assert status == 303
    (sale,) = await disposition_catalog.list_dispositions(db)
    assert sale.scenarios == {Scenario.INBOUND, Scenario.MANUAL} and sale.form_id == form.id
    (stored,) = await disposition_catalog.list_forms(db)
    assert stored.definitions[0].type is FieldType.CHOICE
    assert stored.definitions[0].choices == ("Oro", "Plata")
    page = await (await client.get(PAGE, headers=HTML)).text()
    assert HOSTILE not in page and "&lt;script&gt;" in page
    assert "Venta cerrada" in page and "Changes saved." not in page
    assert "Changes saved." in await (await client.get(f"{PAGE}?done=saved",
                                                       headers=HTML)).text()
    status, _ = await _post(client, f"{PAGE}/{sale.id}/active", {})
    assert status == 303 and not (await disposition_catalog.list_dispositions(db))[0].active


async def test_bad_input_changes_nothing_and_says_why(client: Client) -> None:
    db = client.app[DB]
    await login(client, "root")
    status, page = await _post(client, f"{PAGE}/categories",
                               {"category_name": "", "category_kind": "maybe"})
    assert status == 400 and "Enter a name." in page and "Choose success or failure." in page
    await _post(client, f"{PAGE}/forms", {"form_name": "Venta"})
    (form,) = await disposition_catalog.list_forms(db)
    status, page = await _post(client, f"{PAGE}/forms/{form.id}/fields", {
        f"field_{form.id}_label": "Plan", f"field_{form.id}_type": "choice",
        f"field_{form.id}_choices": ""})
    assert status == 400 and "at least one option" in page
    status, page = await _post(client, f"{PAGE}/new", {
        "disposition_name": "X", "disposition_category": "999"})
    assert status == 400 and "Tick at least one kind of call" in page
    assert await disposition_catalog.list_categories(db) == []
    assert await disposition_catalog.list_dispositions(db) == []
    assert (await disposition_catalog.list_forms(db))[0].fields == ()


async def test_auto_open_per_agent(client: Client) -> None:
    db = client.app[DB]
    agent = await users.get_by_username(db, "agent")
    assert agent is not None
    await users.update_user(db, agent.id, dialer_enabled=True)
    await login(client, "root")
    assert (await _post(client, f"{PAGE}/auto-open/{agent.id}", {}))[0] == 303
    assert not await call_work.auto_open(db, agent.id)
    assert (await _post(client, f"{PAGE}/auto-open/{agent.id}", {"auto_open": "1"}))[0] == 303
    assert await call_work.auto_open(db, agent.id)
    assert (await _post(client, f"{PAGE}/auto-open/99999", {}))[0] == 404
