"""crm.agent_state_report: times per state add up, clipping to the period, open rows up to
now, calls carved out of logged-in time, pauses per code, hour and day buckets in the
deployment's zone. Hypothesis checks the sums against a second-by-second count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from crm.agent_state_report import (
    CallSpan,
    Interval,
    StateSpan,
    agent_totals,
    buckets,
    by_agent,
    by_interval,
    segments,
)
from crm.agent_states import Status

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PRODUCTIVE = {1: True, 2: False}


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def span(status: Status, begin: int, end: int | None, code: int | None = None,
         user: int = 7) -> StateSpan:
    return StateSpan(user, status, code, at(begin), None if end is None else at(end))


def test_a_day_of_one_agent() -> None:
    spans = [span(Status.AVAILABLE, 0, 600), span(Status.PAUSED, 600, 900, 1),
             span(Status.PAUSED, 900, 1000, 2), span(Status.AVAILABLE, 1000, 1500),
             span(Status.WRAP_UP, 1500, 1560), span(Status.LOGGED_OUT, 1560, None)]
    calls = [CallSpan(7, at(100), at(400)), CallSpan(7, at(1400), at(1500))]
    t = agent_totals(spans, calls, PRODUCTIVE, at(0), at(3600))
    assert (t.available, t.on_call, t.wrap_up) == (700, 400, 60)
    assert (t.paused_productive, t.paused_unproductive) == (300, 100)
    assert t.paused_by_code == {1: 300, 2: 100}
    assert t.logged_out == 3600 - 1560
    assert t.logged_in == 1560 and t.total == 3600
    # A code change while paused is one pause; two calls answered.
    assert (t.calls, t.pauses) == (2, 1)


def test_rows_are_clipped_and_an_open_row_counts_up_to_the_end() -> None:
    spans = [span(Status.AVAILABLE, -500, 100), span(Status.PAUSED, 100, None, 2)]
    t = agent_totals(spans, [CallSpan(7, at(-50), None)], PRODUCTIVE, at(0), at(300))
    # The call still on at the end counts from the period's start while logged in.
    assert t.on_call == 300 and t.available == 0 and t.paused == 0
    assert t.pauses == 1 and t.calls == 0  # answered before the period
    t = agent_totals(spans, [], PRODUCTIVE, at(0), at(300))
    assert (t.available, t.paused_unproductive, t.logged_out) == (100, 200, 0)


def test_before_the_first_login_and_gaps_are_logged_out() -> None:
    spans = [span(Status.AVAILABLE, 100, 200), span(Status.AVAILABLE, 300, 400)]
    t = agent_totals(spans, [CallSpan(7, at(250), at(280))], PRODUCTIVE, at(0), at(500))
    # The call at 250 came while logged out: counted as a call, its time stays logged out.
    assert (t.available, t.on_call, t.logged_out, t.calls) == (200, 0, 300, 1)


def test_an_agent_with_no_rows_was_logged_out_all_along() -> None:
    rows = by_agent([7, 8], [span(Status.AVAILABLE, 0, None)], [], PRODUCTIVE, at(0), at(60))
    assert [(r.user_id, r.totals.available, r.totals.logged_out) for r in rows] == [
        (7, 60, 0), (8, 0, 60)]


def test_overlapping_rows_give_way_to_the_later_one() -> None:
    spans = [span(Status.AVAILABLE, 0, 500), span(Status.WRAP_UP, 200, 300)]
    segs = segments(spans, at(0), at(1000))
    assert [(s.status, s.start, s.end) for s in segs] == [
        (Status.AVAILABLE, at(0), at(200)), (Status.WRAP_UP, at(200), at(300))]


def test_hour_buckets_follow_the_zone_including_a_daylight_saving_day() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    # 29 March 2026: clocks go from 2:00 to 3:00 in Madrid, a 23-hour day.
    day_start = datetime(2026, 3, 29, tzinfo=madrid)
    day_end = datetime(2026, 3, 30, tzinfo=madrid)
    hours = buckets(day_start, day_end, Interval.HOUR, madrid)
    assert len(hours) == 23
    assert all(b - a == timedelta(hours=1) for a, b in hours)
    assert [a.astimezone(madrid).hour for a, _ in hours][:4] == [0, 1, 3, 4]
    days = buckets(day_start, datetime(2026, 4, 1, tzinfo=madrid), Interval.DAY, madrid)
    assert [(b - a) for a, b in days] == [timedelta(hours=23), timedelta(hours=24),
                                          timedelta(hours=24)]
    assert all(a.astimezone(madrid).hour == 0 for a, _ in days)
    # A zone half an hour off UTC: hours start on its half hours.
    kolkata = ZoneInfo("Asia/Kolkata")
    first = buckets(at(0), at(7200), Interval.HOUR, kolkata)
    assert first[1][0].astimezone(kolkata).minute == 0 and first[0][0] == at(0)


# -- properties --------------------------------------------------------------------------

STATUSES = list(Status)
HORIZON = 400


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[StateSpan], list[CallSpan], int, int]:
    """A log (sometimes overlapping, with gaps and an open row), calls, and a period."""
    starts = sorted(draw(st.lists(st.integers(-50, HORIZON), max_size=8)))
    spans = []
    for begin in starts:
        length = draw(st.one_of(st.none(), st.integers(0, 150)))
        status = draw(st.sampled_from(STATUSES))
        code = draw(st.sampled_from([1, 2, 3])) if status is Status.PAUSED else None
        spans.append(span(status, begin, None if length is None else begin + length, code))
    calls = []
    for _ in range(draw(st.integers(0, 4))):
        begin = draw(st.integers(-50, HORIZON))
        length = draw(st.one_of(st.none(), st.integers(0, 120)))
        calls.append(CallSpan(7, at(begin), None if length is None else at(begin + length)))
    lo = draw(st.integers(-20, HORIZON))
    hi = draw(st.integers(lo, HORIZON + 50))
    return spans, calls, lo, hi


def _second_by_second(spans: list[StateSpan], calls: list[CallSpan], lo: int, hi: int
                      ) -> dict[str, int]:
    """The same report, counted one second at a time (the spans are on whole seconds)."""
    counts = dict.fromkeys(("available", "on_call", "wrap_up", "paused_p", "paused_u",
                            "logged_out"), 0)
    ordered = sorted(spans, key=lambda s: s.started_at)
    for second in range(lo, hi):
        now = at(second)
        current = None
        for i, s in enumerate(ordered):
            nxt = ordered[i + 1].started_at if i + 1 < len(ordered) else None
            if s.started_at <= now and (s.ended_at is None or now < s.ended_at) \
                    and (nxt is None or now < nxt):
                current = s
        if current is None or current.status is Status.LOGGED_OUT:
            counts["logged_out"] += 1
        elif any(c.answered_at <= now and (c.ended_at is None or now < c.ended_at)
                 for c in calls):
            counts["on_call"] += 1
        elif current.status is Status.AVAILABLE:
            counts["available"] += 1
        elif current.status is Status.WRAP_UP:
            counts["wrap_up"] += 1
        elif PRODUCTIVE.get(current.pause_code_id or 0, False):
            counts["paused_p"] += 1
        else:
            counts["paused_u"] += 1
    return counts


@settings(max_examples=80, deadline=None)
@given(histories())
def test_times_match_a_second_by_second_count_and_add_up(
        history: tuple[list[StateSpan], list[CallSpan], int, int]) -> None:
    spans, calls, lo, hi = history
    t = agent_totals(spans, calls, PRODUCTIVE, at(lo), at(hi))
    expected = _second_by_second(spans, calls, lo, hi)
    assert (t.available, t.on_call, t.wrap_up, t.paused_productive, t.paused_unproductive,
            t.logged_out) == (expected["available"], expected["on_call"],
                              expected["wrap_up"], expected["paused_p"],
                              expected["paused_u"], expected["logged_out"])
    # Logged-in states add up to the time logged in; with logged out, to the period.
    logged_in = hi - lo - expected["logged_out"]
    assert t.logged_in == logged_in
    assert t.total == hi - lo
    assert sum(t.paused_by_code.values()) == t.paused
    assert all(seconds >= 0 for seconds in t.paused_by_code.values())


@settings(max_examples=30, deadline=None)
@given(histories(), st.sampled_from([Interval.HOUR, Interval.DAY]))
def test_intervals_add_up_to_the_whole_period(
        history: tuple[list[StateSpan], list[CallSpan], int, int], step: Interval) -> None:
    spans, calls, lo, hi = history
    # Stretch the period over several hours so it has several buckets.
    scale = 97
    spans = [StateSpan(s.user_id, s.status, s.pause_code_id, at(0) + (s.started_at - at(0)) * scale,
                       None if s.ended_at is None else at(0) + (s.ended_at - at(0)) * scale)
             for s in spans]
    calls = [CallSpan(c.user_id, at(0) + (c.answered_at - at(0)) * scale,
                      None if c.ended_at is None else at(0) + (c.ended_at - at(0)) * scale)
             for c in calls]
    start, end = at(lo * scale), at(hi * scale)
    whole = agent_totals(spans, calls, PRODUCTIVE, start, end)
    rows = by_interval([7], spans, calls, PRODUCTIVE, start, end, step,
                       ZoneInfo("America/Sao_Paulo"))
    assert sum((r.end - r.start).total_seconds() for r in rows) == (end - start).total_seconds()
    for field in ("available", "on_call", "wrap_up", "logged_out", "paused_productive",
                  "paused_unproductive"):
        assert abs(sum(getattr(r.totals, field) for r in rows) - getattr(whole, field)) < 1e-6
    assert sum(r.totals.calls for r in rows) == whole.calls
    assert sum(r.totals.pauses for r in rows) == whole.pauses
