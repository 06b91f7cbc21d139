"""Missed-call rows a page at a time, newest first, with a keyset cursor and no row cap.

The rows are kept folded (crm/missed_row_store.py), so a page is one indexed query: the
rows ``where`` accepts, ordered by their last missed attempt and key, after the cursor.
Every function first makes sure the kept rows were folded with the deployment's numbering
and retention (``missed_row_store.ensure``: the first call after an upgrade or a settings
change folds everything once).

The cursor is the last row shown, ``(last_at, key)``: the next page is what sorts after
it. Pages never skip or repeat a row that did not change meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from crm import clock, missed_row_store
from crm.db import Database
from crm.missed_call_store import Numbering
from crm.missed_calls import MissedRow, RowFilter, Stats, View

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_SEP = "_"  # an ISO instant never contains one; a key may, so it goes last


@dataclass(frozen=True, order=True)
class Cursor:
    """Where a page ends: the last row's last missed attempt and key."""

    at: datetime
    key: str

    def token(self) -> str:
        return f"{clock.to_db(self.at)}{_SEP}{self.key}"

    @classmethod
    def parse(cls, token: str) -> Cursor | None:
        """The cursor a ``token`` stands for; None when it is not one."""
        at_text, sep, key = token.partition(_SEP)
        if not sep or len(token) > 200:
            return None
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError:
            return None
        if at.tzinfo is None:
            return None
        return cls(clock.from_db(clock.to_db(at)), key)


def position(row: MissedRow) -> Cursor:
    return Cursor(row.last_at, row.key)


@dataclass(frozen=True)
class Page:
    rows: list[MissedRow]
    next: Cursor | None     # None: this is the last page


def _page(chosen: list[MissedRow], limit: int) -> Page:
    rows = chosen[:limit]
    more = len(chosen) > limit
    return Page(rows, position(rows[-1]) if more and rows else None)


async def _ensure(db: Database, numbering: Numbering, retention_days: int) -> timedelta:
    await missed_row_store.ensure(db, numbering.region, numbering.area_code, retention_days)
    return timedelta(days=retention_days)


async def load_page(db: Database, numbering: Numbering, where: RowFilter, *,
                    before: Cursor | None, limit: int, now: datetime,
                    retention_days: int) -> Page:
    """One page of the rows ``where`` accepts (``where.since`` defaults to the retention
    period), newest first, after ``before``."""
    retention = await _ensure(db, numbering, retention_days)
    lower = where.since if where.since is not None else now - retention
    where = RowFilter(where.view, where.status, where.removal, lower, where.until)
    rows = await missed_row_store.page_rows(
        db, where, before=(before.at, before.key) if before is not None else None,
        limit=limit + 1, now=now, retention=retention)
    return _page(rows, limit)


async def count(db: Database, numbering: Numbering, view: View, *, now: datetime,
                retention_days: int) -> tuple[int, datetime | None]:
    """How many rows the active (or hidden) list holds, and the newest one's last missed
    attempt (the badge; the tabs)."""
    retention = await _ensure(db, numbering, retention_days)
    return await missed_row_store.listed_count(db, view, now=now, retention=retention)


async def hidden_count(db: Database, numbering: Numbering, *, now: datetime,
                       retention_days: int) -> int:
    """How many rows are hidden now (the view tab's count)."""
    return (await count(db, numbering, View.HIDDEN, now=now,
                        retention_days=retention_days))[0]


async def open_row_of(db: Database, numbering: Numbering, key: str, *, now: datetime,
                      retention_days: int) -> MissedRow | None:
    """The caller's row still listed (active or hidden), if any: what an action needs."""
    retention = await _ensure(db, numbering, retention_days)
    return await missed_row_store.open_row(db, key, now=now, retention=retention)


async def period_stats(db: Database, numbering: Numbering, *, since: datetime,
                       until: datetime, now: datetime, retention_days: int) -> Stats:
    """The statistics of the rows whose last missed attempt is in ``[since, until)``."""
    retention = await _ensure(db, numbering, retention_days)
    return await missed_row_store.stats(db, since=since, until=until, now=now,
                                        retention=retention)
