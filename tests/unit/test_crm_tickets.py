"""crm.tickets (the rules) and crm.ticket_store (tickets in SQLite)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from hypothesis import given
from hypothesis import strategies as st

from crm import contacts, ticket_store, tickets, users
from crm.contacts import ContactDraft, ContactKind
from crm.db import Database, open_database
from crm.errors import InvalidValue, NotFound
from crm.passwords import PasswordHashing
from crm.tickets import (
    ACTION_TRANSITIONS,
    ActionDraft,
    ActionEvent,
    ActionState,
    Priority,
    TicketDraft,
    TicketFilter,
    TicketState,
    Viewer,
)
from crm.users import Role, User

FAST = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
P, D, C = ActionState.PENDING, ActionState.DONE, ActionState.CANCELLED
AT = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


# -- Pure rules --------------------------------------------------------------------------

@pytest.mark.parametrize(("states", "expected"), [
    ([], TicketState.OPEN),
    ([P], TicketState.OPEN),
    ([D, P], TicketState.OPEN),
    ([C, P, D], TicketState.OPEN),
    ([D], TicketState.DONE),
    ([D, C], TicketState.DONE),
    ([C], TicketState.CANCELLED),
    ([C, C], TicketState.CANCELLED),
])
def test_state_is_derived_from_actions(states: list[ActionState],
                                       expected: TicketState) -> None:
    assert tickets.derive_state(states) is expected


@given(st.lists(st.sampled_from(list(ActionState)), max_size=8))
def test_derived_state_is_open_exactly_while_something_is_pending(
        states: list[ActionState]) -> None:
    derived = tickets.derive_state(states)
    assert (derived is TicketState.OPEN) == (not states or P in states)
    assert tickets.derive_state(reversed(states)) is derived  # order does not matter


def test_transition_table() -> None:
    assert tickets.next_action_state(P, ActionEvent.COMPLETE) is D
    assert tickets.next_action_state(P, ActionEvent.CANCEL) is C
    assert tickets.next_action_state(D, ActionEvent.REOPEN) is P
    assert tickets.next_action_state(C, ActionEvent.REOPEN) is P
    for state, event in itertools.product(ActionState, ActionEvent):
        if (state, event) in ACTION_TRANSITIONS:
            continue
        with pytest.raises(InvalidValue) as err:
            tickets.next_action_state(state, event)
        assert err.value.key == "tickets.error.transition"
    assert tickets.events_from(P) == [ActionEvent.COMPLETE, ActionEvent.CANCEL]
    assert tickets.events_from(D) == [ActionEvent.REOPEN]


@pytest.mark.parametrize(("check", "value", "key"), [
    (tickets.clean_subject, "   ", "tickets.error.empty_subject"),
    (tickets.clean_subject, "x" * 201, "tickets.error.bad_subject"),
    (tickets.clean_subject, "a\x00b", "tickets.error.bad_subject"),
    (tickets.clean_description, "y" * 5001, "tickets.error.bad_description"),
    (tickets.clean_description, "bell\x07", "tickets.error.bad_description"),
    (tickets.clean_group, "g" * 61, "tickets.error.bad_group"),
    (tickets.parse_priority, "critical", "tickets.error.bad_priority"),
    (tickets.parse_event, "explode", "tickets.error.bad_event"),
    (tickets.parse_user_id, "1 OR 1=1", "tickets.error.bad_agent"),
    (tickets.clean_action, "", "tickets.error.empty_action"),
    (tickets.clean_action, "z" * 1001, "tickets.error.bad_action"),
])
def test_validation_has_clear_keys(check: object, value: str, key: str) -> None:
    with pytest.raises(InvalidValue) as err:
        check(value)  # type: ignore[operator]
    assert err.value.key == key


def test_cleaning_keeps_what_is_acceptable() -> None:
    assert tickets.clean_subject("  Factura  duplicada ") == "Factura  duplicada"
    assert tickets.clean_description("línea 1\r\nlínea 2\n") == "línea 1\nlínea 2"
    assert tickets.clean_group("  Soporte    técnico ") == "Soporte técnico"
    assert tickets.clean_group("") == ""
    assert tickets.parse_priority(" urgent") is Priority.URGENT
    assert tickets.parse_user_id("") is None
    assert tickets.parse_user_id("42") == 42


def test_due_is_read_in_the_deployment_zone() -> None:
    madrid_winter = timezone(timedelta(hours=1))
    assert tickets.parse_due("2026-03-01T09:30", madrid_winter) == datetime(
        2026, 3, 1, 8, 30, tzinfo=UTC)
    assert tickets.parse_due("", UTC) is None
    with pytest.raises(InvalidValue) as err:
        tickets.parse_due("mañana", UTC)
    assert err.value.key == "tickets.error.bad_due"
    assert err.value.params["value"] == "mañana"


def test_diff_gives_one_entry_per_changed_field() -> None:
    before = TicketDraft(1, "Old", "d", Priority.NORMAL, 3, "Billing")
    after = replace(before, subject="New", priority=Priority.HIGH)
    entries = tickets.diff_fields(tickets.shown_values(before, "Ana"),
                                  tickets.shown_values(after, "Bea"), 7, AT)
    assert [(e.field, e.old, e.new, e.user_id, e.at) for e in entries] == [
        ("subject", "Old", "New", 7, AT),
        ("priority", "normal", "high", 7, AT),
        ("agent", "Ana", "Bea", 7, AT),
    ]
    same = tickets.shown_values(before, "Ana")
    assert tickets.diff_fields(same, same, 7, AT) == []


def test_who_may_see_a_ticket() -> None:
    agent, boss = Viewer(5, Role.AGENT), Viewer(9, Role.SUPERVISOR)
    assert agent.may_see(5, None)
    assert agent.may_see(None, 5)
    assert agent.may_see(1, 2, [None, 5])
    assert not agent.may_see(1, 2, [3])
    assert not agent.may_see(None, None)
    assert boss.may_see(None, None)
    assert Viewer(1, Role.ADMIN).may_see(2, 3)


def test_read_filter_reports_every_bad_field() -> None:
    reading = tickets.read_filter({"state": "closed", "from": "yesterday",
                                   "priority": "x", "agent": "<script>",
                                   "company": "7", "to": "2026-03-10"}, UTC)
    assert set(reading.errors) == {"state", "from", "priority", "agent"}
    assert reading.filter.company_id == 7
    assert reading.filter.until == datetime(2026, 3, 11, tzinfo=UTC)
    good = tickets.read_filter({"state": "done", "priority": "low"}, UTC)
    assert good.errors == {}
    assert good.filter == TicketFilter(state=TicketState.DONE, priority=Priority.LOW)


# -- Storage -----------------------------------------------------------------------------

@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


async def _user(db: Database, name: str, role: str = "agent") -> User:
    return await users.create_user(db, name, "password 123", role=role,
                                   display_name=name.title(), hashing=FAST)


async def _contact(db: Database, name: str, owner: User | None = None,
                   company_id: int | None = None) -> int:
    contact = await contacts.create_contact(db, ContactDraft(
        kind=ContactKind.PERSON, name=name, owner_id=owner.id if owner else None,
        company_id=company_id))
    return contact.id


async def _log_count(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) AS n FROM ticket_log")
    assert row is not None
    return int(row["n"])


async def test_create_update_and_log(db: Database) -> None:
    ana, bea = await _user(db, "ana"), await _user(db, "bea")
    contact_id = await _contact(db, "Cliente")
    ticket_id = await ticket_store.create_ticket(
        db, TicketDraft(contact_id, " Factura ", "", Priority.HIGH, ana.id, " Facturación "),
        ana, ActionDraft("Llamar", AT, bea.id))
    ticket = await ticket_store.get_ticket(db, ticket_id)
    assert ticket is not None
    assert (ticket.subject, ticket.group, ticket.agent_name) == ("Factura", "Facturación", "Ana")
    assert ticket.state is TicketState.OPEN
    assert [(a.description, a.state, a.due_at, a.agent_name) for a in ticket.actions] == [
        ("Llamar", P, AT, "Bea")]
    log = await ticket_store.ticket_log(db, ticket_id)
    assert [e.field for e in log] == ["created", "subject", "priority", "agent", "group",
                                      "action.added", "action.due", "action.agent"]
    assert all(e.user_name == "Ana" and e.user_id == ana.id for e in log)

    changed = await ticket_store.update_ticket(
        db, ticket_id, replace(ticket.draft(), priority=Priority.LOW, agent_id=bea.id), bea)
    assert [(e.field, e.old, e.new) for e in changed] == [("priority", "high", "low"),
                                                          ("agent", "Ana", "Bea")]
    log = await ticket_store.ticket_log(db, ticket_id)
    assert [(e.field, e.user_name) for e in log[-2:]] == [("priority", "Bea"), ("agent", "Bea")]
    # Saving the same values logs nothing.
    again = await ticket_store.get_ticket(db, ticket_id)
    assert again is not None
    assert await ticket_store.update_ticket(db, ticket_id, again.draft(), bea) == []


async def test_bad_values_change_nothing(db: Database) -> None:
    ana = await _user(db, "ana")
    contact_id = await _contact(db, "Cliente")
    ticket_id = await ticket_store.create_ticket(db, TicketDraft(contact_id, "S"), ana)
    before = await ticket_store.get_ticket(db, ticket_id)
    logged = await _log_count(db)
    with pytest.raises(InvalidValue):
        await ticket_store.update_ticket(db, ticket_id, TicketDraft(contact_id, "S",
                                                                    agent_id=999), ana)
    with pytest.raises(InvalidValue):
        await ticket_store.create_ticket(db, TicketDraft(999, "S"), ana)
    with pytest.raises(InvalidValue):  # the ticket is valid, its first action is not
        await ticket_store.create_ticket(db, TicketDraft(contact_id, "S"), ana,
                                         ActionDraft("x", None, 999))
    with pytest.raises(InvalidValue):
        await ticket_store.add_action(db, ticket_id, ActionDraft(" "), ana)
    with pytest.raises(NotFound):
        await ticket_store.add_action(db, 999, ActionDraft("x"), ana)
    assert await ticket_store.get_ticket(db, ticket_id) == before
    assert await _log_count(db) == logged
    row = await db.fetchone("SELECT COUNT(*) AS n FROM tickets")
    assert row is not None and row["n"] == 1


async def test_action_transitions_are_logged_and_checked(db: Database) -> None:
    ana = await _user(db, "ana")
    ticket_id = await ticket_store.create_ticket(
        db, TicketDraft(await _contact(db, "C"), "S"), ana, ActionDraft("Llamar"))
    ticket = await ticket_store.get_ticket(db, ticket_id)
    assert ticket is not None
    action_id = ticket.actions[0].id
    assert await ticket_store.change_action(db, ticket_id, action_id, ActionEvent.COMPLETE,
                                            ana) is D
    ticket = await ticket_store.get_ticket(db, ticket_id)
    assert ticket is not None and ticket.state is TicketState.DONE
    logged = await _log_count(db)
    with pytest.raises(InvalidValue) as err:
        await ticket_store.change_action(db, ticket_id, action_id, ActionEvent.CANCEL, ana)
    assert err.value.key == "tickets.error.transition"
    assert await _log_count(db) == logged
    with pytest.raises(NotFound):  # an action of another ticket is not this ticket's
        await ticket_store.change_action(db, ticket_id + 1, action_id, ActionEvent.REOPEN,
                                         ana)
    last = (await ticket_store.ticket_log(db, ticket_id))[-1]
    assert (last.field, last.old, last.new, last.action_id) == ("action.state", "pending",
                                                                "done", action_id)


async def test_sql_state_filter_agrees_with_derive_state(db: Database) -> None:
    """Every combination of up to three action states: the list's state filter puts the
    ticket where crm.tickets.derive_state says it is."""
    ana = await _user(db, "ana", "admin")
    contact_id = await _contact(db, "C")
    expected: dict[int, TicketState] = {}
    events = {P: None, D: ActionEvent.COMPLETE, C: ActionEvent.CANCEL}
    for size in range(4):
        for combo in itertools.product(ActionState, repeat=size):
            ticket_id = await ticket_store.create_ticket(db, TicketDraft(contact_id, "S"), ana)
            for state in combo:
                action_id = await ticket_store.add_action(db, ticket_id, ActionDraft("a"), ana)
                event = events[state]
                if event is not None:
                    await ticket_store.change_action(db, ticket_id, action_id, event, ana)
            expected[ticket_id] = tickets.derive_state(combo)
    viewer = Viewer.of(ana)
    for derived in TicketState:
        page = await ticket_store.search(db, TicketFilter(state=derived), viewer,
                                         per_page=100)
        assert {r.id for r in page.rows} == {i for i, s in expected.items() if s is derived}
        assert all(r.state is derived for r in page.rows)


async def test_search_filters_and_authorization(db: Database) -> None:
    ana, bea, sup = await _user(db, "ana"), await _user(db, "bea"), await _user(
        db, "sup", "supervisor")
    acme = await contacts.create_contact(db, ContactDraft(kind=ContactKind.COMPANY,
                                                          name="Acme"))
    owned = await _contact(db, "Owned by Ana", owner=ana, company_id=acme.id)
    other = await _contact(db, "Otro Señor")
    t1 = await ticket_store.create_ticket(db, TicketDraft(owned, "one", agent_id=bea.id), bea)
    t2 = await ticket_store.create_ticket(db, TicketDraft(other, "two", agent_id=ana.id,
                                                          priority=Priority.URGENT), bea)
    t3 = await ticket_store.create_ticket(db, TicketDraft(other, "three"), bea,
                                          ActionDraft("for ana", AT, ana.id))
    t4 = await ticket_store.create_ticket(db, TicketDraft(acme.id, "four"), bea)

    async def ids(where: TicketFilter, who: User) -> list[int]:
        page = await ticket_store.search(db, where, Viewer.of(who))
        return [r.id for r in page.rows]

    assert await ids(TicketFilter(), ana) == [t3, t2, t1]
    assert await ids(TicketFilter(), bea) == [t1]
    assert await ids(TicketFilter(), sup) == [t4, t3, t2, t1]
    # A filter naming someone else never widens an agent's view.
    assert await ids(TicketFilter(agent_id=bea.id), ana) == [t1]
    assert await ids(TicketFilter(company_id=acme.id), sup) == [t4, t1]
    assert await ids(TicketFilter(priority=Priority.URGENT), sup) == [t2]
    assert await ids(TicketFilter(contact_id=other), sup) == [t3, t2]
    now = datetime.now(UTC)
    assert await ids(TicketFilter(since=now + timedelta(hours=1)), sup) == []
    assert await ids(TicketFilter(until=now + timedelta(hours=1)), sup) == [t4, t3, t2, t1]
    # The contact typed as in the contacts list: a name (any case or accent) or a number.
    assert await ids(TicketFilter(contact_query="OWNED by"), sup) == [t1]
    assert await ids(TicketFilter(contact_query="acme"), sup) == [t4, t1]
    assert await ids(TicketFilter(contact_query="nobody at all"), sup) == []
    assert await ids(TicketFilter(contact_query="otro"), ana) == [t3, t2]
    paged = await ticket_store.search(db, TicketFilter(), Viewer.of(sup), per_page=3)
    assert paged.has_next and len(paged.rows) == 3
    second = await ticket_store.search(db, TicketFilter(), Viewer.of(sup), page=2,
                                       per_page=3)
    assert [r.id for r in second.rows] == [t1] and not second.has_next


async def test_actions_between_for_the_calendar(db: Database) -> None:
    ana, bea = await _user(db, "ana"), await _user(db, "bea")
    contact_id = await _contact(db, "Cliente")
    ticket_id = await ticket_store.create_ticket(db, TicketDraft(contact_id, "S"), ana)
    early = await ticket_store.add_action(db, ticket_id, ActionDraft("early", AT, ana.id), ana)
    late = await ticket_store.add_action(
        db, ticket_id, ActionDraft("late", AT + timedelta(hours=3), bea.id), ana)
    await ticket_store.add_action(db, ticket_id, ActionDraft("undated", None, ana.id), ana)
    await ticket_store.add_action(db, ticket_id,
                                  ActionDraft("next day", AT + timedelta(days=1)), ana)
    await ticket_store.change_action(db, ticket_id, late, ActionEvent.COMPLETE, ana)
    day = await ticket_store.actions_between(db, AT, AT + timedelta(days=1), None)
    assert [(a.action_id, a.state, a.agent_name, a.contact_name, a.subject) for a in day] == [
        (early, P, "Ana", "Cliente", "S"), (late, D, "Bea", "Cliente", "S")]
    assert [a.action_id for a in await ticket_store.actions_between(
        db, AT, AT + timedelta(days=1), bea.id)] == [late]
    # The end is exclusive.
    assert await ticket_store.actions_between(db, AT - timedelta(hours=1), AT, None) == []


@pytest.mark.parametrize(("where", "index"), [
    (TicketFilter(), "tickets_created"),
    (TicketFilter(contact_id=1), "tickets_contact_created"),
    (TicketFilter(agent_id=1), "tickets_agent_created"),
    (TicketFilter(priority=Priority.HIGH), "tickets_priority_created"),
    (TicketFilter(state=TicketState.OPEN), "tickets_created"),
])
async def test_list_reads_an_index_in_order(db: Database, where: TicketFilter,
                                            index: str) -> None:
    """The list's common searches walk an index newest first and stop at a page: no
    sort of every matching ticket."""
    sql, params = ticket_store.build_query(where, Viewer(1, Role.ADMIN), limit=26, offset=0)
    plan = " | ".join(r["detail"] for r in await db.fetchall("EXPLAIN QUERY PLAN " + sql,
                                                               params))
    assert f"INDEX {index}" in plan and "TEMP B-TREE" not in plan, plan
