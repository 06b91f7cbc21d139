"""HTTP tests of the ticket pages: who may see and change what, CSRF, bad input changing
nothing, hostile text escaped, every edit in the log."""

from __future__ import annotations

import re

import pytest

from crm import contacts, ticket_store
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.tickets import ActionDraft, TicketDraft
from tests.support.web_client import (
    HOSTILE,
    HTML,
    Client,
    app_db,
    get_user,
    login,
    post_form,
)


async def _counts(client: Client) -> tuple[int, ...]:
    out = []
    for table in ("tickets", "ticket_actions", "ticket_log"):
        row = await app_db(client).fetchone(f"SELECT COUNT(*) AS n FROM {table}")
        assert row is not None
        out.append(int(row["n"]))
    out.append(hash(tuple(tuple(r.values()) for r in await app_db(client).fetchall(
        "SELECT * FROM tickets t LEFT JOIN ticket_actions a ON a.ticket_id = t.id"
        " ORDER BY t.id, a.id"))))
    return tuple(out)


async def _page(client: Client, path: str, status: int = 200) -> str:
    resp = await client.get(path, headers=HTML)
    text = await resp.text()
    assert resp.status == status, (path, text[:400])
    return text


@pytest.fixture
async def world(client: Client) -> dict[str, int]:
    """An agent's contact with a ticket, and someone else's ticket on another contact."""
    db = app_db(client)
    agent, sup = await get_user(client, "agent"), await get_user(client, "sup")
    acme = await contacts.create_contact(db, ContactDraft(kind=ContactKind.COMPANY,
                                                          name="Acme Ibérica"))
    mine = await contacts.create_contact(db, ContactDraft(
        kind=ContactKind.PERSON, name="Ana López", owner_id=agent.id, company_id=acme.id,
        phones=(ContactPhone(PhoneLabel.MOBILE, "+34612345678"),)))
    other = await contacts.create_contact(db, ContactDraft(kind=ContactKind.PERSON,
                                                           name="Otro Cliente"))
    own = await ticket_store.create_ticket(db, TicketDraft(mine.id, "Factura duplicada"),
                                           sup, ActionDraft("Llamar al cliente"))
    foreign = await ticket_store.create_ticket(db, TicketDraft(other.id, "Ajeno",
                                                               agent_id=sup.id), sup,
                                               ActionDraft("Revisar"))
    foreign_ticket = await ticket_store.get_ticket(db, foreign)
    own_ticket = await ticket_store.get_ticket(db, own)
    assert foreign_ticket is not None and own_ticket is not None
    return {"mine": mine.id, "other": other.id, "acme": acme.id, "own": own,
            "foreign": foreign, "foreign_action": foreign_ticket.actions[0].id,
            "own_action": own_ticket.actions[0].id, "sup": sup.id, "agent": agent.id}


def _ticket_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-ticket-id="(\d+)"', html)]


async def test_pages_need_login(client: Client, world: dict[str, int]) -> None:
    for path in ("/tickets", f"/tickets/new?contact_id={world['mine']}",
                 f"/tickets/{world['own']}"):
        resp = await client.get(path, headers=HTML, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/login"), path


async def test_role_matrix(client: Client, world: dict[str, int]) -> None:
    """Agents: their own tickets and their contacts'; 404 for the rest, reading or
    writing. Supervisors and admins: everything."""
    own, foreign = world["own"], world["foreign"]
    writes = {
        f"/tickets/{foreign}": {"subject": "hijack", "description": "", "priority": "low",
                                "agent_id": "", "group": ""},
        f"/tickets/{foreign}/actions": {"action_description": "x", "action_due": "",
                                        "action_agent": ""},
        f"/tickets/{foreign}/actions/{world['foreign_action']}": {"event": "complete"},
    }
    await login(client, "agent")
    assert _ticket_ids(await _page(client, "/tickets")) == [own]
    await _page(client, f"/tickets/{own}")
    await _page(client, f"/tickets/{foreign}", 404)
    # Naming the other agent in the filter does not show their tickets.
    assert _ticket_ids(await _page(client, f"/tickets?agent={world['sup']}")) == []
    before = await _counts(client)
    for path, data in writes.items():
        status, _, _ = await post_form(client, path, data)
        assert status == 404, path
    assert await _counts(client) == before
    # ...but an agent may open a ticket for any contact, and then sees it (assigned).
    await _page(client, f"/tickets/new?contact_id={world['other']}")
    status, _, location = await post_form(client, "/tickets/new", {
        "contact_id": str(world["other"]), "subject": "Nuevo", "description": "",
        "priority": "normal", "agent_id": str(world["agent"]), "group": "",
        "action_description": "", "action_due": "", "action_agent": ""})
    assert status == 303 and re.fullmatch(r"/tickets/\d+\?done=created", location)
    assert len(_ticket_ids(await _page(client, "/tickets"))) == 2
    for boss in ("sup", "root"):
        await login(client, boss)
        assert len(_ticket_ids(await _page(client, "/tickets"))) == 3
        await _page(client, f"/tickets/{foreign}")
        status, _, location = await post_form(client, f"/tickets/{foreign}/actions", {
            "action_description": f"by {boss}", "action_due": "", "action_agent": ""})
        assert status == 303, boss


async def test_writes_need_the_csrf_token(client: Client, world: dict[str, int]) -> None:
    await login(client, "root")
    before = await _counts(client)
    own = world["own"]
    for path, data in (
        ("/tickets/new", {"contact_id": str(world["mine"]), "subject": "x",
                          "priority": "normal"}),
        (f"/tickets/{own}", {"subject": "changed", "priority": "low"}),
        (f"/tickets/{own}/actions", {"action_description": "x"}),
        (f"/tickets/{own}/actions/{world['own_action']}", {"event": "complete"}),
    ):
        status, _, _ = await post_form(client, path, data, token=False)
        assert status == 403, path
    assert await _counts(client) == before


async def test_bad_input_is_refused_in_the_users_language(client: Client,
                                                          world: dict[str, int]) -> None:
    await login(client, "agent")
    own = world["own"]
    before = await _counts(client)
    form = {"contact_id": str(world["mine"]), "subject": "", "description": "",
            "priority": "critical", "agent_id": "12x", "group": "g" * 61,
            "action_description": "", "action_due": "mañana", "action_agent": ""}
    status, html, _ = await post_form(client, "/tickets/new", form,
                                       headers={**HTML, "Accept-Language": "es"})
    assert status == 400
    for message in ("Escribe un asunto.", "Elige una prioridad de la lista.",
                    "Elige un agente de la lista.", "como máximo 60 caracteres",
                    "«mañana» no es una fecha y hora", "Describe la acción."):
        assert message in html, message
    status, html, _ = await post_form(client, "/tickets/new", {**form, "contact_id": "999"})
    assert status == 404
    status, html, _ = await post_form(client, f"/tickets/{own}", {
        "subject": "ok", "description": "", "priority": "normal", "agent_id": "99999",
        "group": ""})
    assert status == 400 and "Choose an agent from the list." in html
    status, html, _ = await post_form(client, f"/tickets/{own}/actions", {
        "action_description": "x" * 1001, "action_due": "", "action_agent": ""})
    assert status == 400 and "at most 1000 characters" in html
    status, html, _ = await post_form(client, f"/tickets/{own}/actions/{world['own_action']}",
                                  {"event": "explode"})
    assert status == 400 and "That change to an action is not possible." in html
    status, html, _ = await post_form(client, f"/tickets/{own}/actions/{world['foreign_action']}",
                                  {"event": "complete"})
    assert status == 404
    assert await _counts(client) == before
    # A list filter it cannot read lists nothing and says why.
    html = await _page(client, "/tickets?state=closed&from=ayer", 400)
    assert _ticket_ids(html) == [] and "Choose a state from the list." in html


async def test_every_edit_is_logged(client: Client, world: dict[str, int]) -> None:
    await login(client, "agent")
    own = world["own"]
    status, _, location = await post_form(client, f"/tickets/{own}", {
        "subject": "Factura duplicada (marzo)", "description": "Dos cargos",
        "priority": "urgent", "agent_id": str(world["agent"]), "group": " Facturación "})
    assert status == 303 and location == f"/tickets/{own}?done=saved"
    status, _, location = await post_form(client, f"/tickets/{own}", {
        "subject": "Factura duplicada (marzo)", "description": "Dos cargos",
        "priority": "urgent", "agent_id": str(world["agent"]), "group": "Facturación"})
    assert location == f"/tickets/{own}?done=unchanged"
    status, _, _ = await post_form(client, f"/tickets/{own}/actions", {
        "action_description": "Enviar abono", "action_due": "2026-03-12T10:00",
        "action_agent": str(world["agent"])})
    assert status == 303
    status, _, _ = await post_form(client, f"/tickets/{own}/actions/{world['own_action']}",
                               {"event": "complete"})
    assert status == 303
    log = await ticket_store.ticket_log(app_db(client), own)
    agent_entries = [(e.field, e.old, e.new) for e in log if e.user_name == "Agent Smith"]
    assert agent_entries == [
        ("subject", "Factura duplicada", "Factura duplicada (marzo)"),
        ("description", "", "Dos cargos"),
        ("priority", "normal", "urgent"),
        ("agent", "", "Agent Smith"),
        ("group", "", "Facturación"),
        ("action.added", "", "Enviar abono"),
        ("action.due", "", "2026-03-12T10:00:00.000+00:00"),
        ("action.agent", "", "Agent Smith"),
        ("action.state", "pending", "done"),
    ]
    page = await _page(client, f"/tickets/{own}")
    assert "Factura duplicada (marzo)" in page and "Urgent" in page
    assert page.count('data-action-state="done"') == 1
    assert page.count('data-action-state="pending"') == 1
    # The log on the page: who, what, old and new.
    assert "<del>Normal</del>" in page and "<ins>Urgent</ins>" in page
    assert "Agent Smith" in page and "Action state" in page
    # The number on the page can be dialled.
    assert 'data-dial="+34612345678"' in page


async def test_state_and_colours_in_the_list(client: Client, world: dict[str, int]) -> None:
    await login(client, "root")
    html = await _page(client, "/tickets")
    assert f'class="tk-row-open" data-ticket-id="{world["own"]}"' in html
    assert "Pending: 1" in html
    await post_form(client, f"/tickets/{world['own']}/actions/{world['own_action']}",
                {"event": "complete"})
    html = await _page(client, "/tickets?state=done")
    assert _ticket_ids(html) == [world["own"]]
    assert 'class="tk-row-done"' in html
    assert re.search(r'tk-done"><span class="tk-icon" aria-hidden="true">✓</span> Done<', html)
    assert _ticket_ids(await _page(client, "/tickets?state=open")) == [world["foreign"]]
    assert _ticket_ids(await _page(client, f"/tickets?company={world['acme']}")) == [
        world["own"]]
    assert _ticket_ids(await _page(client, f"/tickets?contact={world['other']}")) == [
        world["foreign"]]
    assert _ticket_ids(await _page(client, "/tickets?priority=urgent")) == []
    # A contact by name or by number as typed in Spain.
    assert _ticket_ids(await _page(client, "/tickets?q=ana+lopez")) == [world["own"]]
    assert _ticket_ids(await _page(client, "/tickets?q=612+34+56+78")) == [world["own"]]
    assert _ticket_ids(await _page(client, "/tickets?from=2000-01-01&to=2999-12-31")) == [
        world["foreign"], world["own"]]


async def test_hostile_strings_are_escaped(client: Client, world: dict[str, int]) -> None:
    db = app_db(client)
    evil = await contacts.create_contact(db, ContactDraft(kind=ContactKind.PERSON,
                                                          name=HOSTILE))
    await login(client, "root")
    status, _, location = await post_form(client, "/tickets/new", {
        "contact_id": str(evil.id), "subject": HOSTILE, "description": HOSTILE,
        "priority": "high", "agent_id": "", "group": HOSTILE[:60],
        "action_description": "=cmd|' /C calc'!A0 " + HOSTILE, "action_due": "",
        "action_agent": ""})
    assert status == 303
    ticket_path = location.split("?")[0]
    status, bad, _ = await post_form(client, ticket_path, {
        "subject": HOSTILE + "\x00", "description": "", "priority": "low", "agent_id": "",
        "group": ""})
    assert status == 400
    for html in (await _page(client, "/tickets"), await _page(client, ticket_path),
                 await _page(client, f"/tickets/new?contact_id={evil.id}"),
                 await _page(client, f"/tickets?contact={evil.id}"),
                 await _page(client, "/tickets?q=%3Cscript%3Ealert(1)%3C/script%3E"), bad):
        assert HOSTILE not in html
        assert "&lt;script&gt;" in html


async def test_contact_page_links_to_its_tickets(client: Client,
                                                 world: dict[str, int]) -> None:
    await login(client, "agent")
    html = await _page(client, f"/contacts/{world['mine']}")
    assert f'href="/tickets/new?contact_id={world["mine"]}"' in html
    assert f'href="/tickets?contact={world["mine"]}"' in html
    assert 'href="/tickets"' in html  # the top bar
    await _page(client, "/tickets/new?contact_id=999", 404)
    await _page(client, "/tickets/new", 404)
