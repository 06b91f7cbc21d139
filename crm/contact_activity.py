"""A contact's calls as the contact list filters on them, kept on the contact row.

Two facts (migration 0015): ``last_activity_at``, when the contact's latest call started
(NULL: never called), and ``last_disposition_id``, the disposition of its latest call
that has one (with ``last_disposition_at``, when that call started). A call belongs to
the contact the agent picked for it in the call window (``call_work.contact_id``), else
to the one caller-ID linked (``call_records.contact_id``).

``refresh`` recomputes both from the calls, for the contacts named; the storage modules
call it whenever what they depend on changes: a call record created or linked to a
contact (crm/call_records.py), the contact picked for a call, a disposition saved
(crm/call_work.py). Recomputing rather than comparing with what is stored keeps the facts
right when a call moves from one contact to another.

The pure part is ``read_activity``: what the list's "last call" filter asked for, as a
span of UTC instants, or a clear error.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Protocol

from crm import clock
from crm.call_history import parse_moment
from crm.db import Params
from crm.errors import InvalidValue


class _Writer(Protocol):
    """A ``Database`` or a ``Transaction``."""

    async def execute(self, sql: str, params: Params = ...) -> int: ...


# The calls of contact ? (its id three times): those the agent filed under it and those
# caller-ID linked to it that the agent did not file elsewhere. Both halves use an index
# (call_work_contact, call_records_contact_started).
_CALLS_OF = (
    " FROM call_records r LEFT JOIN call_work w ON w.call_id = r.id"
    " WHERE r.id IN (SELECT call_id FROM call_work WHERE contact_id = ?"
    "                UNION SELECT id FROM call_records WHERE contact_id = ?)"
    " AND COALESCE(w.contact_id, r.contact_id) = ?"
)
_REFRESH = (
    "UPDATE contacts SET"
    f" last_activity_at = (SELECT MAX(r.started_at){_CALLS_OF}),"
    " (last_disposition_id, last_disposition_at) = ("
    f"  SELECT w.disposition_id, r.started_at{_CALLS_OF} AND w.disposition_id IS NOT NULL"
    "  ORDER BY r.started_at DESC, r.id DESC LIMIT 1)"
    " WHERE id = ?"
)


async def refresh(db: _Writer, contact_ids: Iterable[int | None]) -> None:
    """Recompute the latest call and latest disposition of each contact named (None and
    repeats are skipped; a contact that no longer exists is no error)."""
    for contact_id in dict.fromkeys(i for i in contact_ids if i is not None):
        await db.execute(_REFRESH, (contact_id,) * 7)


# -- the list's "last call" filter ------------------------------------------------------


class Recency(enum.StrEnum):
    """The choices of the "last call" filter besides a date range."""

    DAYS_7 = "7d"
    DAYS_30 = "30d"
    DAYS_90 = "90d"
    NEVER = "never"


_DAYS = {Recency.DAYS_7: 7, Recency.DAYS_30: 30, Recency.DAYS_90: 90}


@dataclass(frozen=True)
class ActivitySpan:
    """Contacts whose latest call started in [since, until) (either end open when None),
    or, with ``never``, contacts never called."""

    since: datetime | None = None
    until: datetime | None = None
    never: bool = False


def parse_recency(text: str) -> Recency | None:
    value = text.strip()
    if not value:
        return None
    try:
        return Recency(value)
    except ValueError:
        raise InvalidValue(f"last call {value[:20]!r}",
                           key="contacts.error.bad_activity") from None


def read_activity(recency: str, start: str, end: str, now: datetime,
                  zone: tzinfo) -> ActivitySpan | None:
    """The span asked for by the filter's choice (``7d``, ``30d``, ``90d``, ``never``)
    and its date range (``YYYY-MM-DD`` in ``zone``; the end date is included); None when
    nothing is asked. Raises ``InvalidValue`` for a value it cannot read, a range that
    ends before it starts, or "never" together with dates."""
    choice = parse_recency(recency)
    since = parse_moment(start, zone) if start.strip() else None
    until = parse_moment(end, zone) if end.strip() else None
    if choice is Recency.NEVER:
        if since or until:
            raise InvalidValue("never called, between dates",
                               key="contacts.error.never_with_dates")
        return ActivitySpan(never=True)
    span = ActivitySpan(
        since=None if since is None else since[0],
        until=None if until is None else until[0] + until[1].value,
    )
    if choice is not None:
        recent = now - timedelta(days=_DAYS[choice])
        span = ActivitySpan(since=max(recent, span.since or recent), until=span.until)
    if span.since is not None and span.until is not None and span.since >= span.until:
        raise InvalidValue("the range ends before it starts", key="history.error.range")
    return None if span == ActivitySpan() else span


def span_bounds(span: ActivitySpan) -> tuple[str | None, str | None]:
    """The span's ends as stored timestamps (compared as text, like every stored time)."""
    return (None if span.since is None else clock.to_db(span.since),
            None if span.until is None else clock.to_db(span.until))
