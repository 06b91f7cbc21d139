"""Scheduled outgoing calls (callbacks): what one is, what may be typed, how it changes.

Theory of operation
-------------------
A callback is a promise to call someone at a time: an agent, one to five phone numbers,
a reason, a queue or campaign name, an optional contact and links to open while calling.
``validate`` turns what a person typed into a ``NewCallback`` or raises
``InvalidCallback`` with one message key per field, so a form shows every mistake at once
and nothing is stored.

States are a transition table (``TRANSITIONS``): a pending callback is completed or
discarded by a person, or expires on its own; postponing (a new time) and assigning (a
new agent) keep it pending. Expiry is not an event anyone stores: a pending callback whose
``due_at + expiry`` has passed *is* expired (``state_at``), so the answer never depends on
a background job having run. Closed callbacks change no more.

``urgency`` places a callback on the panel as a pure function of now: upcoming, due soon
(within ``DUE_SOON``), overdue (past its time, not yet expired), expired, or closed.

Who may act (``may_act``): agents on their own callbacks; supervisors and admins on
anyone's. Only supervisors and admins create callbacks for others or assign them.

Queues and campaigns do not exist yet: the name is free text, cleaned (``clean_queue``),
and folded for filters.

This module does no I/O; crm/callback_store.py loads and stores.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlsplit

from crm import phone_numbers
from crm.errors import CrmError, InvalidValue
from crm.users import Role

DUE_SOON = timedelta(minutes=15)
# A callback further ahead than this is a typo (year 2205), not a plan.
MAX_AHEAD = timedelta(days=366)
MIN_EXPIRY = 60
MAX_EXPIRY = 30 * 24 * 3600
DEFAULT_EXPIRY = 3600
MAX_PHONES = 5
MAX_LINKS = 5
MAX_QUEUE = 80
MAX_REASON = 500
MAX_LINK_NAME = 80
MAX_URL = 2000
MANAGE_ROLES = (Role.ADMIN, Role.SUPERVISOR)


class State(enum.StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    DISCARDED = "discarded"
    EXPIRED = "expired"          # derived, never stored


class Action(enum.StrEnum):
    COMPLETE = "complete"
    DISCARD = "discard"
    POSTPONE = "postpone"
    ASSIGN = "assign"
    EXPIRE = "expire"            # the clock's, not a person's


class EventKind(enum.StrEnum):
    """One line of a callback's log (who did what when)."""

    CREATED = "created"
    ASSIGNED = "assigned"
    POSTPONED = "postponed"
    COMPLETED = "completed"
    DISCARDED = "discarded"


class Urgency(enum.StrEnum):
    UPCOMING = "upcoming"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    EXPIRED = "expired"
    CLOSED = "closed"


# (state, action) -> state after. Pairs not listed are refused (``IllegalAction``).
TRANSITIONS: dict[tuple[State, Action], State] = {
    (State.PENDING, Action.COMPLETE): State.COMPLETED,
    (State.PENDING, Action.DISCARD): State.DISCARDED,
    (State.PENDING, Action.EXPIRE): State.EXPIRED,
    (State.PENDING, Action.POSTPONE): State.PENDING,
    (State.PENDING, Action.ASSIGN): State.PENDING,
}

# What a person's action writes in the log.
EVENT_OF: dict[Action, EventKind] = {
    Action.COMPLETE: EventKind.COMPLETED,
    Action.DISCARD: EventKind.DISCARDED,
    Action.POSTPONE: EventKind.POSTPONED,
    Action.ASSIGN: EventKind.ASSIGNED,
}


class InvalidCallback(InvalidValue):
    """What was typed is not a callback; ``errors`` maps field -> (key, params)."""

    key = "callbacks.error.invalid"

    def __init__(self, errors: Mapping[str, tuple[str, Mapping[str, Any]]]) -> None:
        super().__init__(f"invalid callback: {', '.join(sorted(errors))}")
        self.errors = dict(errors)


class IllegalAction(CrmError):
    """The action does not fit the callback's state (someone closed it meanwhile)."""

    key = "callbacks.error.stale"


@dataclass(frozen=True)
class Link:
    name: str
    url: str


@dataclass(frozen=True)
class NewCallback:
    """A validated callback, before it has an id."""

    user_id: int
    queue: str
    contact_id: int | None
    due_at: datetime
    expiry_seconds: int
    phones: tuple[str, ...]
    reason: str
    links: tuple[Link, ...]
    # The queue or campaign it belongs to (``queue`` then holds its name); both None for
    # none, or for a free-text name from before queues existed.
    queue_id: int | None = None
    campaign_id: int | None = None


@dataclass(frozen=True)
class Callback:
    id: int
    user_id: int
    queue: str
    contact_id: int | None
    due_at: datetime
    expiry_seconds: int
    phones: tuple[str, ...]
    reason: str
    links: tuple[Link, ...]
    state: State                 # as stored: pending, completed or discarded
    created_by: int | None
    created_at: datetime
    closed_at: datetime | None
    queue_id: int | None = None
    campaign_id: int | None = None

    @property
    def expires_at(self) -> datetime:
        return self.due_at + timedelta(seconds=self.expiry_seconds)


@dataclass(frozen=True)
class Event:
    kind: EventKind
    by_user_id: int | None
    at: datetime
    user_id: int | None = None   # assigned: the new agent
    due_at: datetime | None = None  # created / postponed: the time


# -- cleaning what was typed ---------------------------------------------------------------

def _has_control(text: str, allow_newlines: bool = False) -> bool:
    allowed = "\n" if allow_newlines else ""
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed for ch in text)


def _line(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def clean_queue(text: str) -> str:
    """A queue or campaign name: one line, at most ``MAX_QUEUE`` characters ('' = none)."""
    name = _line(text)
    if len(name) > MAX_QUEUE or _has_control(name):
        raise InvalidValue("queue name too long or not text", key="callbacks.error.queue",
                           max=MAX_QUEUE)
    return name


def clean_reason(text: str) -> str:
    """The reason, lines kept, at most ``MAX_REASON`` characters."""
    lines = [_line(part) for part in unicodedata.normalize("NFC", text).replace(
        "\r\n", "\n").replace("\r", "\n").split("\n")]
    reason = "\n".join(lines).strip()
    if len(reason) > MAX_REASON or _has_control(reason, allow_newlines=True):
        raise InvalidValue("reason too long or not text", key="callbacks.error.reason",
                           max=MAX_REASON)
    return reason


def clean_url(text: str) -> str:
    """An http(s) address with a host; anything else (javascript:, data:, ftp:) refused."""
    url = text.strip()
    if not url or len(url) > MAX_URL or _has_control(url) or any(ch.isspace() for ch in url):
        raise InvalidValue("link address unusable", key="callbacks.error.url")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidValue("link address unusable", key="callbacks.error.url") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidValue("link address not http(s)", key="callbacks.error.url")
    return url


def clean_link(name: str, url: str) -> Link | None:
    """A link (name shown, address opened); None when both are blank."""
    name, url = _line(name), url.strip()
    if not name and not url:
        return None
    if not name:
        raise InvalidValue("link without a name", key="callbacks.error.link_name_missing")
    if len(name) > MAX_LINK_NAME or _has_control(name):
        raise InvalidValue("link name too long", key="callbacks.error.link_name",
                           max=MAX_LINK_NAME)
    return Link(name, clean_url(url))


def parse_expiry(text: str) -> int:
    """Seconds a callback stays worth making after its time: a whole number, bounded."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise InvalidValue("expiry is not a whole number", key="callbacks.error.expiry_number")
    seconds = int(value)
    if not MIN_EXPIRY <= seconds <= MAX_EXPIRY:
        raise InvalidValue("expiry out of range", key="callbacks.error.expiry_range",
                           min=MIN_EXPIRY, max=MAX_EXPIRY)
    return seconds


def parse_local_time(text: str, zone: tzinfo) -> datetime:
    """A ``YYYY-MM-DDTHH:MM`` typed in a datetime-local field, read in ``zone``, in UTC."""
    value = text.strip()
    if not 16 <= len(value) <= 19:
        raise InvalidValue("date and time missing", key="callbacks.error.due_at")
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidValue("date and time unreadable", key="callbacks.error.due_at") from None
    if local.tzinfo is not None:
        raise InvalidValue("date and time with a zone", key="callbacks.error.due_at")
    return local.replace(tzinfo=zone).astimezone(UTC)


def parse_due(text: str, zone: tzinfo, now: datetime) -> datetime:
    """When to call: typed in ``zone``, strictly after ``now``, within ``MAX_AHEAD``."""
    at = parse_local_time(text, zone)
    if at <= now:
        raise InvalidValue("callback time in the past", key="callbacks.error.due_past")
    if at - now > MAX_AHEAD:
        raise InvalidValue("callback time too far ahead", key="callbacks.error.due_far")
    return at


def parse_phones(raw: Sequence[str], region: str, area_code: str = "") -> tuple[str, ...]:
    """One to five numbers in E.164 (or extensions), duplicates dropped, order kept."""
    typed = [text for text in raw if text.strip()]
    if not typed:
        raise InvalidValue("no phone number", key="callbacks.error.phones_missing")
    if len(typed) > MAX_PHONES:
        raise InvalidValue("too many phone numbers", key="callbacks.error.phones_many",
                           max=MAX_PHONES)
    found: list[str] = []
    for text in typed:
        number = phone_numbers.parse(text, region, area_code).value
        if number not in found:
            found.append(number)
    return tuple(found)


def validate(*, user_id: int, queue: str, contact_id: int | None, due: str, expiry: str,
             phones: Sequence[str], reason: str, links: Sequence[tuple[str, str]],
             region: str, area_code: str, zone: tzinfo, now: datetime) -> NewCallback:
    """A new callback from what was typed; raises ``InvalidCallback`` naming every field
    that is wrong (``phones``, ``due``, ``expiry``, ``queue``, ``reason``, ``link_N``)."""
    errors: dict[str, tuple[str, Mapping[str, Any]]] = {}

    def check(name: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except InvalidValue as exc:
            errors.setdefault(name, (exc.key, exc.params))
            return None

    parsed_phones = check("phones", parse_phones, phones, region, area_code)
    due_at = check("due", parse_due, due, zone, now)
    expiry_seconds = check("expiry", parse_expiry, expiry)
    clean_q = check("queue", clean_queue, queue)
    clean_r = check("reason", clean_reason, reason)
    if len([pair for pair in links if pair[0].strip() or pair[1].strip()]) > MAX_LINKS:
        errors["link_0"] = ("callbacks.error.links_many", {"max": MAX_LINKS})
    cleaned: list[Link] = []
    for position, (name, url) in enumerate(links[:MAX_LINKS]):
        link = check(f"link_{position}", clean_link, name, url)
        if link is not None:
            cleaned.append(link)
    if errors:
        raise InvalidCallback(errors)
    return NewCallback(user_id=user_id, queue=clean_q, contact_id=contact_id, due_at=due_at,
                       expiry_seconds=expiry_seconds, phones=parsed_phones, reason=clean_r,
                       links=tuple(cleaned))


def from_wrap_up(*, user_id: int, remote_number: str, contact_id: int | None,
                 due_at: datetime, region: str, area_code: str = "") -> NewCallback | None:
    """The callback an agent asked for when closing a call ("call back" wrap-up): their
    own, to the number of the call, at the time chosen there (already checked to be in
    the future). None when the call's number cannot be dialled (withheld, garbage)."""
    try:
        number = phone_numbers.parse(remote_number, region, area_code).value
    except InvalidValue:
        return None
    return NewCallback(user_id=user_id, queue="", contact_id=contact_id, due_at=due_at,
                       expiry_seconds=DEFAULT_EXPIRY, phones=(number,), reason="",
                       links=())


# -- states, permissions, urgency ----------------------------------------------------------

def state_at(callback: Callback, now: datetime) -> State:
    """The callback's state at ``now``: a stored pending one past its expiry is expired."""
    if callback.state is State.PENDING and now >= callback.expires_at:
        return TRANSITIONS[(State.PENDING, Action.EXPIRE)]
    return callback.state


def apply(callback: Callback, action: Action, now: datetime) -> State:
    """The state ``action`` leads to; raises ``IllegalAction`` when it does not fit."""
    current = state_at(callback, now)
    after = TRANSITIONS.get((current, action))
    if after is None:
        raise IllegalAction(f"callback {callback.id}: cannot {action.value} when {current.value}")
    return after


def can_manage(role: Role) -> bool:
    """Whether ``role`` sees and acts on everyone's callbacks (and assigns them)."""
    return role in MANAGE_ROLES


def may_act(role: Role, actor_id: int, owner_id: int) -> bool:
    """Agents act on their own callbacks; supervisors and admins on anyone's."""
    return can_manage(role) or actor_id == owner_id


def may_perform(role: Role, actor_id: int, owner_id: int, action: Action) -> bool:
    """``may_act``, and assigning only for supervisors and admins."""
    if action is Action.EXPIRE:
        return False
    if action is Action.ASSIGN:
        return can_manage(role)
    return may_act(role, actor_id, owner_id)


def may_create_for(role: Role, actor_id: int, owner_id: int) -> bool:
    return may_act(role, actor_id, owner_id)


def urgency(callback: Callback, now: datetime) -> Urgency:
    """Where the panel places the callback at ``now``."""
    state = state_at(callback, now)
    if state is State.EXPIRED:
        return Urgency.EXPIRED
    if state is not State.PENDING:
        return Urgency.CLOSED
    if now >= callback.due_at:
        return Urgency.OVERDUE
    if callback.due_at - now <= DUE_SOON:
        return Urgency.DUE_SOON
    return Urgency.UPCOMING
