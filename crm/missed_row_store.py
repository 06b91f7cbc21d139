"""Folded missed-call rows in the database (table ``missed_rows``, migration 0019): kept up
to date in the same transaction as each call record and action, and read by index.

Writers call ``note_call`` (crm/call_records.py: a record created, answered or ended) and
``note_action`` (crm/missed_call_store.py: hide, restore, remove, SMS); each refolds the
caller concerned from where crm/missed_rows.py says it may. Readers first call ``ensure``:
the rows are (re)built from every call record and action when they were never built (a
database from before 0019: the backfill) or were folded with another numbering or
retention than the deployment's now. Then the badge's count, each view's page, a caller's
open row and the statistics are single indexed queries; the clock's part (a row whose
retention ran out) is applied in SQL by comparing ``last_at`` with ``now - retention``,
and in Python by ``missed_rows.as_of``, which agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm import clock
from crm.db import Database, Row, Transaction
from crm.missed_calls import (
    ATTEMPT_GAP,
    Action,
    ActionKind,
    Closure,
    LastStatus,
    Leg,
    MissedRow,
    Removal,
    RowFilter,
    Stats,
    View,
    caller_key,
)
from crm.missed_rows import (
    actions_from,
    as_of,
    closed_before,
    fold_kept,
    legs_from,
    refold_limit,
    timeline_of,
    timeline_text,
)

Queries = Database | Transaction

_LEG_COLUMNS = ("id, user_id, direction, remote_number, remote_name, started_at,"
                " answered_at, ended_at, outcome")
_ACTION_COLUMNS = "caller_key, kind, user_id, at, sms_result, gateway_status"
_ROW_COLUMNS = ("caller_key, number, name, first_at, last_at, count, hidden, closure,"
                " closed_at, closed_by, last_status, last_call_id, timeline")
_CHUNK = 400
_KEYS_PER_BATCH = 2000
# No call lasts longer: a leg that could span an instant started at most this long before.
LONGEST_CALL = timedelta(days=1)


@dataclass(frozen=True)
class Basis:
    """What the kept rows were folded with."""

    region: str
    area_code: str
    retention_days: int

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)

    def key(self, raw: str) -> str:
        return caller_key(raw, self.region, self.area_code)


def _chunks(values: Iterable[str]) -> list[list[str]]:
    items = sorted(values)
    return [items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


def _leg(row: Row) -> Leg:
    return Leg(row["id"], int(row["user_id"]), row["direction"], row["remote_number"],
               row["remote_name"], clock.from_db(row["started_at"]),
               clock.from_db_optional(row["answered_at"]),
               clock.from_db_optional(row["ended_at"]), row["outcome"])


def _action(row: Row) -> Action:
    return Action(row["caller_key"], ActionKind(row["kind"]), row["user_id"],
                  clock.from_db(row["at"]), row["sms_result"], row["gateway_status"])


def _row(row: Row) -> MissedRow:
    return MissedRow(
        key=row["caller_key"], number=row["number"], name=row["name"],
        first_at=clock.from_db(row["first_at"]), last_at=clock.from_db(row["last_at"]),
        count=int(row["count"]), hidden=bool(row["hidden"]),
        closure=Closure(row["closure"]) if row["closure"] else None,
        closed_at=clock.from_db_optional(row["closed_at"]), closed_by=row["closed_by"],
        timeline=timeline_of(row["timeline"]), last_call_id=row["last_call_id"])


def _values(row: MissedRow) -> tuple[object, ...]:
    return (row.key, row.number, row.name, clock.to_db(row.first_at),
            clock.to_db(row.last_at), row.count, int(row.hidden),
            row.closure.value if row.closure else None,
            clock.to_db(row.closed_at) if row.closed_at else None, row.closed_by,
            row.last_status.value, row.last_call_id, timeline_text(row.timeline))


async def _insert_many(tx: Transaction, table: str, columns: str,
                       values: Sequence[tuple[object, ...]]) -> None:
    """Insert ``values`` a few dozen rows per statement: a backfill writes tens of
    thousands, and each statement is a trip to the database thread."""
    if not values:
        return
    width = len(values[0])
    per_statement = max(1, _CHUNK // width)
    for start in range(0, len(values), per_statement):
        part = values[start:start + per_statement]
        marks = ", ".join("(" + _marks(row) + ")" for row in part)
        await tx.execute(f"INSERT INTO {table} ({columns}) VALUES {marks}",
                         [value for row in part for value in row])


async def _insert(tx: Transaction, rows: Iterable[MissedRow]) -> None:
    await _insert_many(tx, "missed_rows", _ROW_COLUMNS, [_values(row) for row in rows])


async def basis(q: Queries) -> Basis | None:
    found = await q.fetchone(
        "SELECT region, area_code, retention_days FROM missed_fold_basis WHERE id = 1")
    if found is None:
        return None
    return Basis(found["region"], found["area_code"], int(found["retention_days"]))


# -- writers -------------------------------------------------------------------------------

async def _legs_of(tx: Transaction, numbers: Iterable[str],
                   since: datetime | None) -> list[Leg]:
    legs: list[Leg] = []
    for chunk in _chunks(numbers):
        if since is None:
            rows = await tx.fetchall(
                f"SELECT {_LEG_COLUMNS} FROM call_records"
                f" WHERE remote_number IN ({_marks(chunk)})", chunk)
        else:
            # Callbacks answered after ``since`` started at most RING_LIMIT before it.
            rows = await tx.fetchall(
                f"SELECT {_LEG_COLUMNS} FROM call_records"
                f" WHERE remote_number IN ({_marks(chunk)}) AND started_at >= ?",
                (*chunk, clock.to_db(refold_limit(since))))
        legs.extend(_leg(row) for row in rows)
    return legs


async def _spanned(tx: Transaction, numbers: Sequence[str], at: datetime) -> bool:
    """Whether an inbound leg that started before ``at`` (within a day) was still going
    within ATTEMPT_GAP of it: a group of legs may span ``at``."""
    for chunk in _chunks(numbers):
        if await tx.fetchone(
                f"SELECT 1 FROM call_records WHERE remote_number IN ({_marks(chunk)})"
                " AND started_at >= ? AND started_at < ? AND direction = 'inbound'"
                " AND (ended_at IS NULL OR ended_at >= ?) LIMIT 1",
                (*chunk, clock.to_db(at - LONGEST_CALL), clock.to_db(at),
                 clock.to_db(at - ATTEMPT_GAP))):
            return True
    return False


async def _since(tx: Transaction, kept: Basis, key: str, numbers: Sequence[str],
                 t_min: datetime) -> datetime | None:
    """Where a change from ``t_min`` on must refold the caller from (None: everything);
    crm/missed_rows.py says why each choice is safe."""
    limit = refold_limit(t_min)
    found = await tx.fetchone(
        f"SELECT {_ROW_COLUMNS} FROM missed_rows WHERE caller_key = ? AND first_at < ?"
        " ORDER BY first_at DESC LIMIT 1", (key, clock.to_db(limit)))
    latest = _row(found) if found is not None else None
    if closed_before(latest, limit, kept.retention) and not await _spanned(tx, numbers,
                                                                            limit):
        return limit
    return latest.first_at if latest is not None else None


async def refold(tx: Transaction, kept: Basis, key: str, t_min: datetime) -> None:
    """Refold the caller ``key`` after a change that brings no event before ``t_min``."""
    numbers = [row["remote_number"] for row in await tx.fetchall(
        "SELECT remote_number FROM missed_numbers WHERE caller_key = ?", (key,))]
    since = await _since(tx, kept, key, numbers, t_min)
    legs = legs_from(await _legs_of(tx, numbers, since), since)
    if since is None:
        action_rows = await tx.fetchall(
            f"SELECT {_ACTION_COLUMNS} FROM missed_call_actions WHERE caller_key = ?"
            " ORDER BY id", (key,))
    else:
        action_rows = await tx.fetchall(
            f"SELECT {_ACTION_COLUMNS} FROM missed_call_actions WHERE caller_key = ?"
            " AND at >= ? ORDER BY id", (key, clock.to_db(since)))
    actions = actions_from((_action(row) for row in action_rows), since)
    rows = fold_kept(key, legs, actions, kept.retention)
    if since is None:
        await tx.execute("DELETE FROM missed_rows WHERE caller_key = ?", (key,))
    else:
        await tx.execute("DELETE FROM missed_rows WHERE caller_key = ? AND first_at >= ?",
                         (key, clock.to_db(since)))
    await _insert(tx, rows)


async def note_call(tx: Transaction, remote_number: str, started_at: datetime) -> None:
    """A call record of ``remote_number`` that started at ``started_at`` was written."""
    kept = await basis(tx)
    if kept is None:
        return  # not built yet: the first reader folds everything
    key = kept.key(remote_number)
    await tx.execute(
        "INSERT INTO missed_numbers (remote_number, caller_key) VALUES (?, ?)"
        " ON CONFLICT (remote_number) DO NOTHING", (remote_number, key))
    await refold(tx, kept, key, started_at)


async def note_action(tx: Transaction, key: str, at: datetime) -> None:
    """An action on the caller ``key`` was recorded at ``at``."""
    kept = await basis(tx)
    if kept is not None:
        await refold(tx, kept, key, at)


async def rebuild(db: Database, region: str, area_code: str, retention_days: int) -> bool:
    """Fold every caller afresh with this numbering and retention, unless that is what
    the kept rows already are (another request got here first). True if it folded."""
    async with db.transaction() as tx:
        wanted = Basis(region, area_code, retention_days)
        if await basis(tx) == wanted:
            return False
        await tx.execute("DELETE FROM missed_rows")
        await tx.execute("DELETE FROM missed_numbers")
        keys_of: dict[str, list[str]] = {}
        for row in await tx.fetchall("SELECT DISTINCT remote_number FROM call_records"):
            raw = row["remote_number"]
            keys_of.setdefault(wanted.key(raw), []).append(raw)
        await _insert_many(tx, "missed_numbers", "remote_number, caller_key",
                           [(raw, key) for key, raws in keys_of.items() for raw in raws])
        # Only callers someone missed a call from can have rows.
        missed = {wanted.key(row["remote_number"]) for row in await tx.fetchall(
            "SELECT DISTINCT remote_number FROM call_records"
            " WHERE direction = 'inbound' AND answered_at IS NULL")}
        actions: dict[str, list[Action]] = {}
        for row in await tx.fetchall(
                f"SELECT {_ACTION_COLUMNS} FROM missed_call_actions ORDER BY id"):
            actions.setdefault(row["caller_key"], []).append(_action(row))
        keys = sorted(missed)
        for start in range(0, len(keys), _KEYS_PER_BATCH):
            batch = keys[start:start + _KEYS_PER_BATCH]
            legs: dict[str, list[Leg]] = {}
            for leg in await _legs_of(tx, (raw for key in batch for raw in keys_of[key]),
                                      None):
                legs.setdefault(wanted.key(leg.remote_number), []).append(leg)
            await _insert(tx, [row for key in batch for row in fold_kept(
                key, legs.get(key, []), actions.get(key, ()), wanted.retention)])
        await tx.execute(
            "INSERT INTO missed_fold_basis (id, region, area_code, retention_days, built_at)"
            " VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET region = excluded.region,"
            " area_code = excluded.area_code, retention_days = excluded.retention_days,"
            " built_at = excluded.built_at",
            (region, area_code, retention_days, clock.to_db(clock.utc_now())))
        return True


async def ensure(db: Database, region: str, area_code: str, retention_days: int) -> Basis:
    """The basis the kept rows have, after (re)building them if it is not this one."""
    wanted = Basis(region, area_code, retention_days)
    if await basis(db) != wanted:
        await rebuild(db, region, area_code, retention_days)
    return wanted


# -- readers -------------------------------------------------------------------------------

def _line(now: datetime, retention: timedelta) -> str:
    """Rows whose last missed attempt is before this have run out of retention by now."""
    return clock.to_db(now - retention)


def _view_sql(view: View, line: str) -> tuple[str, tuple[object, ...]]:
    if view is View.ACTIVE:
        return " AND closure IS NULL AND hidden = 0 AND last_at >= ?", (line,)
    if view is View.HIDDEN:
        return " AND closure IS NULL AND hidden = 1 AND last_at >= ?", (line,)
    if view is View.REMOVED:
        return " AND (closure IS NOT NULL OR last_at < ?)", (line,)
    return "", ()


def _removal_sql(removal: Removal, line: str) -> tuple[str, tuple[object, ...]]:
    if removal is Removal.LISTED:
        return " AND closure IS NULL AND last_at >= ?", (line,)
    if removal is Removal.USER:
        return " AND closure = 'removed'", ()
    return (" AND (closure IN ('got_through', 'reached', 'expired')"
            " OR (closure IS NULL AND last_at < ?))", (line,))


def _exact(now: datetime) -> datetime:
    # Stored instants have milliseconds: compare at the same precision in SQL and Python.
    return clock.from_db(clock.to_db(now))


def page_query(where: RowFilter, *, before: tuple[datetime, str] | None, limit: int,
               now: datetime, retention: timedelta) -> tuple[str, list[object]]:
    """The SQL (and parameters) of ``page_rows``: each view, filter and cursor is a range
    of one of the last_at indexes (tests/unit/test_crm_missed_row_store.py reads the
    plans)."""
    line = _line(_exact(now), retention)
    sql = f"SELECT {_ROW_COLUMNS} FROM missed_rows WHERE 1 = 1"
    params: list[object] = []
    view_sql, view_params = _view_sql(where.view, line)
    sql += view_sql
    params.extend(view_params)
    if where.status is not None:
        sql += " AND last_status = ?"
        params.append(where.status.value)
    if where.removal is not None:
        removal_sql, removal_params = _removal_sql(where.removal, line)
        sql += removal_sql
        params.extend(removal_params)
    if where.since is not None:
        sql += " AND last_at >= ?"
        params.append(clock.to_db(where.since))
    if where.until is not None and (before is None or before[0] >= where.until):
        # (A cursor before ``until`` bounds the walk more tightly: it alone, so the
        # planner takes it as the range.)
        sql += " AND last_at < ?"
        params.append(clock.to_db(where.until))
    if before is not None:
        # A row value: a range of (last_at, caller_key), so a page deep in the list
        # starts where it is instead of walking down from the newest row.
        sql += " AND (last_at, caller_key) < (?, ?)"
        params.extend((clock.to_db(before[0]), before[1]))
    sql += " ORDER BY last_at DESC, caller_key DESC LIMIT ?"
    params.append(limit)
    return sql, params


async def page_rows(db: Database, where: RowFilter, *, before: tuple[datetime, str] | None,
                    limit: int, now: datetime, retention: timedelta) -> list[MissedRow]:
    """Up to ``limit`` rows ``where`` accepts, newest last missed attempt first (then key,
    descending), after the cursor ``before`` (its ``last_at`` and key)."""
    sql, params = page_query(where, before=before, limit=limit, now=now, retention=retention)
    return [as_of(_row(row), _exact(now), retention)
            for row in await db.fetchall(sql, params)]


async def listed_count(db: Database, view: View, *, now: datetime,
                       retention: timedelta) -> tuple[int, datetime | None]:
    """How many rows the active (or hidden) list holds, and the newest one's last missed
    attempt."""
    assert view in (View.ACTIVE, View.HIDDEN)
    # The literal 0/1 names the partial index to the planner.
    found = await db.fetchone(
        "SELECT COUNT(*) AS n, MAX(last_at) AS latest FROM missed_rows"
        f" WHERE closure IS NULL AND hidden = {int(view is View.HIDDEN)} AND last_at >= ?",
        (_line(_exact(now), retention),))
    assert found is not None
    return int(found["n"]), clock.from_db_optional(found["latest"])


async def open_row(db: Database, key: str, *, now: datetime,
                   retention: timedelta) -> MissedRow | None:
    """The caller's row still listed (active or hidden), if any."""
    found = await db.fetchone(
        f"SELECT {_ROW_COLUMNS} FROM missed_rows WHERE caller_key = ? AND closure IS NULL"
        " ORDER BY first_at DESC LIMIT 1", (key,))
    if found is None:
        return None
    row = as_of(_row(found), _exact(now), retention)
    return row if row.closure is None else None


async def stats(db: Database, *, since: datetime, until: datetime, now: datetime,
                retention: timedelta) -> Stats:
    """Rows whose last missed attempt is in ``[since, until)``, counted by last status and
    by who removed them (as ``missed_calls.stats`` counts the folded rows)."""
    line = _line(_exact(now), retention)
    rows = await db.fetchall(
        "SELECT last_status,"
        " CASE WHEN closure = 'removed' THEN 'user'"
        "      WHEN closure IS NOT NULL OR last_at < ? THEN 'automatic'"
        "      ELSE 'listed' END AS removal,"
        " COUNT(*) AS n FROM missed_rows WHERE last_at >= ? AND last_at < ?"
        " GROUP BY 1, 2", (line, clock.to_db(since), clock.to_db(until)))
    by_status = dict.fromkeys(LastStatus, 0)
    by_removal = dict.fromkeys(Removal, 0)
    total = 0
    for row in rows:
        count = int(row["n"])
        by_status[LastStatus(row["last_status"])] += count
        by_removal[Removal(row["removal"])] += count
        total += count
    return Stats(by_status, by_removal, total)
