"""Missed-call rows a page at a time, newest first, with a keyset cursor and no row cap.

Folding every caller of the retention period to show fifty rows is what made the full
views slow (seconds at 100k calls). A page needs far less: a row's place in the list is
its last missed attempt (``MissedRow.last_at``), and that attempt starts with an
unanswered inbound leg, which the partial index ``call_records_inbound_unanswered``
returns newest first. So the page walks those legs back from the cursor in batches,
folds only the callers they name (each with its whole history, so their rows are exact),
and stops once it holds more than a page of rows it can vouch for:

* every row whose ``last_at`` lies inside the span walked so far has its last leg in
  that span, so its caller was folded: the rows in the span are complete;
* a row older than the span may belong to a caller not reached yet, so it waits.

Hidden rows are rare and may be far apart; a hidden row was hidden after its last missed
attempt, so its caller is among the keys of the hide actions since the period began, and
those keys are folded at once instead.

The cursor is the last row shown, ``(last_at, key)``: the next page is what sorts after
it. Pages never skip or repeat a row that did not change meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm import clock
from crm.db import Database
from crm.missed_call_store import Numbering, fold_keys
from crm.missed_calls import MissedRow, RowFilter, View

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_MAX_BATCH = 6400
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


def settled(rows: Iterable[MissedRow], where: RowFilter, before: Cursor | None,
            floor: datetime, exhausted: bool) -> list[MissedRow]:
    """The rows of ``rows`` that a page may show, newest first: accepted by ``where``,
    after the cursor, and complete given the walk went back to ``floor`` (inclusive
    when the walk reached the start of the period: nothing older is left to fold)."""
    chosen = []
    for row in rows:
        if not where.accepts(row):
            continue
        if before is not None and position(row) >= before:
            continue
        if row.last_at < floor or (row.last_at == floor and not exhausted):
            continue
        chosen.append(row)
    chosen.sort(key=position, reverse=True)
    return chosen


def _page(chosen: list[MissedRow], limit: int) -> Page:
    rows = chosen[:limit]
    more = len(chosen) > limit
    return Page(rows, position(rows[-1]) if more and rows else None)


async def load_page(db: Database, numbering: Numbering, where: RowFilter, *,
                    before: Cursor | None, limit: int, now: datetime,
                    retention_days: int) -> Page:
    """One page of the rows ``where`` accepts (``where.since`` defaults to the retention
    period), newest first, after ``before``."""
    retention = timedelta(days=retention_days)
    lower = where.since if where.since is not None else now - retention
    where = RowFilter(where.view, where.status, where.removal, lower, where.until)
    # Callers are folded with one retention period before the page's period, so a row
    # that began before it is counted and closed as in the full fold.
    history = lower - retention
    upper = now if where.until is None else min(now, where.until)
    if before is not None:
        upper = min(upper, before.at)
    if where.view is View.HIDDEN:
        hidden = await fold_keys(db, numbering, await hidden_keys(db, lower), set(),
                                 history, now, retention)
        return _page(settled(hidden, where, before, lower, True), limit)
    folded: set[str] = set()
    rows: list[MissedRow] = []
    batch = max(limit * 3, 100)
    top = clock.to_db(upper)
    while True:
        seeds = await db.fetchall(
            "SELECT remote_number, started_at FROM call_records"
            " WHERE direction = 'inbound' AND answered_at IS NULL"
            " AND started_at >= ? AND started_at <= ? ORDER BY started_at DESC LIMIT ?",
            (clock.to_db(lower), top, batch))
        exhausted = len(seeds) < batch
        raw = {row["remote_number"] for row in seeds}
        keys = {numbering.key(number) for number in raw} - folded
        if keys:
            rows.extend(await fold_keys(db, numbering, keys, raw, history, now, retention))
            folded |= keys
        floor = lower if exhausted else clock.from_db(seeds[-1]["started_at"])
        chosen = settled(rows, where, before, floor, exhausted)
        if exhausted or len(chosen) > limit:
            return _page(chosen, limit)
        # Views whose rows are sparse near the top (removed rows: recent ones are mostly
        # still listed) need to walk further: widen each step, so the number of steps
        # grows with the logarithm of the distance.
        if seeds[-1]["started_at"] == top:
            batch *= 2  # a whole batch at one instant: only a wider look gets past it
        else:
            batch = min(batch * 2, _MAX_BATCH)
        top = seeds[-1]["started_at"]


async def hidden_keys(db: Database, since: datetime) -> set[str]:
    """Callers someone hid a row of since ``since`` (every hidden row's caller is one)."""
    rows = await db.fetchall(
        "SELECT DISTINCT caller_key FROM missed_call_actions WHERE kind = 'hide' AND at >= ?",
        (clock.to_db(since),))
    return {row["caller_key"] for row in rows}


async def hidden_count(db: Database, numbering: Numbering, *, now: datetime,
                       retention_days: int) -> int:
    """How many rows are hidden now (the view tab's count)."""
    retention = timedelta(days=retention_days)
    lower = now - retention
    keys = await hidden_keys(db, lower)
    rows = await fold_keys(db, numbering, keys, set(), lower - retention, now, retention)
    return sum(1 for row in rows if row.view is View.HIDDEN)


async def open_row_of(db: Database, numbering: Numbering, key: str, *, now: datetime,
                      retention_days: int) -> MissedRow | None:
    """The caller's row still listed (active or hidden), if any: what an action needs,
    without folding anyone else."""
    retention = timedelta(days=retention_days)
    rows = await fold_keys(db, numbering, {key}, set(), now - 2 * retention, now, retention)
    return next((row for row in rows if row.closure is None), None)
