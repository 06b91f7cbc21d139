"""HTTP tests of the call history pages: who sees what, filters, export, hostile text."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm import call_records, call_work, contacts, disposition_catalog, users
from crm.call_records import Answered, Ended
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database
from crm.dispositions import Kind, Scenario, Submission
from gateway.settings import Settings
from tests.support.web_client import Client, page_client
from tests.unit.test_web_http import FAST, HOSTILE, HTML, PASSWORD, login
from web import formatting
from web.appkeys import DB

BASE = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
FORMULA = "=cmd|' /C calc'!A0"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(data_dir=str(tmp_path), region="ES")
    async with page_client(settings, PASSWORD, FAST) as test_client:
        yield test_client


def _db(client: Client) -> Database:
    return client.app[DB]


async def _user_id(client: Client, username: str) -> int:
    row = await _db(client).fetchone("SELECT id FROM users WHERE username = ?", (username,))
    assert row is not None
    return int(row["id"])


async def _call(client: Client, id: str, username: str, remote: str, *, minutes: int,
                direction: str = "inbound", talk: int | None = 65, name: str = "",
                outcome_side: str = "remote") -> None:
    """A finished call ``minutes`` after BASE (answered for ``talk`` seconds, else missed)."""
    db = _db(client)
    at = BASE + timedelta(minutes=minutes)
    await call_records.create(db, id, await _user_id(client, username), direction,  # type: ignore[arg-type]
                              "1001", remote, name, at)
    if talk is not None:
        await call_records.apply_event(db, id, Answered(), at + timedelta(seconds=5))
        end = at + timedelta(seconds=5 + talk)
    else:
        end = at + timedelta(seconds=20)
    await call_records.apply_event(db, id, Ended(reason="hangup", side=outcome_side),  # type: ignore[arg-type]
                                   end)


@pytest.fixture
async def calls(client: Client) -> dict[str, int]:
    """Two agents' calls, contacts with a company and a list."""
    db = _db(client)
    await users.create_user(db, "bea", PASSWORD, role="agent", display_name="Bea Ortega",
                            hashing=FAST)
    acme = await contacts.create_contact(db, ContactDraft(kind=ContactKind.COMPANY,
                                                          name="Acme Ibérica"))
    ana = await contacts.create_contact(db, ContactDraft(
        kind=ContactKind.PERSON, name="Ana López", company_id=acme.id, lists=("Madrid",),
        phones=(ContactPhone(PhoneLabel.MOBILE, "+34612345678"),)))
    evil = await contacts.create_contact(db, ContactDraft(
        kind=ContactKind.PERSON, name=HOSTILE,
        phones=(ContactPhone(PhoneLabel.WORK, "+34911234567"),)))
    # As the gateway writes them: the number as the PBX sent it, no region given.
    await _call(client, "a-in", "agent", "612345678", minutes=0)
    await _call(client, "a-out", "agent", "+34 911 23 45 67", minutes=60,
                direction="outbound", talk=3725)
    await _call(client, "a-missed", "agent", "anonymous", minutes=120, talk=None,
                name=FORMULA)
    await _call(client, "b-in", "bea", "0034612345678", minutes=30)
    await _call(client, "b-ext", "bea", "1002", minutes=1440, direction="outbound")
    return {"acme": acme.id, "ana": ana.id, "evil": evil.id,
            "bea": await _user_id(client, "bea"), "agent": await _user_id(client, "agent")}


def _ids(html: str) -> list[str]:
    return re.findall(r'<(?:tr|li) data-call-id="([^"]+)"', html)


async def _page(client: Client, path: str, status: int = 200) -> str:
    resp = await client.get(path, headers=HTML)
    text = await resp.text()
    assert resp.status == status, text[:500]
    return text


async def test_pages_need_login(client: Client) -> None:
    for path in ("/history", "/history/recent", "/history/export.csv"):
        resp = await client.get(path, headers=HTML, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/login"), path


async def test_agent_sees_only_own_calls(client: Client, calls: dict[str, int]) -> None:
    await login(client, "agent")
    assert _ids(await _page(client, "/history")) == ["a-missed", "a-out", "a-in"]
    # Naming another agent in the filter does not widen an agent's view.
    assert _ids(await _page(client, f"/history?agent={calls['bea']}")) == [
        "a-missed", "a-out", "a-in"]
    export = await client.get(f"/history/export.csv?agent={calls['bea']}")
    assert "Bea" not in await export.text()


async def test_supervisor_sees_everyone_and_filters_by_agent(
        client: Client, calls: dict[str, int]) -> None:
    await login(client, "sup")
    assert _ids(await _page(client, "/history")) == [
        "b-ext", "a-missed", "a-out", "b-in", "a-in"]
    html = await _page(client, f"/history?agent={calls['bea']}")
    assert _ids(html) == ["b-ext", "b-in"]
    assert f'<option value="{calls["bea"]}" selected>Bea Ortega</option>' in html


async def test_filters_narrow_the_list(client: Client, calls: dict[str, int]) -> None:
    await login(client, "root")
    cases = {
        "direction=outbound": ["b-ext", "a-out"],
        "direction=inbound&outcome=missed": ["a-missed"],
        "from=2026-03-10T09:30&to=2026-03-10T10:00": ["a-out", "b-in"],
        "from=2026-03-11": ["b-ext"],
        "to=2026-03-10": ["a-missed", "a-out", "b-in", "a-in"],
        f"contact={calls['ana']}": ["b-in", "a-in"],
        f"company={calls['acme']}": ["b-in", "a-in"],
        "list=madrid": ["b-in", "a-in"],
        f"contact={calls['evil']}": ["a-out"],
        "outcome=completed&direction=outbound": ["b-ext", "a-out"],
        "number=612+34+56+78": ["b-in", "a-in"],
        "number=%2B34+911+234+567": ["a-out"],
        "number=1002": ["b-ext"],
    }
    for query, expected in cases.items():
        assert _ids(await _page(client, f"/history?{query}")) == expected, query


async def test_calls_link_to_contacts_and_numbers_dial(client: Client,
                                                       calls: dict[str, int]) -> None:
    await login(client, "agent")
    html = await _page(client, "/history")
    # The number the PBX sent is read in the deployment's region and linked.
    assert ('<a class="tel" href="tel:+34612345678" data-dial="+34612345678">'
            "612 34 56 78</a>") in html
    assert f'<a href="/contacts/{calls["ana"]}">Ana López</a>' in html
    assert 'data-dial="+34911234567">911 23 45 67</a>' in html
    # Durations and outcomes in words; an unreadable number stays text.
    assert "1:02:05" in html and "1:05" in html and "Missed call" in html
    assert ">anonymous<" in html and 'data-dial="anonymous"' not in html
    record = await call_records.get(_db(client), "a-in")
    assert record is not None and record.remote_e164 == "+34612345678"
    assert record.contact_id == calls["ana"]


async def test_hostile_strings_are_escaped(client: Client, calls: dict[str, int]) -> None:
    await login(client, "agent")
    html = await _page(client, "/history")
    assert HOSTILE not in html and "&lt;script&gt;" in html
    html = await _page(client, "/history?list=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)" not in html


async def test_bad_dates_are_explained_in_the_users_language(
        client: Client, calls: dict[str, int]) -> None:
    await users.update_user(_db(client), calls["agent"], language="es")
    await login(client, "agent")
    html = await _page(client, "/history?from=31/02/2026&direction=inbound", status=400)
    assert "no es una fecha" in html and "31/02/2026" in html
    assert _ids(html) == []
    html = await _page(client, "/history?from=2026-03-11&to=2026-03-10", status=400)
    assert "El final es anterior al inicio" in html
    html = await _page(client, "/history?number=%3Cscript%3E", status=400)
    assert "«&lt;script&gt;» no es un número de teléfono" in html and "<script>" not in html
    html = await _page(client, "/history?direction=sideways&outcome=%3Cx%3E", status=400)
    assert "Elige entrantes, salientes o ambas" in html and "&lt;x&gt;" not in html
    resp = await client.get("/history/export.csv?from=yesterday", headers=HTML)
    assert resp.status == 400 and "text/html" in resp.headers["Content-Type"]


async def test_export_is_excel_friendly_and_formula_safe(
        client: Client, calls: dict[str, int]) -> None:
    await login(client, "sup")
    resp = await client.get("/history/export.csv?direction=inbound")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    raw = await resp.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=","))
    assert rows[0][:4] == ["Date and time", "Direction", "Agent", "Number"]
    body = rows[1:]
    assert [r[0] for r in body] == ["2026-03-10 11:00:00", "2026-03-10 09:30:00",
                                    "2026-03-10 09:00:00"]
    missed = body[0]
    assert missed[4] == "'" + FORMULA and missed[6] == "Missed call" and missed[8] == ""
    assert body[1][2] == "Bea Ortega" and body[1][3] == "'+34612345678"
    assert body[2][5] == "Ana López" and body[2][8] == "65"
    # No cell a spreadsheet would evaluate.
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


async def test_export_in_polish(client: Client, calls: dict[str, int]) -> None:
    await users.update_user(_db(client), calls["agent"], language="pl")
    await login(client, "agent")
    text = (await (await client.get("/history/export.csv")).read()).decode("utf-8-sig")
    # Polish Excel splits on semicolons (the decimal mark is a comma).
    header, *body = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert header[0] == "Data i godzina" and len(body) == 3
    assert {row[1] for row in body} == {"Przychodzące", "Wychodzące"}


async def test_recent_calls_have_redial(client: Client, calls: dict[str, int]) -> None:
    await login(client, "bea")
    html = await _page(client, "/history/recent")
    assert _ids(html) == ["b-ext", "b-in"]
    assert 'href="tel:+34612345678" data-dial="+34612345678"' in html
    assert html.count('class="button small"') == 2  # the extension too
    assert 'data-dial="1002"' in html


async def test_nav_and_contact_filter_chip(client: Client, calls: dict[str, int]) -> None:
    await login(client, "agent")
    html = await _page(client, f"/history?contact={calls['ana']}&direction=inbound")
    assert '<a href="/history" aria-current="page">' in html
    assert "Only calls with" in html and 'href="/history?direction=inbound"' in html
    assert '/static/click-to-dial.js' in html


async def test_user_list_dates_follow_the_language(client: Client) -> None:
    root = await _user_id(client, "root")
    await users.update_user(_db(client), root, language="pl")
    user = await users.get_user(_db(client), root)
    assert user is not None
    await login(client, "root")
    html = await _page(client, "/admin/users")
    shown = formatting.format_date(user.created_at, "pl")
    assert f'">{shown}</time>' in html and re.search(r"\d{4}-\d\d-\d\d</time>", html) is None


async def test_disposition_filter_and_column(client: Client, calls: dict[str, int]) -> None:
    db = _db(client)
    category = await disposition_catalog.create_category(db, "Ventas", Kind.SUCCESS)
    sold = await disposition_catalog.create_disposition(db, "Venta cerrada", category, None,
                                                        frozenset(Scenario))
    for call_id in ("a-out", "b-in"):
        await call_work.start(db, call_id, calls["agent"], None, BASE)
        await call_work.finish(db, call_id, Submission(disposition_id=sold), BASE)
    await login(client, "sup")
    html = await _page(client, f"/history?disposition={sold}")
    assert _ids(html) == ["a-out", "b-in"] and "<td>Venta cerrada</td>" in html
    assert f'<option value="{sold}" selected>Venta cerrada</option>' in html
    text = (await (await client.get(f"/history/export.csv?disposition={sold}")).read()
            ).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header[7] == "Disposition" and [r[7] for r in rows] == ["Venta cerrada"] * 2
    await login(client, "agent")  # an agent's filter stays within their own calls
    assert _ids(await _page(client, f"/history?disposition={sold}")) == ["a-out"]


async def test_contact_page_gets_the_contacts_last_calls(client: Client,
                                                         calls: dict[str, int]) -> None:
    await login(client, "agent")
    page = await _page(client, f"/contacts/{calls['ana']}")
    assert f'data-history-src="/history/contact/{calls["ana"]}"' in page
    assert f'href="/history?contact={calls["ana"]}"' in page
    # The piece the page fetches: this agent's calls with Ana, no page around them.
    piece = await _page(client, f"/history/contact/{calls['ana']}")
    assert _ids(piece) == ["a-in"] and "<html" not in piece and "Completed</span> · 1:05" in piece
    await login(client, "sup")
    assert _ids(await _page(client, f"/history/contact/{calls['ana']}")) == ["b-in", "a-in"]
    assert "No calls with this contact yet." in await _page(client, "/history/contact/999")
    resp = await client.get("/history/contact/" + "9" * 40, headers=HTML)
    assert resp.status == 404


async def test_company_filter_is_the_company_combobox(client: Client,
                                                      calls: dict[str, int]) -> None:
    """The company filter is the contacts list's combobox (a typed name and the picked
    id), not a drop-down of every company; a page without script sends the name only."""
    await users.update_user(_db(client), calls["agent"], language="es")
    await login(client, "agent")
    html = await _page(client, f"/history?company={calls['acme']}")
    assert _ids(html) == ["a-in"]
    assert 'role="combobox"' in html and 'data-source="/contacts/companies"' in html
    assert f'name="company" value="{calls["acme"]}" data-combobox-id' in html
    # The picked company's name is shown, though the URL carried only its id.
    assert 'name="company_name" type="text" value="Acme Ibérica"' in html
    assert '<select id="company"' not in html
    # Typed without a pick: the name is looked up (case and accents aside).
    assert _ids(await _page(client, "/history?company_name=acme+iberica")) == ["a-in"]
    export = await (await client.get("/history/export.csv?company_name=Acme+Ib%C3%A9rica"
                                     )).read()
    assert "Ana López" in export.decode("utf-8-sig")
    assert "anonymous" not in export.decode("utf-8-sig")
    # A name no company has: an error on the field, in the user's language, nothing listed.
    html = await _page(client, "/history?company_name=%3Cb%3ENadie", status=400)
    assert "No hay ninguna empresa llamada" in html and "&lt;b&gt;Nadie" in html
    assert 'aria-invalid="true"' in html and _ids(html) == []
    html = await _page(client, "/history?company=abc&company_name=x", status=400)
    assert 'id="company_name-error"' in html and _ids(html) == []
    resp = await client.get("/history/export.csv?company_name=Nadie", headers=HTML)
    assert resp.status == 400 and "text/html" in resp.headers["Content-Type"]
