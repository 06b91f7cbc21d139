"""The contact list's queries read what SQLite's query plans say they read.

Every filter and combination, in both orders, both directions, driven by a few ids or
walking an index: ``EXPLAIN QUERY PLAN`` on the SQL ``crm.contact_search.page_queries``
writes must show an indexed read bounded by the page, so a plan that falls back to
reading the whole table, sorting a walk, or reading rows the name index should answer
fails here (the figures at a million contacts are bench/contacts.py's).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm import contact_search, contacts
from crm.contact_activity import ActivitySpan
from crm.contact_search import ContactFilter, ListOrder
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database, open_database

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WEEK = ActivitySpan(since=NOW - timedelta(days=7))
NEVER = ActivitySpan(never=True)
# One of each filter, and the combinations an agent builds from them.
FILTERS = {
    "company": ContactFilter(company_id=1),
    "tag": ContactFilter(tag="VIP"),
    "list": ContactFilter(list="Marzo"),
    "owner": ContactFilter(owner_id=1),
    "last call 7 days": ContactFilter(activity=WEEK),
    "never called": ContactFilter(activity=NEVER),
    "date range": ContactFilter(activity=ActivitySpan(since=NOW - timedelta(days=300),
                                                      until=NOW)),
    "disposition": ContactFilter(disposition_id=1),
    "list + disposition + 7 days": ContactFilter(list="Marzo", disposition_id=1,
                                                 activity=WEEK),
    "tag + never called": ContactFilter(tag="VIP", activity=NEVER),
    "owner + company + disposition": ContactFilter(owner_id=1, company_id=1,
                                                   disposition_id=1),
    "tag + owner": ContactFilter(tag="VIP", owner_id=1),
    "word": ContactFilter(query="garcia"),
    "short prefix": ContactFilter(query="ma"),
    "number": ContactFilter(query="612 34 56 78"),
    "word + list + disposition": ContactFilter(query="garcia", list="Marzo",
                                               disposition_id=1),
    "word + 7 days": ContactFilter(query="garcia", activity=WEEK),
}


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    company = await contacts.create_contact(database, ContactDraft(
        kind=ContactKind.COMPANY, name="Acme"))
    for i in range(12):
        await contacts.create_contact(database, ContactDraft(
            kind=ContactKind.PERSON, name=f"María García {i}", company_id=company.id,
            phones=(ContactPhone(PhoneLabel.MOBILE, f"+3461234{i:04d}"),),
            tags=("VIP",) if i % 3 else (), lists=("Marzo",) if i % 2 else ()))
    yield database
    await database.close()


async def _plan(db: Database, sql: str, params: list[object]) -> list[str]:
    return [str(row["detail"]) for row in await db.fetchall("EXPLAIN QUERY PLAN " + sql,
                                                            params)]


async def test_every_page_query_is_an_indexed_read(db: Database) -> None:
    for label, where in FILTERS.items():
        await _check_pages(db, label, where)


async def _check_pages(db: Database, label: str, where_: ContactFilter) -> None:
    found = contact_search.conditions(where_, "ES", "")
    searching = bool(where_.query)
    for order, driver, (key, backward) in itertools.product(
            ListOrder, (None, *range(len(found))), ((None, False), ("x", True))):
        cursor_key: tuple[object, ...] | None = None
        if key is not None:
            cursor_key = ("m", 5) if order is ListOrder.NAME else (5,)
        via = contact_search.choose_walk(found, order, [contact_search.NARROW + 1] * len(found))
        sql, params, bounded = contact_search.page_queries(
            found, order, cursor_key, backward, 26, driver, via)
        plan = await _plan(db, sql, params)
        where = f"{label}, {order.value}, driver {driver}, backward {backward}: {plan}"
        assert bounded == (driver is None), where
        if bounded:
            # A walk of the order's index from the cursor, its rows handed on in order
            # (never collected and sorted), at most WALK_ROWS of them.
            assert "LIMIT ?) c" in sql and contact_search.WALK_ROWS in params
            assert plan[0] == "CO-ROUTINE c", where
            assert not any("TEMP B-TREE" in line for line in plan), where
            walk = plan[1]
            if via is not None:
                # Along the filter's own index, in the list's order.
                own = {"c.owner_id = ?": "contacts_owner_name (owner_id=?",
                       "c.last_disposition_id = ?":
                           "contacts_last_disposition (last_disposition_id=?"}
                assert own[found[via].check] in walk, where
            elif order is ListOrder.NAME:
                # Filters on the contact itself answered from the index, no row read;
                # a search's words need the row.
                index = "INDEX contacts_name" if searching else "COVERING INDEX contacts_name"
                assert index in walk, where
            else:
                assert walk in ("SCAN c", "SEARCH c USING INTEGER PRIMARY KEY (rowid>?)",
                                "SEARCH c USING INTEGER PRIMARY KEY (rowid<?)"), where
        else:
            # A few ids, looked up (never a scan of the contacts) and then sorted.
            assert any("LIST SUBQUERY" in line or "INDEX 1" in line for line in plan), where
            assert not any(line in ("SCAN c", "SCAN contacts") for line in plan), where
        # Tags and lists are probes of their primary keys, never a scan of them.
        assert not any(line.startswith(("SCAN x", "SCAN contact_tags", "SCAN contact_lists"))
                       for line in plan), where
        assert not any(line.startswith("SCAN contact_fts") and "INDEX 0:M" not in line
                       for line in plan), where


def test_a_walk_goes_along_the_narrowest_filter_index_for_its_order() -> None:
    found = contact_search.conditions(ContactFilter(
        query="garcia", owner_id=1, disposition_id=2, tag="VIP"), "ES", "")
    # Search, tag, owner, disposition; owner: (owner_id, name_key, id), disposition:
    # (last_disposition_id, id).
    assert contact_search.choose_walk(found, ListOrder.NAME, [9, 9, 9, 9]) == 2
    assert contact_search.choose_walk(found, ListOrder.NEWEST, [9, 9, 9, 9]) == 3
    owner_only = contact_search.conditions(ContactFilter(owner_id=1), "ES", "")
    assert contact_search.choose_walk(owner_only, ListOrder.NEWEST, [9]) is None
    assert contact_search.choose_walk([], ListOrder.NAME, []) is None


async def test_each_count_is_an_index_range(db: Database) -> None:
    """Choosing the driver counts each condition's ids up to NARROW + 1: an index."""
    for label, where in FILTERS.items():
        for condition in contact_search.conditions(where, "ES", ""):
            assert condition.ids is not None
            plan = await _plan(db, f"SELECT COUNT(*) FROM ({condition.ids} LIMIT ?)",
                               [*condition.ids_params, 1])
            assert not any(line in ("SCAN c", "SCAN contacts") for line in plan), (label, plan)
            assert any("INDEX" in line or "VIRTUAL TABLE" in line for line in plan), (
                label, plan)


async def test_a_dear_count_is_left_out_when_it_decides_nothing(db: Database) -> None:
    """Counting a search's trigram matches is the dear part of a page: skipped when a
    filter already drives (6 in "Marzo") or the list already goes newest first."""
    both = contact_search.conditions(ContactFilter(query="garcia", list="Marzo"), "ES", "")
    assert both[0].dear_count and not both[1].dear_count
    assert await contact_search._sizes(db, both) == [None, 6]
    lone = contact_search.conditions(ContactFilter(query="garcia"), "ES", "")
    assert await contact_search._sizes(db, lone) == [12]
    assert await contact_search._sizes(db, lone, ListOrder.NEWEST) == [None]
    assert await contact_search._sizes(db, lone, ListOrder.NAME) == [12]
    # A typed number is cheap to count: always counted.
    number = contact_search.conditions(ContactFilter(query="612 34 00 01"), "ES", "")
    assert not number[0].dear_count
    assert await contact_search._sizes(db, number, ListOrder.NEWEST) == [1]
