"""The kept missed-call rows are read by index: every view, filter and cursor of a page,
the badge's and the hidden tab's counts, a caller's open row and the statistics
(EXPLAIN QUERY PLAN on a real SQLite file)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm import missed_row_store
from crm.db import Database
from crm.missed_calls import LastStatus, Removal, RowFilter, View

NOW = datetime(2026, 3, 4, 12, tzinfo=UTC)
MONTH = timedelta(days=30)


async def _plan(db: Database, sql: str, params: list[object] | tuple[object, ...]) -> list[str]:
    return [str(row["detail"]) for row in await db.fetchall("EXPLAIN QUERY PLAN " + sql,
                                                            params)]


async def test_every_page_is_a_range_of_an_index(db: Database) -> None:
    for view, extra, deep in itertools.product(View, ("", "status", "removal", "period"),
                                               (False, True)):
        where = RowFilter(
            view, status=LastStatus.NO_ATTEMPT if extra == "status" else None,
            removal=Removal.AUTOMATIC if extra == "removal" else None,
            since=NOW - (timedelta(days=7) if extra == "period" else MONTH),
            until=NOW - timedelta(days=1) if extra == "period" else None)
        before = (NOW - timedelta(days=2), "+34600000001") if deep else None
        sql, params = missed_row_store.page_query(where, before=before, limit=51, now=NOW,
                                                  retention=MONTH)
        plan = await _plan(db, sql, params)
        case = (view, extra, deep, plan)
        assert len(plan) == 1 and plan[0].startswith("SEARCH missed_rows USING INDEX"), case
        index = {View.ACTIVE: "missed_rows_listed", View.HIDDEN: "missed_rows_hidden"}.get(
            view, "missed_rows_last")
        assert index + " " in plan[0] + " ", case
        if deep:
            # The cursor is the range: a deep page does not walk down from the newest row.
            assert "(last_at,caller_key)<(?,?)" in plan[0], case


async def test_counts_open_rows_and_statistics_are_indexed(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    for view, index in ((View.ACTIVE, "missed_rows_listed"),
                        (View.HIDDEN, "missed_rows_hidden")):
        sql = ("SELECT COUNT(*) AS n, MAX(last_at) AS latest FROM missed_rows WHERE closure"
               f" IS NULL AND hidden = {int(view is View.HIDDEN)} AND last_at >= ?")
        assert index in (await _plan(db, sql, ("2026",)))[0]
    # The same statements the store runs, caught on their way to the database.
    seen: list[str] = []
    fetchall, fetchone = db.fetchall, db.fetchone

    async def all_traced(sql: str, params: Any = ()) -> list[Any]:
        seen.append(sql)
        return await fetchall(sql, params)

    async def one_traced(sql: str, params: Any = ()) -> Any:
        seen.append(sql)
        return await fetchone(sql, params)

    monkeypatch.setattr(db, "fetchall", all_traced)
    monkeypatch.setattr(db, "fetchone", one_traced)
    await missed_row_store.listed_count(db, View.HIDDEN, now=NOW, retention=MONTH)
    await missed_row_store.open_row(db, "+34600000001", now=NOW, retention=MONTH)
    await missed_row_store.stats(db, since=NOW - MONTH, until=NOW, now=NOW, retention=MONTH)
    monkeypatch.undo()
    plans = [await _plan(db, sql, ["x"] * sql.count("?")) for sql in seen]
    assert "missed_rows_hidden" in plans[0][0]
    assert "missed_rows_key_first" in plans[1][0]
    assert "missed_rows_last (last_at>? AND last_at<?)" in plans[2][0], plans[2]
    assert not any(line.startswith("SCAN") for plan in plans for line in plan), plans
