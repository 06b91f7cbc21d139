"""HTTP tests of the contact pages and the caller-ID endpoint."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm import contact_search, contacts
from crm.contacts import Contact, ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database
from gateway.settings import Settings
from tests.support.web_client import Client, page_client
from tests.unit.test_web_http import FAST, HOSTILE, HTML, PASSWORD, csrf_in, login
from web.appkeys import DB


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(data_dir=str(tmp_path), region="BR", area_code="11")
    async with page_client(settings, PASSWORD, FAST) as test_client:
        yield test_client


def _db(client: Client) -> Database:
    return client.app[DB]


async def _contact(client: Client, name: str, *numbers: str,
                   kind: ContactKind = ContactKind.PERSON, **values: object) -> Contact:
    return await contacts.create_contact(_db(client), ContactDraft(
        kind=kind, name=name, phones=tuple(ContactPhone(PhoneLabel.MOBILE, n) for n in numbers),
        **values))  # type: ignore[arg-type]


async def _post(client: Client, path: str, data: dict[str, str]) -> tuple[int, str, str]:
    token = csrf_in(await (await client.get("/", headers=HTML)).text())
    resp = await client.post(path, headers=HTML, allow_redirects=False,
                             data={"csrf_token": token, **data})
    return resp.status, await resp.text(), resp.headers.get("Location", "")


async def _rows(client: Client) -> list[dict[str, object]]:
    return [dict(r) for r in await _db(client).fetchall(
        "SELECT c.*, (SELECT group_concat(e164) FROM contact_phones p"
        " WHERE p.contact_id = c.id) AS phones FROM contacts c ORDER BY id")]


def _form(**changes: str) -> dict[str, str]:
    form = {"kind": "person", "name": "João Silva", "company_id": "", "email": "",
            "owner_id": "", "tags": "", "lists": "", "fields": "",
            "phone_label_0": "mobile", "phone_number_0": "99999-8888"}
    form.update(changes)
    return form


async def test_everyone_must_log_in(client: Client) -> None:
    ana = await _contact(client, "Ana", "+5511999998888")
    for path in ("/contacts", "/contacts/new", f"/contacts/{ana.id}",
                 f"/contacts/{ana.id}/delete"):
        resp = await client.get(path, headers=HTML, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/login"), path
    api = await client.get("/api/callerid?number=999998888")
    assert api.status == 401 and await api.json() == {"error": "not_authenticated"}


async def test_agent_creates_contact_with_local_brazilian_number(client: Client) -> None:
    await login(client, "agent")
    page = await (await client.get("/contacts/new", headers=HTML)).text()
    assert 'name="phone_number_0"' in page and "csrf_token" in page
    status, _, location = await _post(client, "/contacts/new", _form(
        email="joao@example.com.br", tags="VIP, Cobrança", lists="Campanha março",
        fields="CPF: 123.456.789-09", phone_label_1="work", phone_number_1="(21) 3456-7890"))
    assert status == 303
    (row,) = await _rows(client)
    assert location == f"/contacts/{row['id']}?done=created"
    assert row["phones"] == "+5511999998888,+552134567890"
    view = await (await client.get(location, headers=HTML)).text()
    assert "Contact created." in view
    # National format for the deployment's region, E.164 for the softphone.
    assert 'href="tel:+5511999998888" data-dial="+5511999998888">(11) 99999-8888</a>' in view
    assert "Only administrators and supervisors can delete contacts." in view
    assert f'/contacts/{row["id"]}/delete' not in view


async def test_list_search_filters_and_pages(client: Client) -> None:
    acme = await _contact(client, "Acme Ltda", "+551130000000", kind=ContactKind.COMPANY)
    for i in range(30):
        await _contact(client, f"Pessoa {i:02d}", f"+55119{i:04d}0000",
                       company_id=acme.id if i < 3 else None, tags=("VIP",) if i == 7 else ())
    await login(client, "agent")
    first = await (await client.get("/contacts", headers=HTML)).text()
    assert first.count('<tr>') == 1 + contact_search.PER_PAGE
    assert "Acme Ltda" in first and 'rel="next"' in first and 'rel="prev"' not in first
    assert 'data-dial="+5511900000000"' in first and "(11) 90000-0000" in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first)
    assert next_url is not None and "after=" in next_url[1]
    second = await (await client.get(next_url[1].replace("&amp;", "&"), headers=HTML)).text()
    assert "Pessoa 29" in second and 'rel="prev"' in second and 'rel="next"' not in second
    prev_url = re.search(r'href="([^"]+)" rel="prev"', second)
    assert prev_url is not None and "before=" in prev_url[1]
    back = await (await client.get(prev_url[1].replace("&amp;", "&"), headers=HTML)).text()
    assert back.count('<tr>') == 1 + contact_search.PER_PAGE and "Acme Ltda" in back
    found = await (await client.get("/contacts?q=pessoa+07", headers=HTML)).text()
    assert "Pessoa 07" in found and "Pessoa 08" not in found
    by_number = await (await client.get("/contacts?q=90007-0000", headers=HTML)).text()
    assert "Pessoa 07" in by_number and "Pessoa 06" not in by_number
    by_tag = await (await client.get("/contacts?tag=vip", headers=HTML)).text()
    assert "Pessoa 07" in by_tag and "Pessoa 06" not in by_tag
    by_company = await (await client.get(f"/contacts?company={acme.id}", headers=HTML)).text()
    assert by_company.count('<tr>') == 1 + 4
    nothing = await (await client.get("/contacts?q=zzz", headers=HTML)).text()
    assert "No contacts match this search." in nothing
    # A page cursor that is junk starts over; a filter value that is junk is an error.
    assert (await client.get("/contacts?after=-1&before=x", headers=HTML)).status == 200
    odd = await client.get("/contacts?company=x&owner=99999999999999999999999",
                           headers=HTML)
    assert odd.status == 400
    text = await odd.text()
    assert text.count("That choice is not in the list") == 4  # summary + field, twice
    assert '<th scope="row">' not in text


async def test_invalid_form_rerenders_and_changes_nothing(client: Client) -> None:
    ana = await _contact(client, "Ana", "+5511999998888", email="ana@example.com")
    await login(client, "agent")
    before = await _rows(client)
    status, page, _ = await _post(client, f"/contacts/{ana.id}", _form(
        name="", email="not-an-email", phone_number_0="12-abc", tags="t" * 41,
        fields="no colon"))
    assert status == 400
    assert await _rows(client) == before
    for field in ("name", "email", "phone_number_0", "tags", "fields"):
        assert f'id="{field}-error"' in page, field
        assert re.search(rf'id="{field}"[^>]*aria-describedby="[^"]*{field}-error', page), field
    # The typed values come back, so nothing has to be typed again.
    assert 'value="12-abc"' in page and "not-an-email" in page
    status, page, _ = await _post(client, "/contacts/new", _form(name="x" * 201))
    assert status == 400 and "at most 200 characters" in page
    status, page, _ = await _post(client, "/contacts/new", _form(phone_number_0="2001"))
    assert status == 400 and "internal extension" in page
    assert await _rows(client) == before


async def test_edit_removes_and_adds_phone_rows(client: Client) -> None:
    ana = await _contact(client, "Ana", "+5511999998888", "+551134567890")
    await login(client, "agent")
    page = await (await client.get(f"/contacts/{ana.id}", headers=HTML)).text()
    assert 'name="phone_remove_0"' in page and 'name="phone_number_2"' in page
    status, _, location = await _post(client, f"/contacts/{ana.id}", _form(
        name="Ana Souza", phone_number_0="(11) 99999-8888", phone_remove_0="1",
        phone_label_1="work", phone_number_1="(11) 3456-7890",
        phone_label_2="home", phone_number_2="0048 601 234 567"))
    assert status == 303 and location == f"/contacts/{ana.id}?done=saved"
    again = await contacts.get_contact(_db(client), ana.id)
    assert again is not None and again.name == "Ana Souza"
    assert [(p.label.value, p.e164) for p in again.phones] == [
        ("work", "+551134567890"), ("home", "+48601234567")]
    # "Add another number" shows one more row and saves nothing.
    status, page, _ = await _post(client, f"/contacts/{ana.id}", _form(
        name="Changed", action="more_phones", phone_number_1="(11) 2222-3333"))
    assert status == 200 and 'name="phone_number_2"' in page
    unchanged = await contacts.get_contact(_db(client), ana.id)
    assert unchanged is not None and unchanged.name == "Ana Souza"


async def test_add_number_to_existing_contact(client: Client) -> None:
    ana = await _contact(client, "Ana", "+5511999998888")
    await login(client, "agent")
    listing = await (await client.get("/contacts?add_number=%2B48601234567",
                                      headers=HTML)).text()
    assert "+48 601 234 567" in listing and f'action="/contacts/{ana.id}/phones"' in listing
    assert '/contacts/new?number=%2B48601234567' in listing
    status, _, location = await _post(client, f"/contacts/{ana.id}/phones",
                                      {"number": "+48601234567", "label": "other"})
    assert status == 303 and location.endswith("?done=phone_added")
    again = await contacts.get_contact(_db(client), ana.id)
    assert again is not None and [p.e164 for p in again.phones] == [
        "+5511999998888", "+48601234567"]
    status, page, _ = await _post(client, f"/contacts/{ana.id}/phones",
                                  {"number": "garbage", "label": "other"})
    assert status == 400 and 'id="number-error"' in page and 'value="garbage"' in page
    new = await (await client.get("/contacts/new?number=%2B48601234567", headers=HTML)).text()
    assert 'value="+48 601 234 567"' in new


async def test_only_admins_and_supervisors_delete(client: Client) -> None:
    ana = await _contact(client, "Ana", "+5511999998888")
    await login(client, "agent")
    assert (await client.get(f"/contacts/{ana.id}/delete", headers=HTML)).status == 403
    status, _, _ = await _post(client, f"/contacts/{ana.id}/delete", {})
    assert status == 403
    assert await contacts.get_contact(_db(client), ana.id) is not None

    client.session.cookie_jar.clear()
    await login(client, "sup")
    view = await (await client.get(f"/contacts/{ana.id}", headers=HTML)).text()
    assert f'href="/contacts/{ana.id}/delete"' in view
    confirm = await (await client.get(f"/contacts/{ana.id}/delete", headers=HTML)).text()
    assert "Delete Ana?" in confirm and "phone numbers (1)" in confirm
    # Without the CSRF token nothing is deleted.
    resp = await client.post(f"/contacts/{ana.id}/delete", headers=HTML, data={})
    assert resp.status == 403
    assert await contacts.get_contact(_db(client), ana.id) is not None
    status, _, location = await _post(client, f"/contacts/{ana.id}/delete", {})
    assert status == 303 and location == "/contacts?done=deleted"
    assert await _rows(client) == []
    assert await _db(client).fetchall("SELECT * FROM contact_phones") == []
    listing = await (await client.get(location, headers=HTML)).text()
    assert "Contact deleted." in listing


async def test_csrf_required_on_every_contact_post(client: Client) -> None:
    ana = await _contact(client, "Ana", "+5511999998888")
    await login(client, "root")
    for path in ("/contacts/new", f"/contacts/{ana.id}", f"/contacts/{ana.id}/phones",
                 f"/contacts/{ana.id}/delete"):
        resp = await client.post(path, headers=HTML, data=_form(number="+48601234567"))
        assert resp.status == 403, path
    assert [r["name"] for r in await _rows(client)] == ["Ana"]


async def test_missing_contact_is_404(client: Client) -> None:
    await login(client, "root")
    for path in ("/contacts/999", "/contacts/99999999999999999999999", "/contacts/999/delete"):
        assert (await client.get(path, headers=HTML)).status == 404, path


async def test_hostile_strings_are_escaped(client: Client) -> None:
    company = await _contact(client, HOSTILE, kind=ContactKind.COMPANY)
    await _contact(client, HOSTILE, "+5511999998888", company_id=company.id,
                   email="a@b.co", tags=(HOSTILE[:40],), lists=(HOSTILE,),
                   fields={HOSTILE[:50]: HOSTILE})
    await login(client, "agent")
    ids = [int(r["id"]) for r in await _rows(client)]  # type: ignore[call-overload]
    pages = ["/contacts", f"/contacts?q={HOSTILE}", f"/contacts?add_number={HOSTILE}",
             *(f"/contacts/{i}" for i in ids)]
    for path in pages:
        html = await (await client.get(path, headers=HTML)).text()
        assert "<script>" not in html, path
    status, html, _ = await _post(client, "/contacts/new", _form(
        name=HOSTILE, phone_number_0=HOSTILE, email=HOSTILE))
    assert status == 400 and "<script>" not in html and "&lt;script&gt;" in html


async def test_callerid_api(client: Client) -> None:
    acme = await _contact(client, "Acme", "+551134567890", kind=ContactKind.COMPANY)
    joao = await _contact(client, "João", "+5511999998888", company_id=acme.id,
                          email="secret@example.com", fields={"CPF": "123"})
    bea = await _contact(client, "Bea", "+551134567890", company_id=acme.id)
    await login(client, "agent")

    async def ask(number: str) -> dict[str, object]:
        resp = await client.get("/api/callerid", params={"number": number})
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        body = await resp.json()
        assert set(body) == {"number", "kind", "matches"}
        for match in body["matches"]:
            assert set(match) == {"id", "name", "company"}
        return dict(body)

    assert await ask("99999-8888") == {"number": "+5511999998888", "kind": "number",
                                       "matches": [{"id": joao.id, "name": "João",
                                                    "company": "Acme"}]}
    several = await ask("+55 11 3456-7890")
    assert several["matches"] == [{"id": acme.id, "name": "Acme", "company": None},
                                  {"id": bea.id, "name": "Bea", "company": "Acme"}]
    assert await ask("0048 601 234 567") == {"number": "+48601234567", "kind": "number",
                                             "matches": []}
    assert await ask("2001") == {"number": "2001", "kind": "extension", "matches": []}
    assert await ask("anonymous") == {"number": "", "kind": "unknown", "matches": []}
    assert await ask("9" * 5000) == {"number": "", "kind": "unknown", "matches": []}
    assert await ask("") == {"number": "", "kind": "unknown", "matches": []}


async def test_every_locale_renders_the_contact_pages(client: Client) -> None:
    ana = await _contact(client, "Ana", "+5511999998888")
    await login(client, "sup")
    for lang, word in (("es", "Contactos"), ("pt-BR", "Contatos"), ("pl", "Kontakty")):
        for path in ("/contacts", "/contacts/new", f"/contacts/{ana.id}",
                     f"/contacts/{ana.id}/delete"):
            resp = await client.get(path, headers={**HTML, "Accept-Language": lang})
            html = await resp.text()
            assert resp.status == 200 and word in html, (lang, path)
            assert "contacts." not in re.sub(r'(href|action)="[^"]*"', "", html), (lang, path)


async def test_endless_or_odd_numbers_where_ids_go_are_refused_not_crashed(
        client: Client) -> None:
    # Python will not turn more than 4,300 digits into an int: a ValueError (500) once.
    await login(client, "agent")
    huge = "9" * 5000
    for path in (f"/contacts/{huge}", f"/contacts?after={huge}", "/contacts?after=²"):
        resp = await client.get(path, headers=HTML)
        assert resp.status in (200, 404), (path[:40], resp.status)
    resp = await client.get(f"/contacts?company={huge}", headers=HTML)
    assert resp.status in (200, 400) and "pick one from the list" in await resp.text()
    before = await _rows(client)
    status, _, _ = await _post(client, "/contacts/new", _form(owner_id=huge))
    assert status == 400 and await _rows(client) == before
