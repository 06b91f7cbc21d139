"""Attended transfer: the consult call's life, as a transition table (sans-IO).

Theory of operation. While the agent talks to the customer (call A), "consult" puts A on
hold (the customer hears music) and dials the target (call C); the agent's line audio
follows C. From there the agent either *completes* (A is sent a REFER with Replaces
naming C: the customer's phone calls the target and replaces our leg, so A and C talk
and both of the agent's legs end) or *goes back* (C is hung up, A taken off hold). If C
fails (busy, unknown number) or hangs up, A stays on hold until the agent goes back.

*Conference* instead joins all three (A off hold, A and C mixed with the agent). Then the
agent hanging up either call ends both: the agent leaving ends the conference, as a
desk phone's conference would. If A or C hangs up, the agent stays on the other call.

The state lives on A; ``gateway/lines.py`` feeds events in and acts on the new state.
"""

from __future__ import annotations

import enum


class ConsultState(enum.Enum):
    NONE = "none"              # no consult: A is a plain call
    DIALING = "dialing"        # C is being called; A on hold
    TALKING = "talking"        # the agent talks to C; A on hold
    COMPLETING = "completing"  # REFER with Replaces sent on A; waiting for its outcome
    CONFERENCE = "conference"  # A, C and the agent all hear each other


class ConsultEvent(enum.Enum):
    START = "start"                # the agent asked to consult
    TARGET_ANSWERED = "answered"   # C connected
    TARGET_ENDED = "target_ended"  # C failed or hung up (or was hung up by "back")
    COMPLETE = "complete"          # the agent asked to join A and C
    TRANSFER_FAILED = "refused"    # A's phone refused the REFER, or the new call failed
    BACK = "back"                  # the agent returns to A
    CONFERENCE = "conference"      # the agent joins A, C and themself
    JOIN_FAILED = "join_failed"    # the worker could not send the REFER or join the audio


class IllegalConsult(Exception):
    """The event is not possible in the current state; ``code`` is a translation key."""

    def __init__(self, state: ConsultState, event: ConsultEvent, code: str) -> None:
        super().__init__(f"{event.value} while the consult is {state.value}")
        self.code = code


S, E = ConsultState, ConsultEvent
TRANSITIONS: dict[tuple[ConsultState, ConsultEvent], ConsultState] = {
    (S.NONE, E.START): S.DIALING,
    (S.DIALING, E.TARGET_ANSWERED): S.TALKING,
    (S.DIALING, E.TARGET_ENDED): S.NONE,
    (S.DIALING, E.BACK): S.NONE,
    (S.TALKING, E.COMPLETE): S.COMPLETING,
    (S.TALKING, E.CONFERENCE): S.CONFERENCE,
    # The target left the conference: the agent and the customer carry on.
    (S.CONFERENCE, E.TARGET_ENDED): S.NONE,
    (S.TALKING, E.TARGET_ENDED): S.NONE,
    (S.TALKING, E.BACK): S.NONE,
    (S.COMPLETING, E.TRANSFER_FAILED): S.TALKING,
    (S.COMPLETING, E.JOIN_FAILED): S.TALKING,
    (S.CONFERENCE, E.JOIN_FAILED): S.TALKING,
    # The target's phone ends our leg to it once it has taken the customer.
    (S.COMPLETING, E.TARGET_ENDED): S.COMPLETING,
    # "Back" with no consult left (the target was busy): just take A off hold.
    (S.NONE, E.BACK): S.NONE,
}

# Why an event is refused in a state, for the agent.
_REFUSALS = {
    E.START: "consult_in_progress",
    E.COMPLETE: "consult_not_connected",
    E.CONFERENCE: "consult_not_connected",
    E.BACK: "consult_completing",
}


def next_state(state: ConsultState, event: ConsultEvent) -> ConsultState:
    """The state after ``event``; ``IllegalConsult`` if the table has no such move."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        code = ("consult_in_conference" if state is S.CONFERENCE
                else _REFUSALS.get(event, "consult_not_possible"))
        raise IllegalConsult(state, event, code) from None
