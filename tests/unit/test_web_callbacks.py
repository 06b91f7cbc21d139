"""HTTP tests of the callback panel, its form, actions and permissions, and the calendar
with its iCalendar export."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm import call_records, callback_store, callbacks, clock, contacts, ticket_store, users
from crm.call_flow import Answered, Ended
from crm.callbacks import NewCallback, State
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database
from crm.queue_store import save_queue
from crm.tickets import ActionDraft, TicketDraft
from gateway.settings import Settings
from tests.support.web_client import Client, page_client
from tests.unit.test_web_http import FAST, HOSTILE, HTML, PASSWORD, csrf_in, login
from web.appkeys import DB

NUMBER = "+34911234567"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with page_client(Settings(data_dir=str(tmp_path), region="ES"), PASSWORD,
                           FAST) as test_client:
        yield test_client


def _db(client: Client) -> Database:
    return client.app[DB]


async def _uid(client: Client, name: str) -> int:
    user = await users.get_by_username(_db(client), name)
    assert user is not None
    return user.id


async def _seed(client: Client, owner: str, *, due_in: timedelta = timedelta(hours=2),
                reason: str = "Invoice question", queue: str = "Ventas",
                phones: tuple[str, ...] = (NUMBER,), contact_id: int | None = None,
                expiry: int = 3600) -> int:
    """A callback stored directly (past due times are allowed here, not in the form)."""
    cb = await callback_store.create(_db(client), NewCallback(
        user_id=await _uid(client, owner), queue=queue, contact_id=contact_id,
        due_at=clock.utc_now() + due_in, expiry_seconds=expiry, phones=phones, reason=reason,
        links=(callbacks.Link("Order", "https://shop.example/o/1"),)),
        await _uid(client, owner), clock.utc_now())
    return cb.id


async def _page(client: Client, path: str, status: int = 200) -> str:
    resp = await client.get(path, headers=HTML)
    assert resp.status == status, (path, resp.status)
    return await resp.text()


def _rows(page: str) -> list[tuple[str, str]]:
    return re.findall(r'data-callback="(\d+)" data-urgency="([a-z_]+)"', page)


def _local(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _form(token: str, **fields: str) -> dict[str, str]:
    data = {"csrf_token": token, "due": _local(clock.utc_now() + timedelta(days=1)),
            "expiry": "3600", "phone_0": "911 23 45 67", "queue": "",
            "reason": "Wants a quote"}
    data.update(fields)
    return data


async def _create(client: Client, **fields: str) -> tuple[int, str]:
    token = csrf_in(await _page(client, "/callbacks/new"))
    resp = await client.post("/callbacks/new", headers=HTML, data=_form(token, **fields),
                             allow_redirects=False)
    return resp.status, await resp.text()


async def _count(client: Client) -> int:
    row = await _db(client).fetchone("SELECT COUNT(*) AS n FROM callbacks")
    assert row is not None
    return int(row["n"])


async def _act(client: Client, callback_id: int, action: str, *, token: bool = True,
               **fields: str) -> tuple[int, str]:
    data = {"action": action, "back": "/callbacks", **fields}
    if token:
        data["csrf_token"] = csrf_in(await _page(client, "/callbacks"))
    resp = await client.post(f"/callbacks/{callback_id}/action", headers=HTML, data=data,
                             allow_redirects=False)
    return resp.status, resp.headers.get("Location", "")


async def test_create_then_listed_with_dial_links_and_links(client: Client) -> None:
    ventas = await save_queue(_db(client), None, "Ventas", "", [])
    await login(client, "agent")
    status, _ = await _create(client, phone_1="600 11 12 22", link_name_0="Order",
                              link_url_0="https://shop.example/o/9", queue=ventas.ref)
    assert status == 303
    page = await _page(client, "/callbacks?done=created")
    assert "Callback scheduled." in page
    assert len(_rows(page)) == 1 and _rows(page)[0][1] == "upcoming"
    assert f'href="tel:{NUMBER}" data-dial="{NUMBER}"' in page
    assert 'data-dial="+34600111222"' in page
    assert "911 23 45 67" in page  # national format in Spain
    assert 'href="https://shop.example/o/9"' in page and ">Order</a>" in page
    assert "Ventas" in page and "Wants a quote" in page
    events = await callback_store.events(_db(client), int(_rows(page)[0][0]))
    assert [e.kind.value for e in events] == ["created"]


@pytest.mark.parametrize("fields, message", [
    ({"due": "2020-01-01T10:00"}, "That time has already passed"),
    ({"expiry": "one hour"}, "Expiry: enter a whole number of seconds"),
    ({"expiry": "10"}, "Expiry: between 60 and 2592000 seconds"),
    ({"phone_0": "not a phone"}, "is not a phone number we can read"),
    ({"phone_0": ""}, "Enter at least one phone number."),
    ({"link_name_0": "x", "link_url_0": "javascript:alert(1)"}, "must start with http://"),
])
async def test_bad_input_is_refused_clearly_and_changes_nothing(
        client: Client, fields: dict[str, str], message: str) -> None:
    await login(client, "agent")
    status, page = await _create(client, reason=HOSTILE, **fields)
    assert status == 400
    assert message in page.replace("&#39;", "'").replace("&amp;", "&")
    assert HOSTILE not in page and "&lt;script&gt;" in page  # kept in the form, escaped
    assert await _count(client) == 0


async def test_bad_input_in_spanish(client: Client) -> None:
    await login(client, "agent")
    token = csrf_in(await _page(client, "/callbacks/new"))
    resp = await client.post("/callbacks/new", data=_form(token, expiry="una hora"),
                             headers={**HTML, "Accept-Language": "es"})
    assert resp.status == 400
    assert "Caducidad: escribe un número entero de segundos" in await resp.text()


async def test_csrf_required(client: Client) -> None:
    await login(client, "agent")
    resp = await client.post("/callbacks/new", headers=HTML, data=_form("wrong"))
    assert resp.status == 403
    cb = await _seed(client, "agent")
    assert (await _act(client, cb, "complete", token=False))[0] == 403
    assert (await callback_store.get(_db(client), cb)).state is State.PENDING  # type: ignore[union-attr]
    assert await _count(client) == 1


async def test_login_required(client: Client) -> None:
    for path in ("/callbacks", "/callbacks/new", "/calendar", "/calendar.ics"):
        resp = await client.get(path, headers=HTML, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/login")


async def test_agent_sees_and_acts_only_on_their_own(client: Client) -> None:
    mine = await _seed(client, "agent", reason="mine")
    theirs = await _seed(client, "sup", reason="not yours")
    await login(client, "agent")
    page = await _page(client, "/callbacks")
    assert [int(i) for i, _ in _rows(page)] == [mine]
    # Asking for someone else or everyone is ignored for agents.
    for query in (f"?agent={await _uid(client, 'sup')}", "?agent=all"):
        assert [int(i) for i, _ in _rows(await _page(client, "/callbacks" + query))] == [mine]
    assert "not yours" not in await _page(client, "/calendar?agent=all")
    assert "not yours" not in await (await client.get("/calendar.ics?agent=all")).text()
    for action in ("complete", "discard", "postpone"):
        assert (await _act(client, theirs, action, due="2099-01-01T10:00"))[0] == 404
    assert (await _act(client, mine, "assign", user_id=str(await _uid(client, "sup"))))[0] == 403
    # Creating for someone else is refused.
    token = csrf_in(await _page(client, "/callbacks/new"))
    resp = await client.post("/callbacks/new", headers=HTML, allow_redirects=False,
                             data=_form(token, agent=str(await _uid(client, "sup"))))
    assert resp.status == 403
    assert await _count(client) == 2
    cb = await callback_store.get(_db(client), theirs)
    assert cb is not None and cb.state is State.PENDING


async def test_complete_discard_postpone(client: Client) -> None:
    first = await _seed(client, "agent", due_in=timedelta(hours=1))
    second = await _seed(client, "agent", due_in=timedelta(hours=2))
    third = await _seed(client, "agent", due_in=timedelta(hours=3))
    await login(client, "agent")
    assert await _act(client, first, "complete") == (303, "/callbacks?done=complete")
    assert (await _act(client, second, "discard"))[1] == "/callbacks?done=discard"
    later = _local(clock.utc_now() + timedelta(days=2))
    assert (await _act(client, third, "postpone", due=later))[1] == "/callbacks?done=postpone"
    page = await _page(client, "/callbacks")
    assert [int(i) for i, _ in _rows(page)] == [third]
    closed = await _page(client, "/callbacks?closed=1")
    assert sorted(int(i) for i, _ in _rows(closed)) == [first, second, third]
    assert "Done</span>" in closed and "Discarded</span>" in closed
    # Acting again on a closed one changes nothing and says so.
    assert (await _act(client, first, "discard"))[1] == "/callbacks?error=stale"
    assert "closed or expired in the meantime" in await _page(client, "/callbacks?error=stale")
    moved = await callback_store.get(_db(client), third)
    assert moved is not None and _local(moved.due_at) == later
    kinds = [e.kind.value for e in await callback_store.events(_db(client), third)]
    assert kinds == ["created", "postponed"]


async def test_postpone_into_the_past_changes_nothing(client: Client) -> None:
    cb = await _seed(client, "agent")
    before = await callback_store.get(_db(client), cb)
    await login(client, "agent")
    for due, error in (("2020-01-01T10:00", "due_past"), ("soon", "due_at")):
        assert (await _act(client, cb, "postpone", due=due))[1] == f"/callbacks?error={error}"
    assert await callback_store.get(_db(client), cb) == before
    assert "already passed" in await _page(client, "/callbacks?error=due_past")


async def test_urgency_classes(client: Client) -> None:
    soon = await _seed(client, "agent", due_in=timedelta(minutes=10))
    late = await _seed(client, "agent", due_in=-timedelta(minutes=10))
    gone = await _seed(client, "agent", due_in=-timedelta(hours=2), expiry=3600)
    later = await _seed(client, "agent", due_in=timedelta(days=1))
    await login(client, "agent")
    rows = dict(_rows(await _page(client, "/callbacks")))
    assert rows == {str(gone): "expired", str(late): "overdue", str(soon): "due_soon",
                    str(later): "upcoming"}
    # An expired one can no longer be completed.
    assert (await _act(client, gone, "complete"))[1] == "/callbacks?error=stale"


async def test_supervisor_filters_and_assigns(client: Client) -> None:
    lucia = await contacts.create_contact(_db(client), ContactDraft(
        kind=ContactKind.PERSON, name="Lucía Pérez",
        phones=(ContactPhone(PhoneLabel.MOBILE, NUMBER),)))
    a = await _seed(client, "agent", queue="Ventas Madrid", reason="quote",
                    contact_id=lucia.id)
    b = await _seed(client, "sup", queue="Soporte", reason="Router broken",
                    phones=("+34600111222",), due_in=timedelta(days=3))
    await login(client, "sup")
    assert [int(i) for i, _ in _rows(await _page(client, "/callbacks"))] == [b]
    everyone = await _page(client, "/callbacks?agent=all")
    assert [int(i) for i, _ in _rows(everyone)] == [a, b]
    assert "Lucía Pérez" in everyone and "Agent Smith" in everyone

    async def ids(query: str) -> list[int]:
        return [int(i) for i, _ in _rows(await _page(client, "/callbacks?agent=all&" + query))]

    assert await ids("queue=madrid") == [a]
    assert await ids("reason=ROUTER") == [b]
    assert await ids("phone=600+111") == [b]
    assert await ids("contact=lucia") == [a]
    later = (clock.utc_now() + timedelta(days=2)).date().isoformat()
    assert await ids(f"from={later}") == [b]
    assert await ids(f"to={later}") == [a]
    assert await ids("queue=%25") == []  # LIKE wildcards are literal
    bad = await client.get("/callbacks?from=yesterday", headers=HTML)
    assert bad.status == 400 and "Enter the date as shown" in await bad.text()
    # Hand a callback over to the agent.
    agent_id = await _uid(client, "agent")
    assert (await _act(client, b, "assign", user_id=str(agent_id)))[1] == \
        "/callbacks?done=assign"
    moved = await callback_store.get(_db(client), b)
    assert moved is not None and moved.user_id == agent_id
    events = await callback_store.events(_db(client), b)
    assert events[-1].kind.value == "assigned" and events[-1].user_id == agent_id
    assert (await _act(client, a, "assign", user_id="99999"))[1] == "/callbacks?error=agent"
    log = await _page(client, "/callbacks?agent=all")
    assert "Log (2)" in log and "Handed over · Agent Smith</span> <span class=\"muted\">" \
        "Sue Pervisor</span>" in log


async def test_supervisor_creates_for_an_agent(client: Client) -> None:
    await login(client, "sup")
    status, _ = await _create(client, agent=str(await _uid(client, "agent")))
    assert status == 303
    found = await callback_store.search(_db(client), callback_store.Query())
    assert [cb.user_id for cb in found] == [await _uid(client, "agent")]
    status, page = await _create(client, agent="424242")
    assert status == 400 and "Choose an agent from the list." in page


async def test_new_from_a_contact_page(client: Client) -> None:
    lucia = await contacts.create_contact(_db(client), ContactDraft(
        kind=ContactKind.PERSON, name=HOSTILE,
        phones=(ContactPhone(PhoneLabel.MOBILE, NUMBER),)))
    await login(client, "agent")
    contact_page = await _page(client, f"/contacts/{lucia.id}")
    assert f'href="/callbacks/new?contact_id={lucia.id}"' in contact_page
    form = await _page(client, f"/callbacks/new?contact_id={lucia.id}")
    assert f'value="{NUMBER}"' in form and HOSTILE not in form
    await _page(client, "/callbacks/new?contact_id=999999", status=404)
    await _page(client, "/callbacks/new?contact_id=abc", status=404)
    token = csrf_in(form)
    resp = await client.post("/callbacks/new", headers=HTML, allow_redirects=False,
                             data=_form(token, contact_id=str(lucia.id), phone_0=NUMBER))
    assert resp.status == 303
    page = await _page(client, "/callbacks")
    assert f'href="/contacts/{lucia.id}"' in page and HOSTILE not in page


async def test_hostile_strings_are_escaped_everywhere(client: Client) -> None:
    cb = await _seed(client, "agent", reason=HOSTILE, queue="=cmd|' /C calc'!A0")
    await login(client, "agent")
    day = (await callback_store.get(_db(client), cb)).due_at.date()  # type: ignore[union-attr]
    for path in ("/callbacks", f"/calendar?view=week&date={day}",
                 f"/calendar?view=day&date={day}", f"/calendar?view=month&date={day}"):
        page = await _page(client, path)
        assert HOSTILE not in page, path
        assert f'data-callback="{cb}"' in page and "&lt;script&gt;" in page, path
    ics = await (await client.get(f"/calendar.ics?view=week&date={day}")).text()
    assert "<script>alert(\"x\")</script>" in ics.replace("\r\n ", "")  # text, escaped per RFC


async def test_calendar_views_and_navigation(client: Client) -> None:
    cb = await _seed(client, "agent", due_in=timedelta(hours=1))
    await login(client, "agent")
    due = (await callback_store.get(_db(client), cb)).due_at  # type: ignore[union-attr]
    day = due.date().isoformat()
    month = await _page(client, f"/calendar?view=month&date={day}")
    assert f'data-callback="{cb}"' in month and f'data-dial="{NUMBER}"' in month
    assert 'rel="prev"' in month and 'rel="next"' in month and 'aria-current="date"' in month
    assert '/history?number=%2B34911234567' in month
    week = await _page(client, f"/calendar?view=week&date={day}")
    assert week.count('class="cal-list-day') == 7 and f'data-callback="{cb}"' in week
    day_page = await _page(client, f"/calendar?view=day&date={day}")
    assert day_page.count('class="cal-list-day') == 1
    elsewhere = await _page(client, "/calendar?view=day&date=2001-01-01")
    assert f'data-callback="{cb}"' not in elsewhere
    spanish = await client.get(f"/calendar?view=month&date={day}",
                               headers={**HTML, "Accept-Language": "es"})
    assert "Agenda" in await spanish.text()
    for bad in ("view=year", "date=2026-13-01", "date=x"):
        assert (await client.get(f"/calendar?{bad}", headers=HTML)).status == 400


async def test_ics_export(client: Client) -> None:
    cb = await _seed(client, "agent", due_in=timedelta(hours=1), reason="a, b; c")
    await login(client, "agent")
    due = (await callback_store.get(_db(client), cb)).due_at  # type: ignore[union-attr]
    resp = await client.get(f"/calendar.ics?view=month&date={due.date().isoformat()}")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/calendar")
    body = await resp.text()
    unfolded = body.replace("\r\n ", "")
    assert unfolded.count("BEGIN:VEVENT") == 1
    host = resp.url.host
    assert f"UID:callback-{cb}@{host}" in unfolded
    assert f"DTSTART:{due.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}" in unfolded
    assert "a\\, b\\; c" in unfolded
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    again = await (await client.get(f"/calendar.ics?view=week&date={due.date()}")).text()
    assert f"UID:callback-{cb}@{host}" in again.replace("\r\n ", "")  # stable UID


async def test_ticket_actions_on_the_calendar_and_in_the_export(client: Client) -> None:
    lucia = await contacts.create_contact(_db(client), ContactDraft(
        kind=ContactKind.PERSON, name="Lucía Pérez",
        phones=(ContactPhone(PhoneLabel.MOBILE, NUMBER),)))
    agent = await users.get_by_username(_db(client), "agent")
    sup = await users.get_by_username(_db(client), "sup")
    assert agent is not None and sup is not None
    due = clock.utc_now() + timedelta(hours=1)
    ticket_id = await ticket_store.create_ticket(
        _db(client), TicketDraft(lucia.id, "Router <b>broken</b>"), agent,
        ActionDraft("Send a technician", due_at=due, agent_id=agent.id))
    await ticket_store.create_ticket(
        _db(client), TicketDraft(lucia.id, "Someone else's"), sup,
        ActionDraft("Not for the agent", due_at=due, agent_id=sup.id))
    await login(client, "agent")
    page = await _page(client, f"/calendar?view=day&date={due.date().isoformat()}")
    assert page.count("data-ticket-action=") == 1
    assert "Send a technician" in page and "Not for the agent" not in page
    assert "&lt;b&gt;broken&lt;/b&gt;" in page
    assert f'href="/tickets/{ticket_id}"' in page
    assert f'href="/tickets/new?contact_id={lucia.id}"' in page
    assert f'data-dial="{NUMBER}"' in page and f"/history?contact={lucia.id}" in page
    body = (await (await client.get(
        f"/calendar.ics?view=day&date={due.date().isoformat()}")).text()).replace("\r\n ", "")
    assert body.count("BEGIN:VEVENT") == 1 and "UID:ticket-action-" in body
    assert "SUMMARY:Ticket: Lucía Pérez · Router <b>broken</b> · Send a technician" in body


async def test_call_window_callback_wrap_up_lands_on_the_panel(client: Client) -> None:
    at = clock.utc_now() - timedelta(minutes=3)
    for call_id, remote in (("c1", "911 23 45 67"), ("c2", "anonymous")):
        await call_records.create(_db(client), call_id, await _uid(client, "agent"), "inbound",
                                  "1001", remote, "", at)
        await call_records.apply_event(_db(client), call_id, Answered(), at)
        await call_records.apply_event(_db(client), call_id,
                                       Ended(reason="hangup", side="remote"), at)
    await login(client, "agent")
    token = csrf_in(await _page(client, "/"))
    when = _local(clock.utc_now() + timedelta(days=1))
    for call_id in ("c1", "c1", "c2"):  # finishing twice makes one callback
        resp = await client.post(f"/api/calls/{call_id}/finish", json={
            "wrap_up": "callback", "callback_at": when}, headers={"X-CSRF-Token": token})
        assert resp.status == 200, await resp.text()
    found = await callback_store.search(_db(client), callback_store.Query())
    assert [(cb.phones, _local(cb.due_at), cb.user_id) for cb in found] == [
        ((NUMBER,), when, await _uid(client, "agent"))]
    assert [int(i) for i, _ in _rows(await _page(client, "/callbacks"))] == [found[0].id]


async def test_digits_of_other_scripts_are_not_ids(client: Client) -> None:
    # "²" and "٣" pass str.isdigit(); int() refuses the first: a 500 before the fix.
    await login(client, "sup")
    for odd in ("²", "٣", "1²"):
        page = await _page(client, f"/callbacks?agent={odd}", status=400)
        assert "Choose an agent from the list." in page
        await _page(client, f"/callbacks/new?contact_id={odd}", status=404)
        status, page = await _create(client, agent=odd)
        assert status == 400 and "Choose an agent from the list." in page
        await _page(client, f"/callbacks?agent=all&contact=%23{odd}")  # "#id" search
    assert await callback_store.search(_db(client), callback_store.Query()) == []


async def test_assigning_to_an_odd_agent_id_is_refused(client: Client) -> None:
    callback_id = await _seed(client, "agent")
    await login(client, "sup")
    token = csrf_in(await _page(client, "/callbacks?agent=all"))
    resp = await client.post(f"/callbacks/{callback_id}/action", headers=HTML,
                             allow_redirects=False,
                             data={"csrf_token": token, "action": "assign", "user_id": "²"})
    assert resp.status == 303 and "error=agent" in resp.headers["Location"]
    found = await callback_store.search(_db(client), callback_store.Query())
    assert [cb.user_id for cb in found] == [await _uid(client, "agent")]
