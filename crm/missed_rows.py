"""Missed-call rows kept folded between changes: what a change must refold, the clock's part
of a row applied when it is read, and a row's stored form.

Theory of operation
-------------------
crm/missed_calls.py folds a caller's calls and actions into rows (``fold_key``). Folding
every caller of a month for each page, the badge and the statistics cost seconds at 100k
calls, so the rows are kept (table ``missed_rows``, crm/missed_row_store.py) and a change
refolds only the caller it concerns, and only from a point where the fold's result cannot
depend on what came before:

* The kept rows are folded with no clock (``NO_CLOCK``): only events close them. Whether
  an open row's retention has run out by now is decided when it is read (``as_of``), the
  same way ``fold_key`` ends; so the kept rows never go stale as time passes.
* A change brings events no earlier than ``t_min`` (a call record's start, an action's
  time); nothing before ``limit = t_min - RING_LIMIT`` changed. Folding from an instant
  ``since <= limit`` gives what a fold of everything would, for every row that begins at
  or after it, when the fold has no open row just before ``since`` and no group of legs
  spans it. Two instants qualify:

  - ``limit`` itself, when the caller's latest kept row that began before it was closed
    (or had run out of retention) before it (``closed_before``) and no inbound leg that
    started before it was still going within ``ATTEMPT_GAP`` of it (the store asks,
    looking back a day: no call lasts longer). This keeps a change's work to the recent
    past for a caller who calls often but was last missed long ago.
  - otherwise, the start of that latest kept row: it began with a missed attempt, so
    there was no open row just before it (a row opens only from none), and that
    attempt's first leg starts a group of legs.

  Rows that began before ``since`` are kept as they are.
* From ``since`` the fold needs the inbound legs that start then or later, the outbound
  legs that start or are answered then or later (an answered callback reaches the caller
  when it is answered: ``legs_from``), and the actions from then on. A callback that rang
  longer than ``RING_LIMIT`` before being answered is the one thing this could miss.

Equivalence with a fold of everything is property-tested in
tests/unit/test_crm_missed_rows.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from crm.missed_calls import (
    Action,
    Closure,
    Entry,
    EntryKind,
    Leg,
    MissedRow,
    fold_key,
)

# Passed to fold_key as "now": no row's retention runs out at the end of the fold.
NO_CLOCK = datetime(1, 1, 1, tzinfo=UTC)
# Longer than any call rings before it is answered (a SIP INVITE gives up in minutes).
RING_LIMIT = timedelta(hours=1)


def fold_kept(key: str, legs: Iterable[Leg], actions: Iterable[Action],
              retention: timedelta) -> list[MissedRow]:
    """The rows to keep for one caller: ``fold_key`` without the clock."""
    return fold_key(key, list(legs), actions, NO_CLOCK, retention)


def as_of(row: MissedRow, now: datetime, retention: timedelta) -> MissedRow:
    """A kept row as a fold at ``now`` shows it: closed as expired once its retention ran
    out (what ``fold_key`` does to the last row)."""
    if row.closure is not None or not now > row.last_at + retention:
        return row
    expired_at = row.last_at + retention
    return replace(row, hidden=False, closure=Closure.EXPIRED, closed_at=expired_at,
                   closed_by=None, timeline=(*row.timeline, Entry(EntryKind.EXPIRED,
                                                                  expired_at)))


def refold_limit(t_min: datetime) -> datetime:
    """Kept rows that began before this are left alone by a change from ``t_min`` on."""
    return t_min - RING_LIMIT


def closed_before(row: MissedRow | None, at: datetime, retention: timedelta) -> bool:
    """Whether no row is open at ``at``, given ``row`` is the caller's latest kept row
    that began before it: it was closed by then, or its retention had run out (a row
    kept open with nothing after it closes as expired at the first later event)."""
    if row is None:
        return True
    if row.closed_at is not None:
        return row.closed_at < at
    return row.last_at + retention < at


def legs_from(legs: Iterable[Leg], since: datetime | None) -> list[Leg]:
    """What a fold from ``since`` needs of a caller's legs (None: all of them)."""
    if since is None:
        return list(legs)
    return [leg for leg in legs
            if leg.started_at >= since
            or (leg.direction == "outbound" and leg.answered_at is not None
                and leg.answered_at >= since)]


def actions_from(actions: Iterable[Action], since: datetime | None) -> list[Action]:
    return [action for action in actions if since is None or action.at >= since]


# -- stored form ---------------------------------------------------------------------------

def _instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def timeline_text(timeline: Iterable[Entry]) -> str:
    """A row's timeline as compact JSON (one list per entry)."""
    return json.dumps([[e.kind.value, _instant(e.at), e.user_id, e.call_id, e.outcome,
                        e.legs, e.gateway_status] for e in timeline],
                      separators=(",", ":"))


def timeline_of(text: str) -> tuple[Entry, ...]:
    return tuple(Entry(EntryKind(kind), datetime.fromisoformat(at), user_id, call_id,
                       outcome, legs, status)
                 for kind, at, user_id, call_id, outcome, legs, status in json.loads(text))
