"""An agent's working state, as data: statuses, events and the transition table.

Theory of operation
-------------------
An agent who is ``logged_out`` takes no calls. ``Login`` (from the page, or ``**1`` on
the keypad) makes them ``available``: the only status in which the gateway lets a call
ring them. ``Pause`` (with an administrator-defined pause code, ``**2<code>``) makes them
``paused``; pausing again only changes the code. ``Resume`` (``**3``) returns to
``available``. When a call ends and the campaign wants a disposition, ``WrapUp`` holds
the agent in ``wrap_up`` until ``Finish`` (the disposition saved). ``Logout`` (``**0``)
works from anywhere. Being on a call is not a status here: the gateway knows the calls,
and an agent is busy while they have one.

Anything missing from ``TRANSITIONS`` is refused with ``IllegalChange``, whose key tells
the agent what to do instead. A change that leaves the status and the code as they were
is reported as ``changed=False`` so the log keeps one row per real change.

This module does no I/O; crm/agent_state_store.py keeps the current status and the log.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from crm.errors import CrmError


class Status(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    PAUSED = "paused"
    WRAP_UP = "wrap_up"


class Event(enum.StrEnum):
    LOGIN = "login"
    LOGOUT = "logout"
    PAUSE = "pause"
    RESUME = "resume"
    WRAP_UP = "wrap_up"
    FINISH = "finish"


TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (Status.LOGGED_OUT, Event.LOGIN): Status.AVAILABLE,
    (Status.LOGGED_OUT, Event.LOGOUT): Status.LOGGED_OUT,
    (Status.AVAILABLE, Event.LOGIN): Status.AVAILABLE,
    (Status.AVAILABLE, Event.LOGOUT): Status.LOGGED_OUT,
    (Status.AVAILABLE, Event.PAUSE): Status.PAUSED,
    (Status.AVAILABLE, Event.RESUME): Status.AVAILABLE,
    (Status.AVAILABLE, Event.WRAP_UP): Status.WRAP_UP,
    (Status.AVAILABLE, Event.FINISH): Status.AVAILABLE,
    (Status.PAUSED, Event.LOGIN): Status.PAUSED,
    (Status.PAUSED, Event.LOGOUT): Status.LOGGED_OUT,
    (Status.PAUSED, Event.PAUSE): Status.PAUSED,
    (Status.PAUSED, Event.RESUME): Status.AVAILABLE,
    # A call that ends while paused (the agent paused during it) leaves them paused.
    (Status.PAUSED, Event.WRAP_UP): Status.PAUSED,
    (Status.PAUSED, Event.FINISH): Status.PAUSED,
    (Status.WRAP_UP, Event.LOGIN): Status.WRAP_UP,
    (Status.WRAP_UP, Event.LOGOUT): Status.LOGGED_OUT,
    (Status.WRAP_UP, Event.PAUSE): Status.PAUSED,
    (Status.WRAP_UP, Event.WRAP_UP): Status.WRAP_UP,
    (Status.WRAP_UP, Event.FINISH): Status.AVAILABLE,
}

# What to tell an agent whose request does not fit their status.
_REFUSALS: dict[tuple[Status, Event], str] = {
    (Status.LOGGED_OUT, Event.PAUSE): "agent.error.log_in_first",
    (Status.LOGGED_OUT, Event.RESUME): "agent.error.log_in_first",
    (Status.LOGGED_OUT, Event.WRAP_UP): "agent.error.log_in_first",
    (Status.LOGGED_OUT, Event.FINISH): "agent.error.log_in_first",
    (Status.WRAP_UP, Event.RESUME): "agent.error.finish_wrap_up",
}


class IllegalChange(CrmError):
    """The event does not apply to the agent's current status."""

    key = "agent.error.illegal_change"


@dataclass(frozen=True)
class AgentState:
    """Where an agent stands, and since when."""

    status: Status
    since: datetime
    pause_code_id: int | None = None

    @property
    def takes_calls(self) -> bool:
        """Whether a new call may ring this agent (else the gateway answers busy)."""
        return self.status is Status.AVAILABLE


@dataclass(frozen=True)
class Change:
    """The result of applying an event: the new state, and whether anything changed."""

    state: AgentState
    changed: bool


LOGGED_OUT_SINCE_EVER = datetime(1970, 1, 1, tzinfo=UTC)


def initial_state(at: datetime = LOGGED_OUT_SINCE_EVER) -> AgentState:
    return AgentState(Status.LOGGED_OUT, at)


def apply(state: AgentState, event: Event, at: datetime,
          pause_code_id: int | None = None) -> Change:
    """The state after ``event`` at ``at``; ``pause_code_id`` is required with PAUSE."""
    target = TRANSITIONS.get((state.status, event))
    if target is None:
        key = _REFUSALS.get((state.status, event), IllegalChange.key)
        raise IllegalChange(f"{event} is not possible while {state.status}", key=key)
    code: int | None
    if event is Event.PAUSE:
        if pause_code_id is None:
            raise IllegalChange("a pause needs a pause code", key="agent.error.pause_code")
        code = pause_code_id
    elif target is Status.PAUSED:
        code = state.pause_code_id
    else:
        code = None
    if target is state.status and code == state.pause_code_id:
        return Change(state, changed=False)
    return Change(AgentState(target, at, code), changed=True)
