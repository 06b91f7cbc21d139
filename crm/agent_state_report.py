"""The agent-state report, as pure computation: how long each agent spent in each state
over a period, and the same per hour or per day.

Theory of operation
-------------------
``agent_state_log`` (crm/agent_state_store.py, migration 0010) holds one row per status an
agent was in, ``ended_at`` empty for the current one. For one agent, the rows in time
order become *segments* that never overlap: each runs from its start to its end, or to
the next row's start if that comes first (the log should never overlap; if it ever did,
the later row wins), or up to the end of the period when still open. Every row is
clipped to the period ``[start, end)``; the caller makes ``end`` at most *now*, so an
open row counts up to now and the future counts for nothing. Time no row covers (before
the agent first logged in, a gap) is ``logged_out``.

Being on a call is not a status in the log (crm/agent_states.py): it comes from the call
records, from the answer to the end. While logged in, time on a call counts as
``on_call`` whatever the status says (an agent who pauses mid-call is still talking);
while logged out it stays ``logged_out``, so that the logged-in states always add up to
the time the log says the agent was logged in.

So for every agent: available + on_call + wrap_up + paused == logged-in time, and that
plus logged_out == the period's length. Paused time is kept per pause code and split
into productive and unproductive by the code's flag. ``calls`` counts calls answered in
the period; ``pauses`` counts times the agent went into a pause in the period (changing
the code while paused is the same pause).

This module does no I/O; crm/agent_state_report_store.py loads the rows.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from crm.agent_states import Status


class Interval(enum.StrEnum):
    HOUR = "hour"
    DAY = "day"


# The longest period each view accepts (a report page, not a data export).
MAX_DAYS = {None: 366, Interval.DAY: 92, Interval.HOUR: 7}


@dataclass(frozen=True)
class StateSpan:
    """One row of agent_state_log."""

    user_id: int
    status: Status
    pause_code_id: int | None
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class CallSpan:
    """An answered call of an agent, from the answer to the end (None: still on)."""

    user_id: int
    answered_at: datetime
    ended_at: datetime | None


@dataclass
class Totals:
    """Seconds per state, calls and pauses: one agent's, or several added up."""

    available: float = 0.0
    on_call: float = 0.0
    wrap_up: float = 0.0
    logged_out: float = 0.0
    paused_by_code: dict[int | None, float] = field(default_factory=dict)
    paused_productive: float = 0.0
    paused_unproductive: float = 0.0
    calls: int = 0
    pauses: int = 0

    @property
    def paused(self) -> float:
        return self.paused_productive + self.paused_unproductive

    @property
    def logged_in(self) -> float:
        return self.available + self.on_call + self.wrap_up + self.paused

    @property
    def total(self) -> float:
        return self.logged_in + self.logged_out

    def add(self, other: Totals) -> None:
        self.available += other.available
        self.on_call += other.on_call
        self.wrap_up += other.wrap_up
        self.logged_out += other.logged_out
        for code, seconds in other.paused_by_code.items():
            self.paused_by_code[code] = self.paused_by_code.get(code, 0.0) + seconds
        self.paused_productive += other.paused_productive
        self.paused_unproductive += other.paused_unproductive
        self.calls += other.calls
        self.pauses += other.pauses


@dataclass(frozen=True)
class _Segment:
    status: Status
    pause_code_id: int | None
    start: datetime
    end: datetime


def segments(spans: Sequence[StateSpan], start: datetime, end: datetime) -> list[_Segment]:
    """One agent's log rows as disjoint segments inside ``[start, end)``, in time order."""
    ordered = sorted(spans, key=lambda s: s.started_at)  # stable: log order on ties
    out: list[_Segment] = []
    for i, span in enumerate(ordered):
        stop = end if span.ended_at is None else min(span.ended_at, end)
        if i + 1 < len(ordered):
            stop = min(stop, ordered[i + 1].started_at)
        begin = max(span.started_at, start)
        if out:
            begin = max(begin, out[-1].end)
        if stop > begin:
            out.append(_Segment(span.status, span.pause_code_id, begin, stop))
    return out


def _merged(calls: Iterable[CallSpan], start: datetime, end: datetime
            ) -> list[tuple[datetime, datetime]]:
    """Time on calls inside ``[start, end)``, overlapping calls (a consult) merged."""
    parts = sorted((max(c.answered_at, start), end if c.ended_at is None
                    else min(c.ended_at, end)) for c in calls)
    merged: list[tuple[datetime, datetime]] = []
    for begin, stop in parts:
        if stop <= begin:
            continue
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((begin, stop))
    return merged


def _overlap(begin: datetime, stop: datetime,
             merged: Sequence[tuple[datetime, datetime]]) -> float:
    seconds = 0.0
    for call_begin, call_stop in merged:
        if call_begin >= stop:
            break
        low, high = max(begin, call_begin), min(stop, call_stop)
        if high > low:
            seconds += (high - low).total_seconds()
    return seconds


def agent_totals(spans: Sequence[StateSpan], calls: Sequence[CallSpan],
                 productive: Mapping[int, bool], start: datetime, end: datetime) -> Totals:
    """One agent's totals over ``[start, end)`` (``end`` no later than now)."""
    totals = Totals()
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # real, not wall-clock, seconds
    if end <= start:
        return totals
    on_calls = _merged(calls, start, end)
    covered = 0.0
    for seg in segments(spans, start, end):
        length = (seg.end - seg.start).total_seconds()
        covered += length
        if seg.status is Status.LOGGED_OUT:
            totals.logged_out += length
            continue
        talking = _overlap(seg.start, seg.end, on_calls)
        totals.on_call += talking
        rest = length - talking
        if seg.status is Status.AVAILABLE:
            totals.available += rest
        elif seg.status is Status.WRAP_UP:
            totals.wrap_up += rest
        else:
            code = seg.pause_code_id
            totals.paused_by_code[code] = totals.paused_by_code.get(code, 0.0) + rest
            if code is not None and productive.get(code, False):
                totals.paused_productive += rest
            else:
                totals.paused_unproductive += rest
    # Whatever no row covers: never logged in yet, or a gap in the log.
    totals.logged_out += (end - start).total_seconds() - covered
    totals.calls = sum(1 for c in calls if start <= c.answered_at < end)
    ordered = sorted(spans, key=lambda s: s.started_at)
    for before, span in zip([None, *ordered], ordered, strict=False):
        if (span.status is Status.PAUSED and start <= span.started_at < end
                and (before is None or before.status is not Status.PAUSED)):
            totals.pauses += 1
    return totals


@dataclass(frozen=True)
class AgentRow:
    user_id: int
    totals: Totals


def by_agent(user_ids: Iterable[int], spans: Iterable[StateSpan], calls: Iterable[CallSpan],
             productive: Mapping[int, bool], start: datetime, end: datetime) -> list[AgentRow]:
    """Totals for each of ``user_ids`` over ``[start, end)``, in the order given."""
    spans_of: dict[int, list[StateSpan]] = {}
    for span in spans:
        spans_of.setdefault(span.user_id, []).append(span)
    calls_of: dict[int, list[CallSpan]] = {}
    for call in calls:
        calls_of.setdefault(call.user_id, []).append(call)
    return [AgentRow(uid, agent_totals(spans_of.get(uid, []), calls_of.get(uid, []),
                                       productive, start, end)) for uid in user_ids]


def buckets(start: datetime, end: datetime, step: Interval, zone: tzinfo
            ) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut at the zone's hour or midnight boundaries (a day with a
    daylight-saving change has 23 or 25 hours; each hour is a real hour)."""
    out: list[tuple[datetime, datetime]] = []
    # In UTC throughout: subtracting two times of one zone is wall-clock arithmetic.
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return out
    if step is Interval.HOUR:
        # Local hours start on whole UTC hours except in zones a fraction of an hour
        # off UTC: step from the local hour's start, in real hours.
        # (Arithmetic on an aware local time is wall-clock arithmetic: add in UTC.)
        edge = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        edge = edge.astimezone(UTC)
        while edge < end:
            following = edge + timedelta(hours=1)
            out.append((max(edge, start), min(following, end)))
            edge = following
        return out
    day = start.astimezone(zone).date()
    while True:
        begin = local_midnight(day, zone)
        following = local_midnight(day + timedelta(days=1), zone)
        if begin >= end:
            return out
        out.append((max(begin, start), min(following, end)))
        day += timedelta(days=1)


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The instant ``day`` begins in ``zone`` (in UTC)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class IntervalRow:
    start: datetime
    end: datetime
    totals: Totals


def by_interval(user_ids: Iterable[int], spans: Iterable[StateSpan],
                calls: Iterable[CallSpan], productive: Mapping[int, bool],
                start: datetime, end: datetime, step: Interval, zone: tzinfo
                ) -> list[IntervalRow]:
    """The chosen agents' totals added up per hour or per day of ``[start, end)``."""
    chosen = list(user_ids)
    span_list, call_list = list(spans), list(calls)
    rows = []
    for begin, stop in buckets(start, end, step, zone):
        summed = Totals()
        for row in by_agent(chosen, span_list, call_list, productive, begin, stop):
            summed.add(row.totals)
        rows.append(IntervalRow(begin, stop, summed))
    return rows
