"""Missed calls: call records and people's actions folded into one row per caller.

Theory of operation
-------------------
Nothing is recorded as "a missed call": rows are derived from the call records
(crm/call_records.py) and the actions people took (``missed_call_actions``). That keeps
one source of truth and lets a later answered call remove a row without anyone having to
remember to. The derived rows are kept, refolded per caller as those change
(crm/missed_rows.py, crm/missed_row_store.py), so pages read them instead of folding.

1. Every call record becomes a ``Leg`` with a caller key (``caller_key``: the E.164 of
   the remote number, else the number as sent). Legs of one call ringing several agents,
   at once or one after another, are one *attempt*: inbound legs of a key that start
   before the previous one ended (plus ``ATTEMPT_GAP``) belong together.
2. An inbound attempt with an answered leg is the caller getting through; one whose legs
   all ended unanswered is a missed attempt; one still ringing is not decided yet.
   Outbound calls to the key are callback attempts; answered, they reached the caller.
3. The events of each key, in time order, drive a small state machine (``TRANSITIONS``):
   a missed attempt opens a row (an *episode*) or adds to it; the caller getting through,
   an agent reaching them, a manual removal, or ``retention`` days after the last missed
   attempt close it. Hide and restore switch an open row between the active and hidden
   lists; a new missed attempt brings a hidden row back (it is news). Events on a key
   with no open row (a callback before anyone missed a call) change nothing.

Closed rows are kept in the answer (view ``removed``) with how they closed, for the
statistics. Who may act: everyone sees the list, calls back and records an SMS attempt;
supervisors and admins hide, restore and remove (``MANAGE_ROLES``).

This module does no I/O; crm/missed_call_store.py loads and stores.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from crm import phone_numbers
from crm.errors import InvalidValue
from crm.users import Role

# Legs of one call (a hunt group ringing agents one after another) start within this
# long of the previous leg's end; a caller dialling again takes longer than that.
ATTEMPT_GAP = timedelta(seconds=3)
MANAGE_ROLES = (Role.ADMIN, Role.SUPERVISOR)

Direction = Literal["inbound", "outbound"]


class ActionKind(enum.StrEnum):
    HIDE = "hide"
    RESTORE = "restore"
    REMOVE = "remove"
    SMS = "sms"


class EntryKind(enum.StrEnum):
    """One line of a row's timeline."""

    MISSED = "missed"            # a call no one answered
    CALLBACK = "callback"        # an agent called the number
    SMS = "sms"                  # an agent recorded an SMS attempt
    HIDDEN = "hidden"
    RESTORED = "restored"
    REMOVED = "removed"          # a user removed the row
    GOT_THROUGH = "got_through"  # the caller called again and was answered
    EXPIRED = "expired"          # retention ran out


class Closure(enum.StrEnum):
    """How a row stopped being listed."""

    GOT_THROUGH = "got_through"
    REACHED = "reached"          # an agent's callback was answered
    REMOVED = "removed"
    EXPIRED = "expired"


class View(enum.StrEnum):
    ACTIVE = "active"
    HIDDEN = "hidden"
    REMOVED = "removed"
    ALL = "all"


class LastStatus(enum.StrEnum):
    """The last thing done about a row (statistics)."""

    CALLED_BACK = "called_back"
    SMS_SENT = "sms_sent"
    NO_ATTEMPT = "no_attempt"


class Removal(enum.StrEnum):
    """Who took a row off the list (statistics)."""

    AUTOMATIC = "automatic"      # got through, reached, or expired
    USER = "user"
    LISTED = "listed"            # not removed yet


@dataclass(frozen=True, slots=True)
class Leg:
    """What folding needs of one call record."""

    id: str
    user_id: int
    direction: Direction
    remote_number: str
    remote_name: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None = None


class SmsResult(enum.StrEnum):
    """How an SMS from a row went ('' on old rows: recorded by hand)."""

    MANUAL = "manual"            # no gateway: the agent sent it from a phone
    SENT = "sent"                # the gateway accepted it
    FAILED = "failed"            # the gateway refused it or did not answer


@dataclass(frozen=True)
class Action:
    caller_key: str
    kind: ActionKind
    user_id: int | None
    at: datetime
    sms_result: str = ""
    gateway_status: int | None = None


@dataclass(frozen=True)
class Entry:
    kind: EntryKind
    at: datetime
    user_id: int | None = None
    # The call behind the entry (the attempt's first leg; the callback's record).
    call_id: str = ""
    outcome: str = ""
    # Missed attempts: how many agents' phones rang.
    legs: int = 0
    # SMS attempts: the gateway's HTTP status, if it answered.
    gateway_status: int | None = None


@dataclass(frozen=True)
class MissedRow:
    """One caller's missed calls since they were last reached (an episode)."""

    key: str
    number: str              # as the PBX sent it, on the last missed attempt
    name: str                # as known on the last missed attempt ('' if none)
    first_at: datetime
    last_at: datetime
    count: int
    hidden: bool
    closure: Closure | None
    closed_at: datetime | None
    closed_by: int | None
    timeline: tuple[Entry, ...]
    # Newest missed attempt's first leg: what the e-mail notice is keyed by.
    last_call_id: str

    @property
    def view(self) -> View:
        if self.closure is not None:
            return View.REMOVED
        return View.HIDDEN if self.hidden else View.ACTIVE

    @property
    def last_status(self) -> LastStatus:
        for entry in reversed(self.timeline):
            if entry.kind is EntryKind.CALLBACK:
                return LastStatus.CALLED_BACK
            if entry.kind is EntryKind.SMS and entry.outcome != SmsResult.FAILED:
                return LastStatus.SMS_SENT
        return LastStatus.NO_ATTEMPT

    @property
    def removal(self) -> Removal:
        if self.closure is None:
            return Removal.LISTED
        return Removal.USER if self.closure is Closure.REMOVED else Removal.AUTOMATIC

    @property
    def dialable(self) -> bool:
        """Whether the key is something the softphone can dial (E.164 or an extension)."""
        return self.key.startswith("+") or (self.key.isascii() and self.key.isdigit())


# Already E.164 (a click-to-dial callback, a trunk that sends +CC...): nothing to read.
# Mexico's +52 1 mobiles are left to the full reading, which drops the old 1.
_E164 = re.compile(r"^\+(?!52)[1-9][0-9]{7,14}$")


@functools.lru_cache(maxsize=200_000)
def caller_key(raw: str, region: str, area_code: str = "") -> str:
    """The row key for a number as sent: E.164, an extension's digits, else the text.

    Cached: a list folds every call of the retention period, and reading a number with
    libphonenumber costs a few hundred microseconds; the same callers come back.
    """
    if _E164.match(raw):
        return raw
    try:
        return phone_numbers.parse(raw, region, area_code).value
    except InvalidValue:
        return raw.strip()[: phone_numbers.MAX_INPUT]


# -- events and the state machine ----------------------------------------------------------

class _Event(enum.Enum):
    MISSED = "missed"
    CALLBACK = "callback"
    SMS = "sms"
    HIDE = "hide"
    RESTORE = "restore"
    REMOVE = "remove"
    GOT_THROUGH = "got_through"
    REACHED = "reached"


class _State(enum.Enum):
    NONE = "none"        # no open row for this caller
    ACTIVE = "active"
    HIDDEN = "hidden"


class _Effect(enum.Enum):
    OPEN = "open"        # start a new row with this missed attempt
    ADD = "add"          # add the entry to the open row
    CLOSE = "close"      # add the entry and close the row
    IGNORE = "ignore"


# (state, event) -> (state after, effect). Pairs not listed are ignored in place.
TRANSITIONS: dict[tuple[_State, _Event], tuple[_State, _Effect]] = {
    (_State.NONE, _Event.MISSED): (_State.ACTIVE, _Effect.OPEN),
    (_State.ACTIVE, _Event.MISSED): (_State.ACTIVE, _Effect.ADD),
    (_State.HIDDEN, _Event.MISSED): (_State.ACTIVE, _Effect.ADD),
    (_State.ACTIVE, _Event.CALLBACK): (_State.ACTIVE, _Effect.ADD),
    (_State.HIDDEN, _Event.CALLBACK): (_State.HIDDEN, _Effect.ADD),
    (_State.ACTIVE, _Event.SMS): (_State.ACTIVE, _Effect.ADD),
    (_State.HIDDEN, _Event.SMS): (_State.HIDDEN, _Effect.ADD),
    (_State.ACTIVE, _Event.HIDE): (_State.HIDDEN, _Effect.ADD),
    (_State.HIDDEN, _Event.RESTORE): (_State.ACTIVE, _Effect.ADD),
    (_State.ACTIVE, _Event.REMOVE): (_State.NONE, _Effect.CLOSE),
    (_State.HIDDEN, _Event.REMOVE): (_State.NONE, _Effect.CLOSE),
    (_State.ACTIVE, _Event.GOT_THROUGH): (_State.NONE, _Effect.CLOSE),
    (_State.HIDDEN, _Event.GOT_THROUGH): (_State.NONE, _Effect.CLOSE),
    (_State.ACTIVE, _Event.REACHED): (_State.NONE, _Effect.CLOSE),
    (_State.HIDDEN, _Event.REACHED): (_State.NONE, _Effect.CLOSE),
}

_ENTRY_OF: dict[_Event, EntryKind] = {
    _Event.MISSED: EntryKind.MISSED,
    _Event.CALLBACK: EntryKind.CALLBACK,
    _Event.SMS: EntryKind.SMS,
    _Event.HIDE: EntryKind.HIDDEN,
    _Event.RESTORE: EntryKind.RESTORED,
    _Event.REMOVE: EntryKind.REMOVED,
    _Event.GOT_THROUGH: EntryKind.GOT_THROUGH,
    _Event.REACHED: EntryKind.CALLBACK,
}
_CLOSURE_OF = {
    _Event.REMOVE: Closure.REMOVED,
    _Event.GOT_THROUGH: Closure.GOT_THROUGH,
    _Event.REACHED: Closure.REACHED,
}
_ACTION_EVENT = {
    ActionKind.HIDE: _Event.HIDE,
    ActionKind.RESTORE: _Event.RESTORE,
    ActionKind.REMOVE: _Event.REMOVE,
    ActionKind.SMS: _Event.SMS,
}


@dataclass(frozen=True)
class _Timed:
    at: datetime
    event: _Event
    entry: Entry
    number: str = ""
    name: str = ""


@dataclass
class _Open:
    """The row being built for one key."""

    key: str
    number: str
    name: str
    first_at: datetime
    last_at: datetime
    last_call_id: str
    count: int = 1
    hidden: bool = False
    timeline: list[Entry] = field(default_factory=list)

    def close(self, closure: Closure | None, at: datetime | None,
              by: int | None) -> MissedRow:
        return MissedRow(key=self.key, number=self.number, name=self.name,
                         first_at=self.first_at, last_at=self.last_at, count=self.count,
                         hidden=self.hidden and closure is None, closure=closure,
                         closed_at=at, closed_by=by, timeline=tuple(self.timeline),
                         last_call_id=self.last_call_id)


def _attempts(legs: Sequence[Leg]) -> list[list[Leg]]:
    """Inbound legs of one key grouped into calls (legs that overlap or follow at once)."""
    groups: list[list[Leg]] = []
    group_end: datetime | None = None
    open_ended = False
    for leg in sorted(legs, key=lambda leg: (leg.started_at, leg.id)):
        joins = bool(groups) and (open_ended or (group_end is not None
                                           and leg.started_at <= group_end + ATTEMPT_GAP))
        if not joins:
            groups.append([])
            group_end, open_ended = None, False
        groups[-1].append(leg)
        if leg.ended_at is None:
            open_ended = True
        elif group_end is None or leg.ended_at > group_end:
            group_end = leg.ended_at
    return groups


def _events(legs: Sequence[Leg], actions: Iterable[Action]) -> list[_Timed]:
    """The events of one key, in time order."""
    timed: list[_Timed] = []
    for attempt in _attempts([leg for leg in legs if leg.direction == "inbound"]):
        first = attempt[0]
        answered = [leg.answered_at for leg in attempt if leg.answered_at is not None]
        if answered:
            at = min(answered)
            timed.append(_Timed(at, _Event.GOT_THROUGH,
                                Entry(EntryKind.GOT_THROUGH, at, call_id=first.id)))
        elif all(leg.ended_at is not None for leg in attempt):
            timed.append(_Timed(first.started_at, _Event.MISSED, Entry(
                EntryKind.MISSED, first.started_at, call_id=first.id,
                outcome=attempt[-1].outcome or "", legs=len(attempt)),
                number=first.remote_number,
                name=next((leg.remote_name for leg in attempt if leg.remote_name), "")))
    for leg in legs:
        if leg.direction != "outbound":
            continue
        if leg.answered_at is not None:
            timed.append(_Timed(leg.answered_at, _Event.REACHED, Entry(
                EntryKind.CALLBACK, leg.started_at, leg.user_id, leg.id, "completed")))
        else:
            timed.append(_Timed(leg.started_at, _Event.CALLBACK, Entry(
                EntryKind.CALLBACK, leg.started_at, leg.user_id, leg.id,
                leg.outcome or "")))
    for action in actions:
        event = _ACTION_EVENT[action.kind]
        timed.append(_Timed(action.at, event,
                            Entry(_ENTRY_OF[event], action.at, action.user_id,
                                  outcome=action.sms_result,
                                  gateway_status=action.gateway_status)))
    # Same instant: a missed attempt before what answers it.
    order = {_Event.MISSED: 0}
    timed.sort(key=lambda t: (t.at, order.get(t.event, 1)))
    return timed


def fold_key(key: str, legs: Sequence[Leg], actions: Iterable[Action], now: datetime,
             retention: timedelta) -> list[MissedRow]:
    """Every row (open or closed) of one caller, oldest first."""
    rows: list[MissedRow] = []
    state = _State.NONE
    row: _Open | None = None
    for timed in _events(legs, actions):
        if row is not None and timed.at > row.last_at + retention:
            expired_at = row.last_at + retention
            row.timeline.append(Entry(EntryKind.EXPIRED, expired_at))
            rows.append(row.close(Closure.EXPIRED, expired_at, None))
            row, state = None, _State.NONE
        state_after, effect = TRANSITIONS.get((state, timed.event), (state, _Effect.IGNORE))
        if effect is _Effect.OPEN:
            row = _Open(key, timed.number, timed.name, timed.at, timed.at,
                        timed.entry.call_id, timeline=[timed.entry])
        elif effect is not _Effect.IGNORE and row is not None:
            row.timeline.append(timed.entry)
            if timed.event is _Event.MISSED:
                row.count += 1
                row.last_at = timed.at
                row.last_call_id = timed.entry.call_id
                row.number = timed.number or row.number
                row.name = timed.name or row.name
            if effect is _Effect.CLOSE:
                closed_by = timed.entry.user_id if timed.event is _Event.REMOVE else None
                rows.append(row.close(_CLOSURE_OF[timed.event], timed.at, closed_by))
                row = None
        state = state_after
        if row is not None:
            row.hidden = state is _State.HIDDEN
    if row is not None:
        if now > row.last_at + retention:
            expired_at = row.last_at + retention
            row.timeline.append(Entry(EntryKind.EXPIRED, expired_at))
            rows.append(row.close(Closure.EXPIRED, expired_at, None))
        else:
            rows.append(row.close(None, None, None))
    return rows


def fold(legs: Iterable[Leg], actions: Iterable[Action], key_of: Callable[[str], str],
         now: datetime, retention: timedelta) -> list[MissedRow]:
    """Every row of every caller, newest missed attempt first."""
    legs_by_key: dict[str, list[Leg]] = {}
    for leg in legs:
        legs_by_key.setdefault(key_of(leg.remote_number), []).append(leg)
    actions_by_key: dict[str, list[Action]] = {}
    for action in actions:
        actions_by_key.setdefault(action.caller_key, []).append(action)
    rows: list[MissedRow] = []
    for key, key_legs in legs_by_key.items():
        rows.extend(fold_key(key, key_legs, actions_by_key.get(key, ()), now, retention))
    rows.sort(key=lambda row: (row.last_at, row.key), reverse=True)
    return rows


# -- choosing rows -------------------------------------------------------------------------

@dataclass(frozen=True)
class RowFilter:
    view: View = View.ACTIVE
    status: LastStatus | None = None
    removal: Removal | None = None
    since: datetime | None = None   # last missed attempt at or after
    until: datetime | None = None   # ... and before

    def accepts(self, row: MissedRow) -> bool:
        if self.view is not View.ALL and row.view is not self.view:
            return False
        if self.status is not None and row.last_status is not self.status:
            return False
        if self.removal is not None and row.removal is not self.removal:
            return False
        if self.since is not None and row.last_at < self.since:
            return False
        return self.until is None or row.last_at < self.until


def select(rows: Iterable[MissedRow], where: RowFilter) -> list[MissedRow]:
    return [row for row in rows if where.accepts(row)]


def open_row(rows: Iterable[MissedRow], key: str) -> MissedRow | None:
    """The caller's row that is still listed (active or hidden), if any."""
    return next((row for row in rows if row.key == key and row.closure is None), None)


@dataclass(frozen=True)
class Stats:
    by_status: dict[LastStatus, int]
    by_removal: dict[Removal, int]
    total: int


def stats(rows: Iterable[MissedRow]) -> Stats:
    """Rows counted by last status and by who removed them."""
    by_status = dict.fromkeys(LastStatus, 0)
    by_removal = dict.fromkeys(Removal, 0)
    total = 0
    for row in rows:
        by_status[row.last_status] += 1
        by_removal[row.removal] += 1
        total += 1
    return Stats(by_status, by_removal, total)


def can_manage(role: Role) -> bool:
    """Whether a user of ``role`` may hide, restore and remove rows."""
    return role in MANAGE_ROLES


def allowed(kind: ActionKind, role: Role) -> bool:
    """Whether ``role`` may take action ``kind`` (SMS attempts: everyone)."""
    return kind is ActionKind.SMS or can_manage(role)


def action_fits(kind: ActionKind, row: MissedRow | None) -> bool:
    """Whether the action makes sense on the caller's current row (no stale clicks)."""
    if row is None or row.closure is not None:
        return False
    if kind is ActionKind.HIDE:
        return not row.hidden
    if kind is ActionKind.RESTORE:
        return row.hidden
    return True
