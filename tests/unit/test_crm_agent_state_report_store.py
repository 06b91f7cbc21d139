"""What the agent-state report reads from the log: rows overlapping the period only, found
through an index with a lower time bound (not every row since the log began)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm import agent_state_report_store, clock, users
from crm.db import Database
from tests.support.gateway import FAST_HASHING

DAY = datetime(2026, 3, 4, tzinfo=UTC)


async def _log(db: Database, user_id: int, begin: datetime, end: datetime | None) -> None:
    await db.execute(
        "INSERT INTO agent_state_log (user_id, status, source, started_at, ended_at)"
        " VALUES (?, 'available', 'page', ?, ?)",
        (user_id, clock.to_db(begin), None if end is None else clock.to_db(end)))


async def test_only_rows_overlapping_the_period_are_read(db: Database) -> None:
    agent = await users.create_user(db, "ana", "password 12345", hashing=FAST_HASHING)
    hour = timedelta(hours=1)
    await _log(db, agent.id, DAY - 48 * hour, DAY - 47 * hour)       # long before
    await _log(db, agent.id, DAY - 2 * hour, DAY + hour)             # across the start
    await _log(db, agent.id, DAY + 2 * hour, DAY + 3 * hour)         # inside
    await _log(db, agent.id, DAY + 23 * hour, None)                  # still open
    await _log(db, agent.id, DAY + 30 * hour, DAY + 31 * hour)       # after the end
    loaded = await agent_state_report_store.load(db, DAY, DAY + 24 * hour)
    assert [span.started_at for span in loaded.spans] == [
        DAY - 2 * hour, DAY + 2 * hour, DAY + 23 * hour]
    assert loaded.spans[-1].ended_at is None


async def test_the_log_query_uses_the_ended_at_index(db: Database) -> None:
    agent = await users.create_user(db, "ana", "password 12345", hashing=FAST_HASHING)
    # Enough history that a plan walking started_at from the first row would be chosen
    # only by mistake; ANALYZE gives the planner the real shape.
    for day in range(200):
        begin = DAY - timedelta(days=day)
        await _log(db, agent.id, begin, begin + timedelta(hours=8))
    await db.execute("ANALYZE")
    sql = agent_state_report_store.LOG_QUERY.format(only="")
    start, end = clock.to_db(DAY), clock.to_db(DAY + timedelta(days=1))
    plan = await db.fetchall("EXPLAIN QUERY PLAN " + sql, (start, end, end))
    details = [str(row["detail"]) for row in plan]
    uses = [d for d in details if "agent_state_log" in d]
    assert uses and all("agent_state_log_ended" in d for d in uses), details
    assert not any(d.startswith("SCAN agent_state_log") for d in details), details
