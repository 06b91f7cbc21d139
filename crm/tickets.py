"""Tickets and their actions: the rules, with no storage (crm/ticket_store.py stores them).

Theory of operation
-------------------
A ticket is a contact's issue: subject, description, priority, the agent who owns it and
a team ("group"). Work on it is a list of actions ("call back Tuesday", "send the
invoice"), each ``pending``, ``done`` or ``cancelled``, optionally due at a date and time
and assigned to an agent (the calendar shows them: ``ticket_store.actions_between``).

An action's state changes only through ``ACTION_TRANSITIONS`` (state, event) -> state,
applied by ``next_action_state``. The ticket's own state is *derived* from its actions by
``derive_state`` and never stored: open while any action is pending (or before it has
any), else done if any action was done, else cancelled. ``ticket_store`` writes the same
rule as SQL for the state filter.

Every change is a ``LogEntry`` (field, old, new, who, when): ``diff_fields`` compares a
ticket's shown values before and after an edit; the store adds entries for actions.

Who may see and edit a ticket is ``Viewer.may_see`` (agents: tickets assigned to them,
tickets of contacts they own, tickets with an action assigned to them; supervisors and
admins: every ticket). Any user may open a ticket for any contact.

Errors are ``crm.errors.InvalidValue`` with ``tickets.error.*`` keys.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TypeVar

from crm import call_history
from crm.errors import InvalidValue
from crm.ids import picked_id
from crm.viewer import Viewer as BaseViewer

T = TypeVar("T")

MAX_SUBJECT = 200
MAX_DESCRIPTION = 5000
MAX_GROUP = 60
MAX_ACTION = 1000
MAX_ACTIONS = 200


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class ActionState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class ActionEvent(enum.StrEnum):
    COMPLETE = "complete"
    CANCEL = "cancel"
    REOPEN = "reopen"


class TicketState(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


# The only ways an action's state may change.
ACTION_TRANSITIONS: Mapping[tuple[ActionState, ActionEvent], ActionState] = {
    (ActionState.PENDING, ActionEvent.COMPLETE): ActionState.DONE,
    (ActionState.PENDING, ActionEvent.CANCEL): ActionState.CANCELLED,
    (ActionState.DONE, ActionEvent.REOPEN): ActionState.PENDING,
    (ActionState.CANCELLED, ActionEvent.REOPEN): ActionState.PENDING,
}

def next_action_state(state: ActionState, event: ActionEvent) -> ActionState:
    """The state ``event`` takes an action in ``state`` to; ``InvalidValue`` if none."""
    try:
        return ACTION_TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidValue(f"an action that is {state} cannot take {event}",
                           key="tickets.error.transition", state=state.value) from None


def events_from(state: ActionState) -> list[ActionEvent]:
    """The events an action in ``state`` accepts (the buttons its row shows)."""
    return [event for (src, event) in ACTION_TRANSITIONS if src is state]


def derive_state(actions: Iterable[ActionState]) -> TicketState:
    """The ticket's state from its actions' states."""
    states = set(actions)
    if not states or ActionState.PENDING in states:
        return TicketState.OPEN
    if ActionState.DONE in states:
        return TicketState.DONE
    return TicketState.CANCELLED


# -- Who may see a ticket ----------------------------------------------------------------

@dataclass(frozen=True)
class Viewer(BaseViewer):
    def may_see(self, agent_id: int | None, contact_owner_id: int | None,
                action_agent_ids: Iterable[int | None] = ()) -> bool:
        """Whether this user may see (and so edit) a ticket with these people on it."""
        if self.sees_everyone:
            return True
        return self.user_id in (agent_id, contact_owner_id) or self.user_id in set(
            action_agent_ids)


# -- Cleaning what people type -----------------------------------------------------------

def _has_control(text: str, allow_newlines: bool = False) -> bool:
    allowed = "\n\t" if allow_newlines else ""
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed for ch in text)


def _line(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def clean_subject(text: str) -> str:
    value = _line(text)
    if not value:
        raise InvalidValue("subject is empty", key="tickets.error.empty_subject")
    if len(value) > MAX_SUBJECT or _has_control(value):
        raise InvalidValue("subject too long or with control characters",
                           key="tickets.error.bad_subject", max=MAX_SUBJECT)
    return value


def clean_description(text: str) -> str:
    """Free text (may be empty); line breaks kept, written as ``\\n``."""
    value = unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()
    if len(value) > MAX_DESCRIPTION or _has_control(value, allow_newlines=True):
        raise InvalidValue("description too long", key="tickets.error.bad_description",
                           max=MAX_DESCRIPTION)
    return value


def clean_group(text: str) -> str:
    """A team name: spaces squeezed, at most ``MAX_GROUP`` characters (may be empty)."""
    value = " ".join(_line(text).split())
    if len(value) > MAX_GROUP or _has_control(value):
        raise InvalidValue("group name too long", key="tickets.error.bad_group",
                           max=MAX_GROUP)
    return value


def parse_priority(text: str) -> Priority:
    try:
        return Priority(text.strip())
    except ValueError:
        raise InvalidValue(f"priority {text[:20]!r}", key="tickets.error.bad_priority") from None


def parse_event(text: str) -> ActionEvent:
    try:
        return ActionEvent(text.strip())
    except ValueError:
        raise InvalidValue(f"action event {text[:20]!r}",
                           key="tickets.error.bad_event") from None


def parse_user_id(text: str) -> int | None:
    """A user picked from a list ("" for nobody)."""
    return picked_id(text, "tickets.error.bad_agent")


def clean_action(text: str) -> str:
    value = _line(text)
    if not value:
        raise InvalidValue("action is empty", key="tickets.error.empty_action")
    if len(value) > MAX_ACTION or _has_control(value):
        raise InvalidValue("action too long", key="tickets.error.bad_action", max=MAX_ACTION)
    return value


def parse_due(text: str, zone: tzinfo) -> datetime | None:
    """A due date-time typed in ``zone`` (``2026-03-01T09:30``; a date alone is 00:00),
    as a UTC instant; None when empty."""
    if not text.strip():
        return None
    try:
        return call_history.parse_moment(text, zone)[0]
    except InvalidValue:
        raise InvalidValue(f"due {text[:32]!r}", key="tickets.error.bad_due",
                           value=text.strip()[:32]) from None


# -- Drafts and the change log -----------------------------------------------------------

@dataclass(frozen=True)
class TicketDraft:
    """A ticket's editable fields, cleaned."""

    contact_id: int
    subject: str
    description: str = ""
    priority: Priority = Priority.NORMAL
    agent_id: int | None = None
    group: str = ""


@dataclass(frozen=True)
class ActionDraft:
    description: str
    due_at: datetime | None = None
    agent_id: int | None = None


@dataclass(frozen=True)
class LogEntry:
    """One change: ``field`` went from ``old`` to ``new`` (texts as shown), by ``user_id``
    at ``at``; ``action_id`` when it was one of the ticket's actions."""

    field: str
    old: str
    new: str
    user_id: int | None
    at: datetime
    action_id: int | None = None
    user_name: str = ""


# The ticket fields the log follows, in the order a form shows them.
LOGGED_FIELDS = ("subject", "description", "priority", "agent", "group")


def shown_values(draft: TicketDraft, agent_name: str) -> dict[str, str]:
    """The logged fields of ``draft`` as the log writes them (the agent by name)."""
    return {"subject": draft.subject, "description": draft.description,
            "priority": draft.priority.value, "agent": agent_name, "group": draft.group}


def diff_fields(before: Mapping[str, str], after: Mapping[str, str], user_id: int | None,
                at: datetime) -> list[LogEntry]:
    """One entry per logged field whose value changed."""
    return [LogEntry(name, before.get(name, ""), after.get(name, ""), user_id, at)
            for name in LOGGED_FIELDS if before.get(name, "") != after.get(name, "")]


# -- The list's filter -------------------------------------------------------------------

@dataclass(frozen=True)
class TicketFilter:
    """What the ticket list shows; None means "any". ``since`` inclusive, ``until``
    exclusive, both on the ticket's creation time."""

    state: TicketState | None = None
    since: datetime | None = None
    until: datetime | None = None
    contact_id: int | None = None
    agent_id: int | None = None
    company_id: int | None = None
    priority: Priority | None = None
    # A contact's name, email, company or number as typed (crm.contact_search reads it).
    contact_query: str = ""


@dataclass(frozen=True)
class FilterReading:
    filter: TicketFilter
    errors: Mapping[str, InvalidValue] = field(default_factory=dict)


FILTER_FIELDS = ("state", "from", "to", "q", "contact", "agent", "company", "priority")
MAX_QUERY = 100


def _state(text: str) -> TicketState | None:
    if not text.strip():
        return None
    try:
        return TicketState(text.strip())
    except ValueError:
        raise InvalidValue(f"state {text[:20]!r}", key="tickets.error.bad_state") from None


def _optional_priority(text: str) -> Priority | None:
    return parse_priority(text) if text.strip() else None


def _id(text: str) -> int | None:
    return picked_id(text, "tickets.error.bad_choice")


def read_filter(params: Mapping[str, str], zone: tzinfo) -> FilterReading:
    """The filter the list's query string asks for (``FILTER_FIELDS``), with an error
    per field it cannot read."""
    errors: dict[str, InvalidValue] = {}

    def read(name: str, parse: Callable[[str], T], default: T) -> T:
        try:
            return parse(params.get(name, ""))
        except InvalidValue as exc:
            errors[name] = exc
            return default

    def moment(name: str) -> tuple[datetime, call_history.Precision] | None:
        text = params.get(name, "")
        if not text.strip():
            return None
        return read(name, lambda t: call_history.parse_moment(t, zone), None)

    since = moment("from")
    to = moment("to")
    found = TicketFilter(
        state=read("state", _state, None),
        since=None if since is None else since[0],
        until=None if to is None else to[0] + to[1].value,
        contact_id=read("contact", _id, None),
        agent_id=read("agent", _id, None),
        company_id=read("company", _id, None),
        priority=read("priority", _optional_priority, None),
        contact_query=params.get("q", "").strip()[:MAX_QUERY],
    )
    return FilterReading(found, errors)
