"""crm.contact_activity: a contact's latest call and disposition, kept on the contact, and
the contact list's "last call" and "disposition" filters over them."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiosqlite
import pytest

from crm import (
    call_records,
    call_work,
    clock,
    contact_activity,
    contact_search,
    contacts,
    disposition_catalog,
    migrate,
    users,
)
from crm.contact_activity import ActivitySpan, Recency
from crm.contact_search import ContactFilter
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database, open_database
from crm.dispositions import Kind, Scenario, Submission
from crm.errors import InvalidValue
from tests.unit.test_crm_contacts import FAST

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MADRID = ZoneInfo("Europe/Madrid")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


def test_recency_choices_and_ranges() -> None:
    week = contact_activity.read_activity("7d", "", "", NOW, MADRID)
    assert week == ActivitySpan(since=NOW - timedelta(days=7))
    assert contact_activity.read_activity("never", "", "", NOW, MADRID) == ActivitySpan(
        never=True)
    assert contact_activity.read_activity("", " ", "", NOW, MADRID) is None
    # Dates are the deployment's days; the end date is included.
    span = contact_activity.read_activity("", "2026-03-01", "2026-03-31", NOW, MADRID)
    assert span == ActivitySpan(since=datetime(2026, 2, 28, 23, 0, tzinfo=UTC),
                                until=datetime(2026, 3, 31, 22, 0, tzinfo=UTC))
    # A choice and dates together: both hold.
    both = contact_activity.read_activity("30d", "2026-11-20", "", NOW, MADRID)
    assert both is not None and both.since == datetime(2026, 11, 19, 23, 0, tzinfo=UTC)
    assert [r.value for r in Recency] == ["7d", "30d", "90d", "never"]


@pytest.mark.parametrize(("recency", "start", "end", "key"), [
    ("8d", "", "", "contacts.error.bad_activity"),
    ("<script>alert(1)</script>", "", "", "contacts.error.bad_activity"),
    ("", "2026-13-01", "", "history.error.bad_date"),
    ("", "'; DROP TABLE contacts; --", "", "history.error.bad_date"),
    ("", "2026-03-02", "2026-03-01", "history.error.range"),
    ("never", "2026-03-01", "", "contacts.error.never_with_dates"),
])
def test_bad_filter_values_are_refused(recency: str, start: str, end: str,
                                       key: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        contact_activity.read_activity(recency, start, end, NOW, MADRID)
    assert caught.value.key == key


async def _person(db: Database, name: str, number: str) -> contacts.Contact:
    return await contacts.create_contact(db, ContactDraft(
        kind=ContactKind.PERSON, name=name, phones=(ContactPhone(PhoneLabel.MOBILE, number),)))


async def _facts(db: Database, contact_id: int) -> tuple[str | None, int | None]:
    row = await db.fetchone("SELECT last_activity_at, last_disposition_id FROM contacts"
                            " WHERE id = ?", (contact_id,))
    assert row is not None
    return row["last_activity_at"], row["last_disposition_id"]


async def _disposition(db: Database, name: str) -> int:
    category = await disposition_catalog.create_category(db, f"cat {name}", Kind.SUCCESS)
    return await disposition_catalog.create_disposition(db, name, category, None,
                                                        frozenset(Scenario))


async def test_calls_and_dispositions_keep_the_facts(db: Database) -> None:
    agent = await users.create_user(db, "agent", "agent password 1", hashing=FAST)
    ana = await _person(db, "Ana", "+34612345678")
    bea = await _person(db, "Bea", "+34612345679")
    sale = await _disposition(db, "Venta")
    later = await _disposition(db, "Volver a llamar")
    old, new = NOW - timedelta(days=40), NOW - timedelta(days=2)
    # A call the gateway records without numbering: linked (and counted) later.
    await call_records.create(db, "c1", agent.id, "inbound", "1001", "612345678", "", old)
    assert await _facts(db, ana.id) == (None, None)
    await call_records.link_pending(db, "ES")
    assert await _facts(db, ana.id) == (clock.to_db(old), None)
    await call_work.start(db, "c1", agent.id, ana.id, old)
    await call_work.finish(db, "c1", Submission(disposition_id=later), old)
    # A newer call, linked at once; its disposition is saved after an older one's.
    await call_records.create(db, "c2", agent.id, "outbound", "1001", "612 34 56 78", "",
                              new, region="ES")
    await call_work.start(db, "c2", agent.id, None, new)
    await call_work.finish(db, "c2", Submission(disposition_id=sale), new)
    await call_work.finish(db, "c1", Submission(disposition_id=later), old)
    assert await _facts(db, ana.id) == (clock.to_db(new), sale)
    # The agent files the newer call under Bea: it moves, facts and all.
    await call_work.set_contact(db, "c2", bea.id)
    assert await _facts(db, ana.id) == (clock.to_db(old), later)
    assert await _facts(db, bea.id) == (clock.to_db(new), sale)

    # The list's filters, every strategy giving the same answer.
    async def names(where: ContactFilter) -> list[str]:
        found: list[str] = []
        cursor, order = None, None
        while True:
            page = await contact_search.list_contacts(db, where, cursor=cursor, order=order)
            found.extend(c.name for c in page.contacts)
            if page.next_after is None:
                return found
            # A walk that stopped short says where to keep looking.
            cursor, order = contact_search.Cursor(page.next_after), page.order

    week = ActivitySpan(since=NOW - timedelta(days=7))
    walk_was, narrow_was = contact_search.WALK_ROWS, contact_search.NARROW
    for walk, narrow in ((walk_was, narrow_was), (walk_was, -1), (1, -1)):
        contact_search.WALK_ROWS, contact_search.NARROW = walk, narrow
        try:
            assert await names(ContactFilter(activity=week)) == ["Bea"]
            assert await names(ContactFilter(activity=ActivitySpan(
                until=NOW - timedelta(days=7)))) == ["Ana"]
            assert await names(ContactFilter(activity=ActivitySpan(never=True))) == []
            assert await names(ContactFilter(disposition_id=later)) == ["Ana"]
            assert await names(ContactFilter(disposition_id=sale, query="bea")) == ["Bea"]
            assert await names(ContactFilter(disposition_id=sale, activity=ActivitySpan(
                never=True))) == []
        finally:
            contact_search.WALK_ROWS, contact_search.NARROW = walk_was, narrow_was
    carla = await _person(db, "Carla", "+34600000000")
    assert await names(ContactFilter(activity=ActivitySpan(never=True))) == [carla.name]


async def test_filters_use_their_indexes(db: Database) -> None:
    for condition in contact_search.conditions(
            ContactFilter(activity=ActivitySpan(since=NOW), disposition_id=3), "ES", ""):
        assert condition.ids is not None
        plan = await db.fetchall("EXPLAIN QUERY PLAN " + condition.ids, condition.ids_params)
        assert any("contacts_last_" in str(row["detail"]) for row in plan), plan


async def test_the_migration_backfills_from_the_calls(tmp_path: Path) -> None:
    every = migrate.load_migrations()
    path = tmp_path / "old.sqlite3"
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    db = Database(conn, path)
    try:
        await db.execute("PRAGMA foreign_keys = ON")
        await migrate.apply_migrations(db, every[:14])
        agent = await users.create_user(db, "agent", "agent password 1", hashing=FAST)
        ana = await _person(db, "Ana", "+34612345678")
        bea = await _person(db, "Bea", "+34612345679")
        # Written as the schema of then holds it (today's catalogue code needs later
        # migrations' columns).
        await db.execute("INSERT INTO disposition_categories (name, name_key, kind,"
                         " created_at) VALUES ('Éxito', 'exito', 'success', '2026-01-01')")
        await db.execute("INSERT INTO dispositions (category_id, name, name_key, created_at)"
                         " SELECT MAX(id), 'Venta', 'venta', '2026-01-01'"
                         " FROM disposition_categories")
        found = await db.fetchone("SELECT MAX(id) AS id FROM dispositions")
        assert found is not None
        sale = int(found["id"])
        stamps = [clock.to_db(NOW - timedelta(days=d)) for d in (9, 5, 1)]
        for call_id, contact_id, stamp in zip(("a", "b", "c"), (ana.id, ana.id, bea.id),
                                              stamps, strict=True):
            await db.execute(
                "INSERT INTO call_records (id, user_id, direction, local_number,"
                " remote_number, remote_name, state, started_at, created_at, updated_at,"
                " remote_e164, contact_id) VALUES (?, ?, 'inbound', '1001', '6', '',"
                " 'ended', ?, ?, ?, '', ?)", (call_id, agent.id, stamp, stamp, stamp,
                                               contact_id))
        # Call "a" got a disposition; "c" was filed under Ana by the agent.
        await db.execute("INSERT INTO call_work (call_id, user_id, contact_id,"
                         " disposition_id, created_at, updated_at) VALUES"
                         " ('a', ?, NULL, ?, ?, ?), ('c', ?, ?, NULL, ?, ?)",
                         (agent.id, sale, stamps[0], stamps[0], agent.id, ana.id,
                          stamps[2], stamps[2]))
        await migrate.apply_migrations(db, every)
        assert await _facts(db, ana.id) == (stamps[2], sale)
        assert await _facts(db, bea.id) == (None, None)
    finally:
        await db.close()
