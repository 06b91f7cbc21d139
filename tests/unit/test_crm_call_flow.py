"""crm.call_flow: the transition table and the outcome rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.call_flow import (
    TRANSITIONS,
    Answered,
    CallProgress,
    CallState,
    Dialed,
    Direction,
    Ended,
    Event,
    IllegalTransition,
    Incoming,
    Outcome,
    Progress,
    advance,
    begin,
    decide_outcome,
)

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
SAMPLE_EVENTS: list[Event] = [Dialed(), Incoming(), Progress(180), Answered(),
                              Ended("hangup", None, "remote")]
LEGAL = {
    (None, Dialed): CallState.DIALING,
    (None, Incoming): CallState.RINGING,
    (CallState.DIALING, Progress): CallState.DIALING,
    (CallState.DIALING, Answered): CallState.CONNECTED,
    (CallState.DIALING, Ended): CallState.ENDED,
    (CallState.RINGING, Answered): CallState.CONNECTED,
    (CallState.RINGING, Ended): CallState.ENDED,
    (CallState.CONNECTED, Ended): CallState.ENDED,
}


def _at(state: CallState) -> CallProgress:
    direction: Direction = "inbound" if state is CallState.RINGING else "outbound"
    answered = T0 if state in (CallState.CONNECTED, CallState.ENDED) else None
    return CallProgress(direction=direction, state=state, started_at=T0, answered_at=answered)


def test_table_is_exactly_the_documented_one() -> None:
    assert TRANSITIONS == LEGAL


@pytest.mark.parametrize(("state", "event"), list(product(list(CallState), SAMPLE_EVENTS)),
                         ids=lambda v: getattr(v, "value", type(v).__name__))
def test_every_state_event_pair(state: CallState, event: Event) -> None:
    expected = LEGAL.get((state, type(event)))
    if expected is None:
        with pytest.raises(IllegalTransition, match=f"{type(event).__name__} is not allowed"):
            advance(_at(state), event, T0)
    else:
        assert advance(_at(state), event, T0).state is expected


def test_begin() -> None:
    assert begin(Dialed(), T0) == CallProgress("outbound", CallState.DIALING, T0)
    assert begin(Incoming(), T0) == CallProgress("inbound", CallState.RINGING, T0)


def test_ended_is_final_and_error_names_state() -> None:
    ended = advance(begin(Dialed(), T0), Ended("hangup", None, "agent"), T0)
    with pytest.raises(IllegalTransition, match="state 'ended'") as info:
        advance(ended, Ended("hangup", None, "remote"), T0)
    assert info.value.state is CallState.ENDED


def test_full_outbound_call_keeps_times() -> None:
    p = begin(Dialed(), T0)
    p = advance(p, Progress(183), T0 + timedelta(seconds=1))
    p = advance(p, Answered(), T0 + timedelta(seconds=5))
    p = advance(p, Ended("hangup", 200, "remote"), T0 + timedelta(seconds=65))
    assert p.state is CallState.ENDED and p.outcome is Outcome.COMPLETED
    assert p.answered_at == T0 + timedelta(seconds=5)
    assert p.ended_at == T0 + timedelta(seconds=65)
    assert p.hangup_side == "remote" and p.sip_code == 200


@pytest.mark.parametrize(("code", "outcome"), [
    (486, Outcome.BUSY), (600, Outcome.BUSY), (603, Outcome.REJECTED),
    (404, Outcome.NOT_FOUND), (484, Outcome.NOT_FOUND), (604, Outcome.NOT_FOUND),
    (480, Outcome.UNREACHABLE), (503, Outcome.UNREACHABLE), (408, Outcome.NO_ANSWER),
    (500, Outcome.FAILED), (403, Outcome.FAILED), (488, Outcome.FAILED),
])
def test_outbound_outcome_by_sip_code(code: int, outcome: Outcome) -> None:
    assert decide_outcome(False, "outbound", Ended("sip_error", code, "remote")) is outcome


@pytest.mark.parametrize(("answered", "direction", "event", "outcome"), [
    (True, "outbound", Ended("hangup", None, "agent"), Outcome.COMPLETED),
    (True, "inbound", Ended("hangup", None, "remote"), Outcome.COMPLETED),
    (True, "inbound", Ended("interrupted", None, "system"), Outcome.INTERRUPTED),
    (False, "outbound", Ended("interrupted", None, "system"), Outcome.INTERRUPTED),
    (True, "inbound", Ended("transferred", None, "remote"), Outcome.TRANSFERRED),
    (True, "outbound", Ended("transferred", None, "agent"), Outcome.TRANSFERRED),
    # Nothing unanswered can be transferred: judged as any other end.
    (False, "inbound", Ended("transferred", None, "remote"), Outcome.MISSED),
    (False, "outbound", Ended("hangup", 487, "agent"), Outcome.CANCELLED),
    (False, "outbound", Ended("timeout", None, "system"), Outcome.NO_ANSWER),
    (False, "outbound", Ended("no_route", None, "system"), Outcome.UNREACHABLE),
    (False, "outbound", Ended("registrar_down", None, "system"), Outcome.UNREACHABLE),
    (False, "outbound", Ended("rejected", None, "remote"), Outcome.REJECTED),
    (False, "outbound", Ended("error", None, "system"), Outcome.FAILED),
    (False, "inbound", Ended("hangup", 487, "remote"), Outcome.MISSED),
    (False, "inbound", Ended("timeout", 408, "system"), Outcome.MISSED),
    (False, "inbound", Ended("rejected", 603, "agent"), Outcome.REJECTED),
    (False, "inbound", Ended("hangup", None, "agent"), Outcome.REJECTED),
    (False, "inbound", Ended("error", 500, "system"), Outcome.FAILED),
])
def test_outcome_rules(answered: bool, direction: str, event: Ended, outcome: Outcome) -> None:
    assert decide_outcome(answered, direction, event) is outcome  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [
    {"reason": "hung up"}, {"reason": "hangup", "side": "caller"},
    {"reason": "hangup", "sip_code": 42},
])
def test_ended_validates(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Ended(**kwargs)  # type: ignore[arg-type]


def test_progress_validates() -> None:
    with pytest.raises(ValueError):
        Progress(200)


events = st.one_of(
    st.just(Dialed()), st.just(Incoming()), st.just(Answered()),
    st.sampled_from([180, 183]).map(Progress),
    st.builds(Ended, reason=st.sampled_from(["hangup", "timeout", "sip_error", "interrupted"]),
              sip_code=st.one_of(st.none(), st.integers(300, 699)),
              side=st.sampled_from(["agent", "remote", "system"])),
)


@given(st.sampled_from([Dialed(), Incoming()]), st.lists(events, max_size=8))
def test_any_sequence_is_consistent(first: Dialed | Incoming, rest: list[Event]) -> None:
    p = begin(first, T0)
    for event in rest:
        try:
            p = advance(p, event, T0)
        except IllegalTransition:
            continue
    assert (p.state is CallState.ENDED) == (p.outcome is not None) == (p.ended_at is not None)
    if p.outcome is Outcome.COMPLETED:
        assert p.answered_at is not None
