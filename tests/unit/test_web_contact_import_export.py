"""HTTP tests of contact import (upload, mapping, background run, errors) and export."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from crm import contact_search, contacts
from crm.contact_search import ContactFilter
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database
from gateway.settings import Settings
from tests.support.web_client import Client, page_client
from tests.unit.test_web_http import FAST, HOSTILE, HTML, PASSWORD, csrf_in, login
from web.appkeys import DB
from web.views.contact_import import IMPORT_JOBS, ImportJob

JSON = {"Accept": "application/json"}
FORMULA = "=cmd|' /C calc'!A0"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(data_dir=str(tmp_path), region="ES")
    async with page_client(settings, PASSWORD, FAST) as test_client:
        yield test_client


def _db(client: Client) -> Database:
    return client.app[DB]


async def _token(client: Client) -> str:
    return csrf_in(await (await client.get("/contacts/import", headers=HTML)).text())


def _form(data: bytes, token: str, name: str = "contacts.csv") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("file", io.BytesIO(data), filename=name, content_type="text/csv")
    return form


async def _upload(client: Client, data: bytes) -> tuple[int, dict[str, str]]:
    """Upload as the page's script does: token in the header, JSON answer."""
    token = await _token(client)
    resp = await client.post("/contacts/import", data=_form(data, token),
                             headers={**JSON, "X-CSRF-Token": token})
    return resp.status, await resp.json()


async def _run(client: Client, data: bytes, **choices: str) -> ImportJob:
    status, answer = await _upload(client, data)
    assert status == 200, answer
    job_url = answer["next"]
    token = await _token(client)
    resp = await client.post(job_url, headers=HTML, allow_redirects=False,
                             data={"csrf_token": token, **choices})
    assert resp.status == 303 and resp.headers["Location"] == job_url
    job = client.app[IMPORT_JOBS].jobs[job_url.rsplit("/", 1)[1]]
    assert job.task is not None
    await asyncio.wait_for(job.task, 300)
    return job


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


async def _count(client: Client) -> int:
    row = await _db(client).fetchone("SELECT COUNT(*) AS n FROM contacts")
    assert row is not None
    return int(row["n"])


async def test_only_admins_and_supervisors_import_and_export(client: Client) -> None:
    for path in ("/contacts/import", "/contacts/export"):
        resp = await client.get(path, headers=HTML, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/login"), path
    await login(client, "agent")
    for path in ("/contacts/import", "/contacts/export"):
        assert (await client.get(path, headers=HTML)).status == 403, path
    page = await (await client.get("/contacts", headers=HTML)).text()
    assert "/contacts/import" not in page and "/contacts/export" not in page
    await login(client, "sup")
    page = await (await client.get("/contacts?q=ana", headers=HTML)).text()
    assert 'href="/contacts/import"' in page and 'href="/contacts/export?q=ana"' in page


async def test_upload_needs_the_csrf_token(client: Client) -> None:
    await login(client, "root")
    token = await _token(client)
    data = b"Name\nAna\n"
    no_token = await client.post("/contacts/import", data=_form(data, ""), headers=HTML)
    wrong = await client.post("/contacts/import", data=_form(data, token),
                              headers={**JSON, "X-CSRF-Token": "x" * 40})
    other_site = await client.post("/contacts/import", data=_form(data, token),
                                   headers={**JSON, "X-CSRF-Token": token,
                                            "Origin": "http://evil.example"})
    assert (no_token.status, wrong.status, other_site.status) == (403, 403, 403)
    not_a_form = await client.post("/contacts/import", data=b"Name\nAna\n",
                                   headers={**JSON, "X-CSRF-Token": token,
                                            "Content-Type": "text/csv"})
    assert not_a_form.status == 400 and "Choose a CSV file" in (await not_a_form.json())["error"]
    assert not client.app[IMPORT_JOBS].jobs
    # The plain form (no script) works for a small file.
    resp = await client.post("/contacts/import", data=_form(data, token), headers=HTML,
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/contacts/import/")


async def test_broken_files_get_a_clear_error_and_change_nothing(client: Client) -> None:
    await login(client, "root")
    cases = {
        "Imię;Telefon\nŁukasz;601234567\n".encode("cp1250"): "CSV UTF-8",
        b"": "header row",
        b'Name,Phone\n"Ana,123\n': "line 2",
        b"Name\x00\n": "not a CSV",
    }
    for data, words in cases.items():
        status, answer = await _upload(client, data)
        assert status == 400 and words in answer["error"], (data, answer)
    # In the user's language, and as a page when sent without the script.
    await login(client, "sup")
    async with client.post("/contacts/import", data=_form(b"", await _token(client)),
                           headers={**HTML, "Accept-Language": "es"}) as resp:
        assert resp.status == 400
        assert "primera fila" in await resp.text() or "header row" in await resp.text()
    assert await _count(client) == 0 and not [
        j for j in client.app[IMPORT_JOBS].jobs.values() if j.progress]


async def test_mapping_without_a_name_is_refused(client: Client) -> None:
    await login(client, "root")
    status, answer = await _upload(client, "Nombre;Teléfono\nAna;612345678\n".encode())
    assert status == 200
    page = await (await client.get(answer["next"], headers=HTML)).text()
    # Guessed from Spanish titles.
    assert '<option value="name" selected>' in page
    assert '<option value="phone_other" selected>' in page
    token = csrf_in(page)
    resp = await client.post(answer["next"], headers=HTML,
                             data={"csrf_token": token, "map_0": "ignore"})
    assert resp.status == 400 and "name" in (await resp.text()).lower()
    resp = await client.post(answer["next"], headers=HTML,
                             data={"csrf_token": token, "map_0": "<bogus>"})
    assert resp.status == 400
    assert await _count(client) == 0
    # Another user cannot see the job.
    await login(client, "sup")
    assert (await client.get(answer["next"], headers=HTML)).status == 404


async def test_hostile_rows_are_stored_as_text_and_shown_escaped(client: Client) -> None:
    await login(client, "root")
    data = _csv([["Name", "Email", "Phone", "Notes"], [HOSTILE, "", "612345678", FORMULA],
                 [FORMULA, "", "", ""], ["", "<b>x</b>", "612345679", ""],
                 ["Bad", "", "<img src=x>", ""], ["n" * 300, "", "", ""]])
    job = await _run(client, data)
    assert job.progress is not None
    assert (job.progress.imported, job.progress.failed) == (2, 3)
    names = {r["name"] for r in await _db(client).fetchall("SELECT name FROM contacts")}
    assert names == {HOSTILE, FORMULA}
    page = await (await client.get(f"/contacts/import/{job.id}", headers=HTML)).text()
    assert "<img src=x>" not in page and "&lt;img src=x&gt;" in page
    assert "Imported: 2. Rows skipped: 3." in page
    listing = await (await client.get("/contacts", headers=HTML)).text()
    assert HOSTILE not in listing and "&lt;script&gt;" in listing
    errors = await client.get(f"/contacts/import/{job.id}/errors.csv")
    text = (await errors.read()).decode("utf-8")
    assert text.startswith("\ufeff") and errors.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r[0] for r in rows[1:]] == ["4", "4", "5", "6"]
    assert {r[1] for r in rows[1:3]} == {"Name", "Email"} and rows[3][1] == "Phone"


@pytest.mark.timeout(600)
async def test_100k_rows_import_with_progress(client: Client) -> None:
    await login(client, "root")
    lines = ["Nombre;Móvil;Etiquetas;Lista"]
    lines += [f"Cliente {i};6{i:08d};t{i % 7};Campaña {i % 3}" for i in range(100_000)]
    lines[50_001] = "Cliente roto;12ab;;"
    data = ("\n".join(lines) + "\n").encode()
    assert len(data) > 1024 * 1024  # more than the server's form limit
    seen: list[int] = []
    status, answer = await _upload(client, data)
    assert status == 200
    job = client.app[IMPORT_JOBS].jobs[answer["next"].rsplit("/", 1)[1]]
    token = await _token(client)
    await client.post(answer["next"], headers=HTML, allow_redirects=False,
                      data={"csrf_token": token})
    assert job.task is not None
    while not job.task.done():
        state = await (await client.get(answer["next"] + "/progress", headers=JSON)).json()
        seen.append(state["percent"])
        await asyncio.wait([job.task], timeout=0.5)
    state = await (await client.get(answer["next"] + "/progress", headers=JSON)).json()
    assert state == {"step": "done", "percent": 100, "done": 100_000, "total": 100_000,
                     "imported": 99_999, "failed": 1, "skipped": 0, "updated": 0,
                     "created_anyway": 0}
    assert seen == sorted(seen) and any(0 < p < 100 for p in seen)
    assert await _count(client) == 99_999
    found = await contact_search.list_contacts(_db(client), ContactFilter(query="cliente 77777"))
    assert [c.name for c in found.contacts] == ["Cliente 77777"]
    assert found.contacts[0].lists == ("Campaña 2",)


async def test_export_round_trip(client: Client) -> None:
    db = _db(client)
    acme = await contacts.create_contact(db, ContactDraft(kind=ContactKind.COMPANY,
                                                          name="Acme; \"Łódź\""))
    await contacts.create_contact(db, ContactDraft(
        kind=ContactKind.PERSON, name=FORMULA, company_id=acme.id, email="a@b.es",
        tags=("VIP", "-1"), lists=("Marzo",), fields={"Nota": "+línea 2", "CPF": "@x"},
        phones=(ContactPhone(PhoneLabel.MOBILE, "+34612345678"),
                ContactPhone(PhoneLabel.WORK, "+48221234567"))))
    await contacts.create_contact(db, ContactDraft(kind=ContactKind.PERSON, name="Zoe",
                                                   tags=("otro",)))
    await login(client, "sup")
    resp = await client.get("/contacts/export?tag=vip", headers={"Accept-Language": "es"})
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    raw = await resp.read()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["Nombre", "Tipo", "Empresa", "Correo electrónico"]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Nombre"] == "'" + FORMULA and row["Móvil"] == "'+34612345678"
    assert row["Teléfono trabajo"] == "'+48221234567" and row["CPF"] == "'@x"
    assert row["Nota"] == "'+línea 2" and row["Empresa"] == 'Acme; "Łódź"'
    # No cell a spreadsheet would run.
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)
    # English users get commas; everything matches without filters.
    english = await (await client.get("/contacts/export")).read()
    assert english.decode("utf-8-sig").splitlines()[0].startswith("Name,Type,Company,Email")
    # Read back through the importer: by default the file's contact is recognised as the
    # one already there (its number) and skipped; asked to, it comes back as a twin.
    await login(client, "root")
    job = await _run(client, raw)
    assert job.progress is not None
    assert (job.progress.imported, job.progress.skipped) == (0, 1)
    job = await _run(client, raw, on_duplicate="create")
    assert job.progress is not None and job.progress.imported == 1
    twins = (await contact_search.list_contacts(db, ContactFilter(tag="VIP"))).contacts
    assert len(twins) == 2
    first, second = twins
    assert (second.name, second.company_name, second.email) == (
        first.name, first.company_name, first.email)
    assert second.phones == first.phones and second.fields == first.fields
    assert set(second.tags) == set(first.tags) and second.lists == first.lists
    assert second.company_id == first.company_id
