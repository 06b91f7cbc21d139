"""Storing a call's quality summary (crm/call_quality.py, migration 0013) in SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from crm import call_quality, call_records, users
from crm.db import Database, open_database
from crm.passwords import PasswordHashing
from gateway.quality import LegAccumulator, LegSample

FAST = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


async def test_summaries_are_kept_per_leg_and_go_with_the_call(db: Database) -> None:
    user = await users.create_user(db, "agent", "long enough password", hashing=FAST)
    at = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    await call_records.create(db, "c1", user.id, "outbound", "1001", "5550100", "", at)
    assert await call_quality.get(db, "c1") == {}
    browser, sip = LegAccumulator(), LegAccumulator()
    browser.add(LegSample(jitter_ms=3, loss_pct=0, rtt_ms=12), 4.4)
    browser.add(LegSample(jitter_ms=9, loss_pct=2, rtt_ms=18), 4.1)
    sip.add(LegSample(jitter_ms=1, loss_pct=0, rtt_ms=None), 4.4)
    browser_summary, sip_summary = browser.summary(), sip.summary()
    assert browser_summary is not None and sip_summary is not None
    await call_quality.save(db, "c1", "browser", browser_summary)
    await call_quality.save(db, "c1", "sip", sip_summary)
    # A second save of a leg (a report replayed) changes nothing.
    await call_quality.save(db, "c1", "sip", browser_summary)
    stored = await call_quality.get(db, "c1")
    assert stored == {"browser": browser_summary, "sip": sip_summary}
    assert stored["browser"].loss_max_pct == 2 and stored["browser"].mos_min == 4.1
    assert stored["sip"].rtt_avg_ms is None
    await db.execute("DELETE FROM call_records WHERE id = ?", ("c1",))
    assert await call_quality.get(db, "c1") == {}
