"""crm.call_history: reading the filter form and building the query (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm import call_history, call_records, users
from crm.call_flow import Outcome
from crm.call_history import HistoryFilter, Precision, Viewer
from crm.db import open_database
from crm.errors import InvalidValue
from crm.users import Role
from tests.unit.test_crm_call_records import FAST

MADRID = ZoneInfo("Europe/Madrid")
AGENT = Viewer(7, Role.AGENT)
SUPERVISOR = Viewer(2, Role.SUPERVISOR)


@pytest.mark.parametrize(("text", "expected", "precision"), [
    ("2026-03-01", datetime(2026, 2, 28, 23, 0, tzinfo=UTC), Precision.DAY),
    ("2026-07-01T09:30", datetime(2026, 7, 1, 7, 30, tzinfo=UTC), Precision.MINUTE),
    ("2026-07-01 09:30:15", datetime(2026, 7, 1, 7, 30, 15, tzinfo=UTC), Precision.SECOND),
    (" 2026-07-01T09:30+00:00 ", datetime(2026, 7, 1, 9, 30, tzinfo=UTC), Precision.SECOND),
])
def test_moments_are_read_in_the_deployment_zone(text: str, expected: datetime,
                                                 precision: Precision) -> None:
    assert call_history.parse_moment(text, MADRID) == (expected, precision)


@pytest.mark.parametrize("text", [
    "", "yesterday", "31/02/2026", "2026-02-31", "2026-13-01", "2026-03-01T25:00",
    "20260301", "2026-03-01X10:00", "\uff12\uff10\uff12\uff16-03-01", "=cmd|' /C calc'!A0",
    "9" * 200,
])
def test_bad_moments_are_refused_with_a_key(text: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        call_history.parse_moment(text, UTC)
    assert caught.value.key == "history.error.bad_date"
    assert len(caught.value.params["value"]) <= call_history.MAX_DATE_INPUT


@given(st.dictionaries(st.sampled_from(["direction", "from", "to", "contact", "agent",
                                        "company", "list", "outcome", "disposition", "other"]),
                       st.text(max_size=40)))
def test_read_filter_never_fails(params: dict[str, str]) -> None:
    reading = call_history.read_filter(params, MADRID)
    assert set(reading.errors) <= set(params) | {"to"}
    call_history.build_query(reading.filter, AGENT, limit=10)


def test_read_filter_collects_every_error_and_keeps_the_rest() -> None:
    reading = call_history.read_filter({
        "direction": "sideways", "from": "2026-03-02", "to": "2026-03-01",
        "contact": "12", "agent": "x", "outcome": "missed", "list": " Madrid ",
    }, UTC)
    assert {k: e.key for k, e in reading.errors.items()} == {
        "direction": "history.error.bad_direction", "to": "history.error.range",
        "agent": "history.error.bad_choice"}
    assert reading.filter == HistoryFilter(
        since=datetime(2026, 3, 2, tzinfo=UTC), contact_id=12, list="Madrid",
        outcome=Outcome.MISSED)


def test_until_runs_to_the_end_of_what_was_typed() -> None:
    day = call_history.read_filter({"to": "2026-03-01"}, UTC).filter
    assert day.until == datetime(2026, 3, 2, tzinfo=UTC)
    minute = call_history.read_filter({"to": "2026-03-01T10:15"}, UTC).filter
    assert minute.until == datetime(2026, 3, 1, 10, 16, tzinfo=UTC)
    same = call_history.read_filter({"from": "2026-03-01", "to": "2026-03-01"}, UTC)
    assert same.errors == {}
    assert same.filter.since is not None and same.filter.until is not None
    assert same.filter.until - same.filter.since == timedelta(days=1)


def test_agents_only_ever_query_their_own_calls() -> None:
    asked = HistoryFilter(agent_id=99, direction="inbound")
    query = call_history.build_query(asked, AGENT, limit=51)
    assert "cr.user_id = ?" in query.sql
    assert 7 in query.params and 99 not in query.params
    assert call_history.scoped(HistoryFilter(), AGENT).agent_id == 7


def test_supervisors_query_everyone_or_the_agent_asked_for() -> None:
    everyone = call_history.build_query(HistoryFilter(), SUPERVISOR, limit=51, offset=50)
    assert "WHERE" not in everyone.sql and everyone.params == (51, 50)
    one = call_history.build_query(HistoryFilter(agent_id=99), SUPERVISOR, limit=51)
    assert "cr.user_id = ?" in one.sql and one.params == (99, 51, 0)


def test_every_filter_field_becomes_a_bound_parameter() -> None:
    where = HistoryFilter(direction="outbound", since=datetime(2026, 1, 1, tzinfo=UTC),
                          until=datetime(2026, 2, 1, tzinfo=UTC), contact_id=3,
                          agent_id=4, company_id=5, list="Łódź VIP",
                          outcome=Outcome.BUSY, disposition_id=6)
    query = call_history.build_query(where, SUPERVISOR, limit=10)
    assert "w.disposition_id = ?" in query.sql and 6 in query.params
    assert query.sql.count("?") == len(query.params)
    assert "Łódź" not in query.sql and "lodz vip" in query.params
    assert query.params[:3] == ("outbound", "2026-01-01T00:00:00.000+00:00",
                                "2026-02-01T00:00:00.000+00:00")
    assert query.sql.rstrip().endswith(
        "ORDER BY cr.started_at DESC, cr.rowid DESC LIMIT ? OFFSET ?")


def test_a_number_is_read_like_a_contacts() -> None:
    reading = call_history.read_filter({"number": "(11) 98765-4321"}, UTC, "BR", "11")
    assert reading.filter.number_keys == ("+5511987654321",)
    argentina = call_history.read_filter({"number": "+54 9 11 2345-6789"}, UTC, "AR")
    assert argentina.filter.number_keys == ("+5491123456789", "+541123456789")
    assert call_history.read_filter({"number": "1002"}, UTC, "ES").filter.extension == "1002"
    bad = call_history.read_filter({"number": "call me"}, UTC, "ES")
    assert bad.errors["number"].key == "phone.invalid" and bad.filter == HistoryFilter()
    query = call_history.build_query(argentina.filter, SUPERVISOR, limit=5)
    assert "cr.remote_e164 IN (?, ?)" in query.sql


async def test_common_pages_read_an_index_in_order(tmp_path: Path) -> None:
    """No sort of the whole table for the pages people open most (bench/call_history.py
    measured seconds at 200,000 calls when SQLite chose to start from users, or to sort)."""
    db = await open_database(tmp_path / "crm.sqlite3")
    try:
        for i in range(5):
            await users.create_user(db, f"agent{i}", "long enough password", hashing=FAST)
        for n in range(300):
            await call_records.create(db, f"c{n}", 1 + n % 5, "inbound", "1001", "+34911234567",
                                      "", datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n))
        await db.execute("ANALYZE")
        for where, viewer in ((HistoryFilter(), SUPERVISOR), (HistoryFilter(), AGENT),
                              (HistoryFilter(outcome=Outcome.MISSED), SUPERVISOR),
                              (HistoryFilter(direction="inbound"), SUPERVISOR)):
            query = call_history.build_query(where, viewer, limit=51)
            plan = [r["detail"] for r in await db.fetchall("EXPLAIN QUERY PLAN " + query.sql,
                                                             query.params)]
            assert plan[0].startswith(("SCAN cr USING INDEX", "SEARCH cr USING INDEX")), plan
            assert not any("TEMP B-TREE" in step for step in plan), (where, plan)
    finally:
        await db.close()
