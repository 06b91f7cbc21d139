"""crm.call_records: the stored call record."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from crm import call_records, users
from crm.call_records import (
    Answered,
    CallState,
    Ended,
    IllegalTransition,
    Outcome,
    Progress,
)
from crm.db import Database, open_database
from crm.errors import NotFound
from crm.passwords import PasswordHashing

FAST = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


@pytest.fixture
async def user_id(db: Database) -> int:
    return (await users.create_user(db, "agent", "long enough password", hashing=FAST)).id


async def test_outbound_call_lifecycle(db: Database, user_id: int) -> None:
    cid = str(uuid.uuid4())
    rec = await call_records.create(db, cid, user_id, "outbound", "1001", "+5511988887777",
                                    "", T0)
    assert rec.state is CallState.DIALING and rec.outcome is None
    await call_records.apply_event(db, cid, Progress(180), T0 + timedelta(seconds=1))
    await call_records.apply_event(db, cid, Answered(), T0 + timedelta(seconds=4))
    rec = await call_records.apply_event(db, cid, Ended("hangup", None, "agent"),
                                         T0 + timedelta(seconds=64))
    assert rec.state is CallState.ENDED and rec.outcome is Outcome.COMPLETED
    assert rec.hangup_side == "agent" and rec.talk_seconds == 60
    assert rec.updated_at == T0 + timedelta(seconds=64)
    assert await call_records.get(db, cid) == rec


async def test_busy_outbound(db: Database, user_id: int) -> None:
    await call_records.create(db, "c1", user_id, "outbound", "1001", "200", "", T0)
    rec = await call_records.apply_event(db, "c1", Ended("sip_error", 486, "remote"), T0)
    assert rec.outcome is Outcome.BUSY and rec.sip_code == 486 and rec.answered_at is None


async def test_inbound_missed(db: Database, user_id: int) -> None:
    rec = await call_records.create(db, "c1", user_id, "inbound", "1001", "+48221234567",
                                    "Kowalski", T0)
    assert rec.state is CallState.RINGING and rec.remote_name == "Kowalski"
    rec = await call_records.apply_event(db, "c1", Ended("hangup", 487, "remote"), T0)
    assert rec.outcome is Outcome.MISSED


async def test_illegal_event_leaves_row_unchanged(db: Database, user_id: int) -> None:
    before = await call_records.create(db, "c1", user_id, "inbound", "1001", "200", "", T0)
    with pytest.raises(IllegalTransition):
        await call_records.apply_event(db, "c1", Progress(180), T0 + timedelta(seconds=1))
    assert await call_records.get(db, "c1") == before
    with pytest.raises(NotFound):
        await call_records.apply_event(db, "nope", Answered(), T0)


async def test_close_interrupted(db: Database, user_id: int) -> None:
    await call_records.create(db, "ring", user_id, "inbound", "1001", "1", "", T0)
    await call_records.create(db, "talk", user_id, "outbound", "1001", "2", "", T0)
    await call_records.apply_event(db, "talk", Answered(), T0)
    await call_records.create(db, "done", user_id, "outbound", "1001", "3", "", T0)
    await call_records.apply_event(db, "done", Ended("timeout", None, "system"), T0)
    later = T0 + timedelta(hours=1)
    assert await call_records.close_interrupted(db, later) == 2
    for cid in ("ring", "talk"):
        rec = await call_records.get(db, cid)
        assert rec is not None and rec.state is CallState.ENDED
        assert rec.outcome is Outcome.INTERRUPTED and rec.ended_at == later
        assert rec.hangup_side == "system"
    done = await call_records.get(db, "done")
    assert done is not None and done.outcome is Outcome.NO_ANSWER
    assert await call_records.close_interrupted(db, later) == 0


async def test_list_for_user_newest_first(db: Database, user_id: int) -> None:
    for i in range(5):
        await call_records.create(db, f"c{i}", user_id, "outbound", "1001", str(i), "",
                                  T0 + timedelta(minutes=i))
    recent = await call_records.list_for_user(db, user_id, limit=3)
    assert [r.id for r in recent] == ["c4", "c3", "c2"]
    assert await call_records.list_for_user(db, user_id + 1) == []


async def test_times_stored_as_utc_iso(db: Database, user_id: int) -> None:
    from datetime import timezone

    sao_paulo = timezone(timedelta(hours=-3))
    await call_records.create(db, "c1", user_id, "outbound", "1001", "1", "",
                              datetime(2024, 5, 1, 6, 0, tzinfo=sao_paulo))
    row = await db.fetchone("SELECT started_at FROM call_records WHERE id = 'c1'")
    assert row == {"started_at": "2024-05-01T09:00:00.000+00:00"}
    with pytest.raises(ValueError, match="naive"):
        await call_records.create(db, "c2", user_id, "outbound", "1001", "1", "",
                                  datetime(2024, 5, 1))


async def test_indexes_exist(db: Database) -> None:
    rows = await db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'call_records'")
    names = {r["name"] for r in rows}
    assert {"call_records_user_started", "call_records_remote_number"} <= names
