"""The kept missed-call rows (crm/missed_row_store.py, refolded per caller as each call
record and action is written) equal a fold of every call and action (crm/missed_calls.py),
for any history: property-tested with hypothesis through the real write paths
(call_records.create/apply_event, missed_call_store.add_action) on a real SQLite file."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm import call_records, clock, missed_call_store, missed_row_store, users
from crm.call_flow import Answered, Ended
from crm.db import Database, open_database
from crm.missed_calls import ActionKind, Leg, MissedRow, caller_key, fold
from crm.missed_rows import as_of
from tests.support.gateway import FAST_HASHING

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
REGION = "ES"
RETENTION_DAYS = 1
# Two callers written two ways each (as the PBX sends them, as an agent dials), and an
# extension.
SPELLINGS = {"+34600000001": ("600000001", "+34600000001"),
             "+34911000002": ("911000002", "+34911000002"),
             "2001": ("2001",)}


@dataclass(frozen=True)
class Write:
    """One write, at the time it happens."""

    at: datetime
    order: int
    kind: str            # create, answer, end, action
    call_id: str = ""
    direction: str = ""
    number: str = ""
    key: str = ""
    action: ActionKind = ActionKind.SMS


@st.composite
def histories(draw: st.DrawFn) -> list[Write]:
    writes: list[Write] = []
    minutes = st.integers(min_value=0, max_value=4 * 24 * 60)  # four days, by the minute
    for n in range(draw(st.integers(min_value=1, max_value=14))):
        key = draw(st.sampled_from(sorted(SPELLINGS)))
        kind = draw(st.sampled_from(("inbound", "inbound", "outbound", "action")))
        start = T0 + timedelta(minutes=draw(minutes), seconds=draw(st.integers(0, 59)))
        if kind == "action":
            writes.append(Write(start, n, "action", key=key, action=draw(
                st.sampled_from(list(ActionKind)))))
            continue
        # Legs of one call: a hunt group rings a second agent at once or just after.
        legs = draw(st.integers(min_value=1, max_value=2 if kind == "inbound" else 1))
        answered_leg = draw(st.integers(min_value=-1, max_value=legs - 1))
        for leg in range(legs):
            begin = start + timedelta(seconds=draw(st.integers(0, 20)) * leg)
            number = draw(st.sampled_from(SPELLINGS[key]))
            call_id = str(uuid.uuid4())
            ring = timedelta(seconds=draw(st.integers(1, 600)))
            writes.append(Write(begin, n, "create", call_id, kind, number))
            if leg == answered_leg:
                writes.append(Write(begin + ring, n, "answer", call_id))
                # Some conversations last longer than RING_LIMIT.
                ring += timedelta(seconds=draw(st.sampled_from((1, 30, 900, 5400))))
            writes.append(Write(begin + ring, n, "end", call_id, kind))
    # Written as time goes by.
    return sorted(writes, key=lambda w: (w.at, w.order, w.kind != "create"))


async def _template(path: Path) -> int:
    db = await open_database(path)
    try:
        agent = await users.create_user(db, "ana", "password 12345", hashing=FAST_HASHING)
        # Built (empty) with this basis: from here on every write refolds its caller.
        await missed_row_store.ensure(db, REGION, "", RETENTION_DAYS)
        return agent.id
    finally:
        await db.close()


async def _all_legs(db: Database) -> list[Leg]:
    rows = await db.fetchall(
        "SELECT id, user_id, direction, remote_number, remote_name, started_at, answered_at,"
        " ended_at, outcome FROM call_records")
    return [Leg(r["id"], r["user_id"], r["direction"], r["remote_number"], r["remote_name"],
                clock.from_db(r["started_at"]), clock.from_db_optional(r["answered_at"]),
                clock.from_db_optional(r["ended_at"]), r["outcome"]) for r in rows]


async def full_fold(db: Database, now: datetime) -> list[MissedRow]:
    """The existing fold of everything: every call record and every action."""
    actions = []
    for row in await db.fetchall("SELECT caller_key, kind, user_id, at, sms_result,"
                                 " gateway_status FROM missed_call_actions ORDER BY id"):
        actions.append(missed_call_store._action(row))
    return fold(await _all_legs(db), actions, lambda raw: caller_key(raw, REGION), now,
                timedelta(days=RETENTION_DAYS))


async def kept(db: Database, now: datetime) -> list[MissedRow]:
    rows = [as_of(missed_row_store._row(row), now, timedelta(days=RETENTION_DAYS))
            for row in await db.fetchall("SELECT * FROM missed_rows")]
    return sorted(rows, key=lambda row: (row.last_at, row.key), reverse=True)


# Memory-backed files where there are some: each example is many small transactions.
_TMP = "/dev/shm" if Path("/dev/shm").is_dir() else None


async def _run(template: Path, agent_id: int, writes: list[Write], later: timedelta) -> None:
    with tempfile.TemporaryDirectory(dir=_TMP) as tmp:
        path = Path(tmp) / "crm.sqlite3"
        shutil.copy(template, path)
        db = await open_database(path)
        try:
            for write in writes:
                if write.kind == "create":
                    await call_records.create(db, write.call_id, agent_id,
                                              write.direction,  # type: ignore[arg-type]
                                              "1001", write.number, "", write.at)
                elif write.kind == "answer":
                    await call_records.apply_event(db, write.call_id, Answered(), write.at)
                elif write.kind == "end":
                    side = "remote" if write.direction == "inbound" else "agent"
                    await call_records.apply_event(
                        db, write.call_id, Ended(reason="hangup", side=side), write.at)
                else:
                    await missed_call_store.add_action(db, write.key, write.action,
                                                       agent_id, write.at)
                # After every write, not only at the end: a later write may refold a
                # caller from further back and hide a mistake an earlier one made.
                assert await kept(db, write.at) == await full_fold(db, write.at)
            now = writes[-1].at + later
            assert await kept(db, now) == await full_fold(db, now)
            # The backfill (a fold of everything at once) keeps the same rows.
            await db.execute("DELETE FROM missed_fold_basis")
            assert await missed_row_store.rebuild(db, REGION, "", RETENTION_DAYS)
            assert await kept(db, now) == await full_fold(db, now)
        finally:
            await db.close()


_TEMPLATE_DIR = tempfile.TemporaryDirectory(dir=_TMP)
_TEMPLATE = Path(_TEMPLATE_DIR.name) / "template.sqlite3"
_AGENT: list[int] = []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(writes=histories(),
       later=st.sampled_from([timedelta(0), timedelta(hours=20), timedelta(days=3)]))
def test_kept_rows_equal_a_fold_of_everything(writes: list[Write], later: timedelta) -> None:
    if not _AGENT:
        _AGENT.append(asyncio.run(_template(_TEMPLATE)))
    asyncio.run(_run(_TEMPLATE, _AGENT[0], writes, later))


async def _scripted(writes: list[Write]) -> tuple[list[MissedRow], list[MissedRow]]:
    if not _AGENT:
        _AGENT.append(await _template(_TEMPLATE))
    with tempfile.TemporaryDirectory(dir=_TMP) as tmp:
        path = Path(tmp) / "crm.sqlite3"
        shutil.copy(_TEMPLATE, path)
        db = await open_database(path)
        try:
            for write in writes:
                if write.kind == "create":
                    await call_records.create(db, write.call_id, _AGENT[0],
                                              write.direction,  # type: ignore[arg-type]
                                              "1001", write.number, "", write.at)
                elif write.kind == "answer":
                    await call_records.apply_event(db, write.call_id, Answered(), write.at)
                else:
                    await call_records.apply_event(
                        db, write.call_id, Ended(reason="hangup", side="remote"), write.at)
                assert await kept(db, write.at) == await full_fold(db, write.at), write
            now = writes[-1].at
            return await kept(db, now), await full_fold(db, now)
        finally:
            await db.close()


async def test_a_callback_dialled_before_a_missed_call_and_answered_after_still_reaches(
) -> None:
    # The callback rings from 08:00:00 and is answered at 08:02, after the caller's missed
    # call at 08:01: that closes the row. A missed call three hours later refolds the
    # caller from the 08:01 row on, and must still see the callback answered at 08:02.
    number, back, first, later = "600000001", str(uuid.uuid4()), str(uuid.uuid4()), str(
        uuid.uuid4())
    minute = timedelta(minutes=1)
    writes = [
        Write(T0, 0, "create", back, "outbound", "+34600000001"),
        Write(T0 + minute, 1, "create", first, "inbound", number),
        Write(T0 + minute + timedelta(seconds=10), 1, "end", first),
        Write(T0 + 2 * minute, 0, "answer", back),
        Write(T0 + 3 * minute, 0, "end", back),
        Write(T0 + timedelta(hours=3), 2, "create", later, "inbound", number),
        Write(T0 + timedelta(hours=3, seconds=10), 2, "end", later),
    ]
    rows, reference = await _scripted(writes)
    assert rows == reference
    assert [(row.count, row.closure) for row in rows] == [(1, None), (1, "reached")]


def test_a_row_is_listed_until_its_retention_has_passed() -> None:
    retention = timedelta(days=RETENTION_DAYS)
    row = MissedRow("+34600000001", "600000001", "", T0, T0, 1, False, None, None, None,
                    (), "c1")
    assert as_of(row, T0 + retention, retention) is row
    expired = as_of(row, T0 + retention + timedelta(milliseconds=1), retention)
    assert expired.closure == "expired" and expired.closed_at == T0 + retention
    assert expired.timeline[-1].kind == "expired"


async def test_a_call_again_during_a_long_conversation_is_no_missed_call() -> None:
    # The caller talks to an agent from 08:00 to 10:00 and, at 09:30, rings again on
    # another line, unanswered: one call that got through (legs that overlap are one
    # attempt), not a missed call. The second leg's writes come 1.5 h after the first
    # began, so the refold must notice the conversation spanning its starting point.
    number, talk, again = "600000001", str(uuid.uuid4()), str(uuid.uuid4())
    writes = [
        Write(T0, 0, "create", talk, "inbound", number),
        Write(T0 + timedelta(seconds=5), 0, "answer", talk),
        Write(T0 + timedelta(minutes=90), 1, "create", again, "inbound", number),
        Write(T0 + timedelta(minutes=91), 1, "end", again),
        Write(T0 + timedelta(hours=2), 0, "end", talk),
    ]
    rows, reference = await _scripted(writes)
    assert rows == reference == []
