"""The life of a call record, as data: states, events, transitions and outcome rules.

Theory of operation
-------------------
A record starts with ``Dialed`` (the agent calls out: state ``dialing``) or ``Incoming``
(a call arrives for the agent: state ``ringing``). ``Progress`` (180/183) may repeat while
dialing. ``Answered`` makes it ``connected``. ``Ended`` closes it from any live state,
and the outcome is decided then, once, by ``decide_outcome`` from what was known at that
moment: whether it was answered, its direction, who ended it, why, and the SIP code. A
call the agent handed on (a blind transfer's REFER accepted by a final NOTIFY 2xx, or an
attended transfer completed) ends with the reason ``transferred``.
Everything not in ``TRANSITIONS`` is an ``IllegalTransition``, named with the state and
the event, so a gateway bug shows up as a clear error instead of a wrong report.

This module does no I/O; crm/call_records.py stores what it returns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, get_args


class CallState(enum.StrEnum):
    RINGING = "ringing"
    DIALING = "dialing"
    CONNECTED = "connected"
    ENDED = "ended"


class Outcome(enum.StrEnum):
    COMPLETED = "completed"      # answered, whoever hung up
    BUSY = "busy"                # 486 / 600
    NO_ANSWER = "no_answer"      # outbound: ring timeout or 408
    MISSED = "missed"            # inbound: caller gave up, or nobody answered in time
    REJECTED = "rejected"        # inbound declined by the agent; outbound 603
    CANCELLED = "cancelled"      # outbound: the agent hung up before the answer
    NOT_FOUND = "not_found"      # 404 / 484 / 604
    UNREACHABLE = "unreachable"  # 480 / 503, no route, registrar down
    FAILED = "failed"            # anything else
    INTERRUPTED = "interrupted"  # the server or a line worker died
    TRANSFERRED = "transferred"  # answered, then handed on (blind or attended transfer)


Direction = Literal["inbound", "outbound"]
Side = Literal["agent", "remote", "system"]
# Why a call ended. A closed set, so a typo cannot quietly turn into "failed".
Reason = Literal[
    "hangup",          # BYE, or CANCEL before the answer
    "rejected",        # the agent declined, or the far end answered with a refusal
    "timeout",         # nobody answered within the ring time
    "sip_error",       # the far end answered the INVITE with an error (see sip_code)
    "no_route",        # no transport or route to the far end
    "registrar_down",  # the agent's account is not registered
    "interrupted",     # the process handling the call died
    "transferred",     # the far end took the call on to a transfer target
    "error",           # anything else
]
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
SIDES: tuple[Side, ...] = get_args(Side)
REASONS: tuple[Reason, ...] = get_args(Reason)


class IllegalTransition(Exception):
    """An event that cannot happen in the record's current state (a caller's bug)."""

    def __init__(self, state: CallState | None, event: Event) -> None:
        where = "a new record" if state is None else f"state {state.value!r}"
        super().__init__(f"{type(event).__name__} is not allowed in {where}")
        self.state = state
        self.event = event


@dataclass(frozen=True)
class Dialed:
    """The agent placed an outbound call."""


@dataclass(frozen=True)
class Incoming:
    """An inbound call was offered to the agent."""


@dataclass(frozen=True)
class Progress:
    """The far end is ringing (180) or playing early media (183)."""

    sip_code: int = 180

    def __post_init__(self) -> None:
        if not 101 <= self.sip_code <= 199:
            raise ValueError(f"Progress: {self.sip_code} is not a provisional code (101-199)")


@dataclass(frozen=True)
class Answered:
    """The call was answered (200 OK to the INVITE, either way)."""


@dataclass(frozen=True)
class Ended:
    """The call is over: why, the final SIP code if any, and which side ended it."""

    reason: Reason
    sip_code: int | None = None
    side: Side = "system"

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"Ended.reason {self.reason!r}: use one of {', '.join(REASONS)}")
        if self.side not in SIDES:
            raise ValueError(f"Ended.side {self.side!r}: use one of {', '.join(SIDES)}")
        if self.sip_code is not None and not 100 <= self.sip_code <= 699:
            raise ValueError(f"Ended.sip_code {self.sip_code}: not a SIP status code")


Event = Dialed | Incoming | Progress | Answered | Ended

# (state before, event type) -> state after. None is "no record yet".
TRANSITIONS: dict[tuple[CallState | None, type[Event]], CallState] = {
    (None, Dialed): CallState.DIALING,
    (None, Incoming): CallState.RINGING,
    (CallState.DIALING, Progress): CallState.DIALING,
    (CallState.DIALING, Answered): CallState.CONNECTED,
    (CallState.DIALING, Ended): CallState.ENDED,
    (CallState.RINGING, Answered): CallState.CONNECTED,
    (CallState.RINGING, Ended): CallState.ENDED,
    (CallState.CONNECTED, Ended): CallState.ENDED,
}

# Final responses to an outbound INVITE, by meaning.
_OUTBOUND_CODES: dict[int, Outcome] = {
    486: Outcome.BUSY,
    600: Outcome.BUSY,
    603: Outcome.REJECTED,
    404: Outcome.NOT_FOUND,
    484: Outcome.NOT_FOUND,
    604: Outcome.NOT_FOUND,
    480: Outcome.UNREACHABLE,
    503: Outcome.UNREACHABLE,
    408: Outcome.NO_ANSWER,
}


def decide_outcome(answered: bool, direction: Direction, event: Ended) -> Outcome:
    """The outcome of a call that ends with ``event``.

    Inbound calls before the answer are judged by who ended them, because the SIP code
    is then one we sent, not news from the far end. Outbound calls before the answer
    are judged by the far end's final response.
    """
    if event.reason == "interrupted":
        # Even an answered call: the report must show it was cut, not finished.
        return Outcome.INTERRUPTED
    if answered:
        # Only an answered call can be transferred (REFER is an in-dialog request).
        return Outcome.TRANSFERRED if event.reason == "transferred" else Outcome.COMPLETED
    if direction == "inbound":
        if event.side == "agent":
            return Outcome.REJECTED
        if event.side == "remote" or event.reason == "timeout":
            return Outcome.MISSED
        return Outcome.FAILED
    if event.side == "agent" and event.reason in ("hangup", "rejected"):
        return Outcome.CANCELLED
    if event.sip_code is not None and event.sip_code in _OUTBOUND_CODES:
        return _OUTBOUND_CODES[event.sip_code]
    if event.reason == "timeout":
        return Outcome.NO_ANSWER
    if event.reason in ("no_route", "registrar_down"):
        return Outcome.UNREACHABLE
    if event.reason == "rejected":
        return Outcome.REJECTED
    return Outcome.FAILED


@dataclass(frozen=True)
class CallProgress:
    """What the state machine knows about one call; the storage row mirrors it."""

    direction: Direction
    state: CallState
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: Outcome | None = None
    sip_code: int | None = None
    hangup_side: Side | None = None


def _next_state(state: CallState | None, event: Event) -> CallState:
    try:
        return TRANSITIONS[(state, type(event))]
    except KeyError:
        raise IllegalTransition(state, event) from None


def begin(event: Dialed | Incoming, at: datetime) -> CallProgress:
    """A new call's first state: ``Dialed`` for outbound, ``Incoming`` for inbound."""
    state = _next_state(None, event)
    direction: Direction = "outbound" if isinstance(event, Dialed) else "inbound"
    return CallProgress(direction=direction, state=state, started_at=at)


def advance(progress: CallProgress, event: Event, at: datetime) -> CallProgress:
    """The call after ``event`` at ``at``; raises ``IllegalTransition``."""
    state = _next_state(progress.state, event)
    if isinstance(event, Answered):
        return replace(progress, state=state, answered_at=at)
    if isinstance(event, Ended):
        outcome = decide_outcome(progress.answered_at is not None, progress.direction, event)
        return replace(progress, state=state, ended_at=at, outcome=outcome,
                       sip_code=event.sip_code, hangup_side=event.side)
    return replace(progress, state=state)
