"""crm.missed_call_pages against SQLite: walking every page of a view, cursor to cursor,
gives exactly the rows the full fold selects for that view, in the same order, with no
row skipped or repeated, whatever the page size (random call histories, ties in time)."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

import pytest

from crm import call_records, clock, missed_call_pages, missed_call_store, users
from crm.call_flow import Answered, Ended
from crm.db import Database
from crm.missed_call_pages import Cursor
from crm.missed_calls import ActionKind, MissedRow, RowFilter, View, select
from tests.support.gateway import FAST_HASHING

NUMBERS = ("911234567", "+34911234567", "612000001", "+34612000002", "0034612000003",
           "anonymous", "612000004", "612000005", "612000006", "612000007", "1002")
RETENTION = 30


async def _history(db: Database, rng: random.Random, now: datetime, calls: int) -> None:
    agent = await users.create_user(db, f"a{rng.random()}", "password 123",
                                    hashing=FAST_HASHING)
    # A few instants shared by many calls, so page ends fall between equal times.
    shared = [now - timedelta(seconds=rng.randrange(50 * 86_400)) for _ in range(5)]
    for _ in range(calls):
        if rng.random() < 0.2:
            start = rng.choice(shared)
        else:
            start = now - timedelta(seconds=rng.randrange(50 * 86_400))
        call_id = str(uuid.uuid4())
        inbound = rng.random() < 0.8
        await call_records.create(db, call_id, agent.id, "inbound" if inbound else "outbound",
                                  "1001", rng.choice(NUMBERS), "", start)
        if rng.random() < 0.3:
            await call_records.apply_event(db, call_id, Answered(), start + timedelta(seconds=5))
        await call_records.apply_event(db, call_id, Ended(reason="hangup", side="remote"),
                                       start + timedelta(seconds=30))
    numbering = missed_call_store.Numbering("ES")
    for _ in range(25):
        await missed_call_store.add_action(
            db, numbering.key(rng.choice(NUMBERS)), rng.choice(list(ActionKind)), agent.id,
            now - timedelta(seconds=rng.randrange(35 * 86_400)))
    # Hidden rows are found another way: make sure there are some.
    listed = await missed_call_store.load_open_rows(db, numbering, now=now,
                                                    retention_days=RETENTION)
    for row in listed[:2]:
        await missed_call_store.add_action(db, row.key, ActionKind.HIDE, agent.id,
                                           now - timedelta(seconds=1))


async def _walk(db: Database, where: RowFilter, limit: int, now: datetime) -> list[MissedRow]:
    numbering = missed_call_store.Numbering("ES")
    seen: list[MissedRow] = []
    before: Cursor | None = None
    for _ in range(1000):
        page = await missed_call_pages.load_page(db, numbering, where, before=before,
                                                 limit=limit, now=now,
                                                 retention_days=RETENTION)
        assert len(page.rows) <= limit
        seen.extend(page.rows)
        if page.next is None:
            return seen
        assert page.rows, "a page that promises more must show something"
        # The cursor survives a trip through the URL.
        before = Cursor.parse(page.next.token())
    raise AssertionError("pages never ended")


def _ids(rows: list[MissedRow]) -> list[tuple[object, ...]]:
    return [(r.key, r.last_at, r.count, r.view, r.closure, len(r.timeline)) for r in rows]


@pytest.mark.parametrize("seed", range(2))
async def test_pages_walk_the_whole_view_as_the_full_fold_lists_it(db: Database,
                                                                   seed: int) -> None:
    rng = random.Random(seed)
    now = clock.utc_now()
    await _history(db, rng, now, 160)
    numbering = missed_call_store.Numbering("ES")
    lower = now - timedelta(days=RETENTION)
    period_from = now - timedelta(days=12)
    cases = [RowFilter(view) for view in View]
    cases.append(RowFilter(View.ALL, since=period_from, until=now - timedelta(days=2)))
    for where in cases:
        since = where.since or lower
        # The full fold with one retention period of history before the period, as the
        # pages fold each caller.
        reference = await missed_call_store.load_rows(
            db, numbering, since=since - timedelta(days=RETENTION), now=now,
            retention_days=RETENTION)
        reference.sort(key=lambda r: (r.last_at, r.key), reverse=True)
        expected = select(reference, RowFilter(where.view, since=since, until=where.until))
        for limit in (2, 50):
            got = await _walk(db, where, limit, now)
            assert _ids(got) == _ids(expected), (where, limit)
        assert expected, where


async def test_an_action_finds_the_callers_open_row_alone(db: Database) -> None:
    rng = random.Random(11)
    now = clock.utc_now()
    await _history(db, rng, now, 150)
    numbering = missed_call_store.Numbering("ES")
    full = await missed_call_store.load_open_rows(db, numbering, now=now,
                                                  retention_days=RETENTION)
    assert full
    for row in full:
        found = await missed_call_pages.open_row_of(db, numbering, row.key, now=now,
                                                    retention_days=RETENTION)
        assert found is not None and (found.key, found.last_at, found.view) == (
            row.key, row.last_at, row.view)
    assert await missed_call_pages.open_row_of(db, numbering, "+48000000000", now=now,
                                               retention_days=RETENTION) is None
    hidden = await missed_call_pages.hidden_count(db, numbering, now=now,
                                                  retention_days=RETENTION)
    assert hidden == sum(1 for row in full if row.view is View.HIDDEN)


@pytest.mark.parametrize("token", ["", "x", "2026-01-01", "2026-01-01T00:00:00_+34",
                                   "nonsense_+34", "2026-13-01T00:00:00+00:00_k"])
def test_a_cursor_from_the_url_is_checked(token: str) -> None:
    assert Cursor.parse(token) is None


def test_a_cursor_keeps_a_key_with_the_separator() -> None:
    cursor = Cursor(clock.from_db("2026-01-01T10:00:00.000+00:00"), "odd_key_1")
    assert Cursor.parse(cursor.token()) == cursor
