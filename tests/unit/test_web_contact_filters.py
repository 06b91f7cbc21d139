"""HTTP tests of the contact list's last-call and disposition filters, the company
autocomplete (its JSON endpoint and the form field) and the import's duplicate choice."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from crm import call_records, call_work, clock, contacts, disposition_catalog
from crm.contacts import Contact, ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database
from crm.dispositions import Kind, Scenario, Submission
from gateway.settings import Settings
from tests.support.web_client import Client, page_client
from tests.unit.test_web_contact_import_export import _token, _upload
from tests.unit.test_web_http import FAST, HOSTILE, HTML, PASSWORD, csrf_in, login
from web.appkeys import DB
from web.views.contact_import import IMPORT_JOBS

SPANISH = {**HTML, "Accept-Language": "es"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(data_dir=str(tmp_path), region="ES")
    async with page_client(settings, PASSWORD, FAST) as test_client:
        yield test_client


def _db(client: Client) -> Database:
    return client.app[DB]


async def _contact(client: Client, name: str, *numbers: str,
                   kind: ContactKind = ContactKind.PERSON) -> Contact:
    return await contacts.create_contact(_db(client), ContactDraft(
        kind=kind, name=name,
        phones=tuple(ContactPhone(PhoneLabel.MOBILE, n) for n in numbers)))


async def _names(client: Client, query: str, headers: dict[str, str] = HTML
                 ) -> tuple[int, list[str], str]:
    resp = await client.get("/contacts?" + query, headers=headers)
    page = await resp.text()
    return resp.status, re.findall(r'<th scope="row">\s*<a href="/contacts/\d+">([^<]+)</a>',
                                   page), page


async def _count(client: Client, kind: str = "company") -> int:
    row = await _db(client).fetchone("SELECT COUNT(*) AS n FROM contacts WHERE kind = ?",
                                     (kind,))
    assert row is not None
    return int(row["n"])


async def test_last_call_and_disposition_filters(client: Client) -> None:
    db = _db(client)
    ana = await _contact(client, "Ana Recent", "+34612345678")
    await _contact(client, "Bea Old", "+34612345679")
    await _contact(client, "Carla Never", "+34612345670")
    category = await disposition_catalog.create_category(db, "Ventas", Kind.SUCCESS)
    sale = await disposition_catalog.create_disposition(db, "Venta", category, None,
                                                        frozenset(Scenario))
    now = clock.utc_now()
    agent = await db.fetchone("SELECT id FROM users WHERE username = 'agent'")
    assert agent is not None
    # Calls as the gateway records them (no numbering): the list links them itself.
    await call_records.create(db, "r1", agent["id"], "inbound", "1001", "612345678", "",
                              now - timedelta(days=2))
    await call_records.create(db, "o1", agent["id"], "inbound", "1001", "612345679", "",
                              now - timedelta(days=45))
    await login(client, "agent")
    assert (await _names(client, "activity=7d"))[:2] == (200, ["Ana Recent"])
    assert (await _names(client, "activity=90d"))[1] == ["Ana Recent", "Bea Old"]
    assert (await _names(client, "activity=never"))[1] == ["Carla Never"]
    old_day = (now - timedelta(days=45)).date().isoformat()
    assert (await _names(client, f"active_from={old_day}&active_to={old_day}"))[1] == [
        "Bea Old"]
    await call_work.start(db, "r1", agent["id"], ana.id, now)
    await call_work.finish(db, "r1", Submission(disposition_id=sale), now)
    status, names, page = await _names(client, f"disposition={sale}")
    assert (status, names) == (200, ["Ana Recent"])
    assert f'<option value="{sale}" selected>Venta</option>' in page
    # Filters combine with a search and with each other.
    assert (await _names(client, f"disposition={sale}&activity=never"))[1] == []
    assert (await _names(client, "q=bea&activity=30d"))[1] == []
    # An outbound call the gateway recorded (no contact yet) gets its disposition; the
    # disposition filter links it first, so Carla is found.
    await call_records.create(db, "o2", agent["id"], "outbound", "1001", "612345670", "",
                              now)
    await call_work.start(db, "o2", agent["id"], None, now)
    await call_work.finish(db, "o2", Submission(disposition_id=sale), now)
    assert (await _names(client, f"disposition={sale}"))[1] == ["Ana Recent", "Carla Never"]


@pytest.mark.parametrize(("query", "field", "message"), [
    ("activity=8d", "activity", "Elija la última llamada de la lista"),
    ("activity=never&active_from=2026-01-01", "activity", "«Nunca llamado» no puede ir"),
    ("active_from=2026-02-30", "active_from", "2026-02-30"),
    ("active_from=2026-03-02&active_to=2026-03-01", "active_to", ""),
    ("disposition=999", "disposition", "Esa tipificación no existe"),
    ("disposition=abc", "disposition", "Esa opción no está en la lista"),
    ("company_name=Nadie+SA", "company_name", "No hay ninguna empresa llamada «Nadie SA»"),
])
async def test_bad_filter_values_are_explained_in_the_users_language(
        client: Client, query: str, field: str, message: str) -> None:
    await _contact(client, "Ana", "+34612345678")
    await login(client, "agent")
    status, names, page = await _names(client, query, SPANISH)
    assert status == 400 and names == []
    assert f'id="{field}-error"' in page and message in page
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', page), field
    export = await client.get("/contacts/export?" + query, headers=SPANISH)
    assert export.status in (400, 403)  # agents may not export at all


async def test_hostile_filter_values_come_back_escaped(client: Client) -> None:
    await login(client, "sup")
    for name in ("active_from", "company_name", "activity", "q", "list"):
        resp = await client.get("/contacts", params={name: HOSTILE}, headers=HTML)
        page = await resp.text()
        assert HOSTILE not in page, name
        # Echoed back into its box (a select has no box: it shows none of it).
        assert ("&lt;script&gt;" in page) == (name not in ("activity", "list")), name
        assert resp.status == (200 if name in ("q", "list") else 400), name
    export = await client.get("/contacts/export", params={"active_from": HOSTILE},
                              headers=HTML)
    # Plain text, never sniffed as a page: the value can be said as typed.
    assert export.status == 400 and "is not a date" in await export.text()
    assert export.headers["Content-Type"].startswith("text/plain")
    assert export.headers["X-Content-Type-Options"] == "nosniff"


async def test_company_suggestions_are_a_prefix_lookup(client: Client) -> None:
    assert (await client.get("/contacts/companies?q=a")).status == 401
    for i in range(12):
        await _contact(client, f"Łódź Transport {i:02d}", kind=ContactKind.COMPANY)
    await _contact(client, "Lodziarnia Person")  # a person, never offered
    await _contact(client, "Acme", kind=ContactKind.COMPANY)
    await login(client, "agent")
    answer = await (await client.get("/contacts/companies?q=%C5%81%C3%B3d")).json()
    assert [c["name"] for c in answer["companies"]] == [
        f"Łódź Transport {i:02d}" for i in range(10)]
    assert answer["more"] is True
    lodz = await (await client.get("/contacts/companies?q=LODZ+TRANSPORT+11")).json()
    assert lodz == {"companies": [{"id": lodz["companies"][0]["id"],
                                   "name": "Łódź Transport 11"}], "more": False}
    assert (await (await client.get("/contacts/companies?q=zzz")).json())["companies"] == []
    resp = await client.get("/contacts/companies", params={"q": "x" * 201},
                            headers={"Accept-Language": "pl"})
    assert resp.status == 400
    assert (await resp.json())["error"].startswith("Wpisz najwyżej 200 znaków")
    assert (await client.get("/contacts/companies", params={"q": "a\x00b"})).status == 400
    # GET only: a POST is refused before it reaches anything.
    token = csrf_in(await (await client.get("/contacts", headers=HTML)).text())
    post = await client.post("/contacts/companies", data={"csrf_token": token})
    assert post.status == 405


def _form(**changes: str) -> dict[str, str]:
    form = {"kind": "person", "name": "Ana", "company_id": "", "company_name": "",
            "company_create": "", "email": "", "owner_id": "", "tags": "", "lists": "",
            "fields": "", "phone_label_0": "mobile", "phone_number_0": ""}
    form.update(changes)
    return form


async def _post(client: Client, path: str, data: dict[str, str]) -> tuple[int, str, str]:
    token = csrf_in(await (await client.get("/contacts/new", headers=HTML)).text())
    resp = await client.post(path, headers=HTML, allow_redirects=False,
                             data={"csrf_token": token, **data})
    return resp.status, await resp.text(), resp.headers.get("Location", "")


async def test_company_field_picks_finds_or_creates(client: Client) -> None:
    acme = await _contact(client, "Acme Ltda", kind=ContactKind.COMPANY)
    await login(client, "agent")
    form = await (await client.get("/contacts/new", headers=HTML)).text()
    assert 'role="combobox"' in form and 'aria-controls="company_name-options"' in form
    assert '<select id="company_id"' not in form
    # The autocomplete's pick, and the name typed without script.
    for changes in ({"company_id": str(acme.id), "company_name": "Acme Ltda"},
                    {"company_name": "acme LTDA"}):
        status, _, location = await _post(client, "/contacts/new", _form(**changes))
        assert status == 303, changes
        made = await contacts.get_contact(_db(client), int(location.split("/")[2][:-13]))
        assert made is not None and made.company_id == acme.id
    # A name that is no company: an error, unless "create" was chosen.
    status, page, _ = await _post(client, "/contacts/new", _form(company_name="Nova SL"))
    assert status == 400 and "Create company" in page and 'value="Nova SL"' in page
    assert await _count(client) == 1
    # An invalid form creates no company either.
    status, _, _ = await _post(client, "/contacts/new", _form(
        company_name="Nova SL", company_create="1", email="not an email"))
    assert status == 400 and await _count(client) == 1
    status, _, location = await _post(client, "/contacts/new", _form(
        company_name="Nova SL", company_create="1"))
    assert status == 303 and await _count(client) == 2
    # Editing keeps the company shown by name; a company cannot belong to one.
    person_id = int(location.split("/")[2][:-13])
    edit = await (await client.get(f"/contacts/{person_id}", headers=HTML)).text()
    assert 'value="Nova SL"' in edit
    status, page, _ = await _post(client, "/contacts/new", _form(
        kind="company", name="Sub", company_name="Acme Ltda"))
    assert status == 400 and 'id="company_name-error"' in page


CSV = ("Nombre;Móvil;Email\n"
       "Ana Nueva;612 34 56 78;\n"
       "Bea;600 00 00 01;bea@x.es\n"
       "Bea otra;;BEA@X.ES\n").encode()


async def test_import_offers_the_duplicate_choice(client: Client) -> None:
    ana = await _contact(client, "Ana", "+34612345678")
    await login(client, "sup")
    status, answer = await _upload(client, CSV)
    assert status == 200
    mapping = await (await client.get(answer["next"], headers=HTML)).text()
    assert 'name="on_duplicate" type="radio" value="skip" checked' in mapping
    token = await _token(client)
    bad = await client.post(answer["next"], headers=SPANISH, data={
        "csrf_token": token, "on_duplicate": HOSTILE})
    assert bad.status == 400 and "Elija qué hacer con los duplicados" in await bad.text()
    resp = await client.post(answer["next"], headers=HTML, allow_redirects=False,
                             data={"csrf_token": token, "on_duplicate": "update"})
    assert resp.status == 303
    job = client.app[IMPORT_JOBS].jobs[answer["next"].rsplit("/", 1)[1]]
    assert job.task is not None
    await asyncio.wait_for(job.task, 60)
    done = await (await client.get(answer["next"], headers=HTML)).text()
    assert "Duplicates: 0 skipped, 2 updated, 0 created anyway." in done
    assert f"Updated contact #{ana.id}, which has +34612345678." in done
    assert "Merged into the contact from row 3, which has bea@x.es." in done
    again = await contacts.get_contact(_db(client), ana.id)
    assert again is not None and again.name == "Ana Nueva"
    report = await (await client.get(answer["next"] + "/errors.csv", headers=HTML)).text()
    assert "Merged into the contact from row 3" in report
