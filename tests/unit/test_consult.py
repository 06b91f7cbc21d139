"""The consult (attended transfer) transition table."""

from __future__ import annotations

import pytest

from gateway.consult import (
    TRANSITIONS,
    ConsultEvent,
    ConsultState,
    IllegalConsult,
    next_state,
)

S, E = ConsultState, ConsultEvent


def run(*events: ConsultEvent) -> ConsultState:
    state = S.NONE
    for event in events:
        state = next_state(state, event)
    return state


def test_the_two_outcomes_and_a_failed_target() -> None:
    assert run(E.START, E.TARGET_ANSWERED, E.COMPLETE) is S.COMPLETING
    assert run(E.START, E.TARGET_ANSWERED, E.BACK) is S.NONE
    assert run(E.START, E.TARGET_ENDED, E.BACK) is S.NONE  # busy target, then back
    assert run(E.START, E.TARGET_ANSWERED, E.COMPLETE, E.TRANSFER_FAILED) is S.TALKING


def test_a_conference_and_the_target_leaving_it() -> None:
    assert run(E.START, E.TARGET_ANSWERED, E.CONFERENCE) is S.CONFERENCE
    assert run(E.START, E.TARGET_ANSWERED, E.CONFERENCE, E.TARGET_ENDED) is S.NONE


def test_a_join_the_worker_could_not_make_returns_to_the_consult() -> None:
    assert run(E.START, E.TARGET_ANSWERED, E.CONFERENCE, E.JOIN_FAILED) is S.TALKING
    assert run(E.START, E.TARGET_ANSWERED, E.COMPLETE, E.JOIN_FAILED) is S.TALKING


@pytest.mark.parametrize(("events", "code"), [
    ((E.START, E.START), "consult_in_progress"),
    ((E.START, E.COMPLETE), "consult_not_connected"),
    ((E.COMPLETE,), "consult_not_connected"),
    ((E.START, E.TARGET_ANSWERED, E.COMPLETE, E.BACK), "consult_completing"),
    ((E.START, E.CONFERENCE), "consult_not_connected"),
    ((E.START, E.TARGET_ANSWERED, E.CONFERENCE, E.BACK), "consult_in_conference"),
    ((E.START, E.TARGET_ANSWERED, E.CONFERENCE, E.COMPLETE), "consult_in_conference"),
])
def test_impossible_moves_say_why(events: tuple[ConsultEvent, ...], code: str) -> None:
    with pytest.raises(IllegalConsult) as illegal:
        run(*events)
    assert illegal.value.code == code


def test_every_state_is_reachable_and_can_be_left() -> None:
    reached = {S.NONE} | set(TRANSITIONS.values())
    assert reached == set(ConsultState)
    assert {state for state, _ in TRANSITIONS} == set(ConsultState)
