"""crm.agent_states (the pure machine), crm.pause_codes and crm.agent_state_store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm import agent_state_store, pause_codes, users
from crm.agent_states import (
    TRANSITIONS,
    AgentState,
    Event,
    IllegalChange,
    Status,
    apply,
    initial_state,
)
from crm.db import Database, open_database
from crm.errors import Conflict, InvalidValue, NotFound
from tests.unit.test_crm_call_records import FAST

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def test_only_an_available_agent_takes_calls() -> None:
    assert [s for s in Status if AgentState(s, T0).takes_calls] == [Status.AVAILABLE]


def test_a_working_day() -> None:
    state = initial_state()
    steps = [(Event.LOGIN, None, Status.AVAILABLE), (Event.PAUSE, 7, Status.PAUSED),
             (Event.PAUSE, 8, Status.PAUSED), (Event.RESUME, None, Status.AVAILABLE),
             (Event.WRAP_UP, None, Status.WRAP_UP), (Event.FINISH, None, Status.AVAILABLE),
             (Event.LOGOUT, None, Status.LOGGED_OUT)]
    for minute, (event, code, expected) in enumerate(steps, start=1):
        change = apply(state, event, T0 + timedelta(minutes=minute), code)
        assert change.changed and change.state.status is expected
        assert change.state.since == T0 + timedelta(minutes=minute)
        state = change.state
        assert state.pause_code_id == (code if expected is Status.PAUSED else None)


def test_repeating_a_status_is_not_a_change() -> None:
    available = apply(initial_state(), Event.LOGIN, T0).state
    again = apply(available, Event.LOGIN, T0 + timedelta(hours=1))
    assert not again.changed and again.state is available
    paused = apply(available, Event.PAUSE, T0, 3).state
    assert not apply(paused, Event.PAUSE, T0 + timedelta(minutes=5), 3).changed


@pytest.mark.parametrize("event", [Event.PAUSE, Event.RESUME, Event.FINISH, Event.WRAP_UP])
def test_a_logged_out_agent_must_log_in_first(event: Event) -> None:
    with pytest.raises(IllegalChange) as caught:
        apply(initial_state(), event, T0, 1)
    assert caught.value.key == "agent.error.log_in_first"


def test_resume_does_not_skip_the_wrap_up() -> None:
    wrap = AgentState(Status.WRAP_UP, T0)
    with pytest.raises(IllegalChange) as caught:
        apply(wrap, Event.RESUME, T0)
    assert caught.value.key == "agent.error.finish_wrap_up"


def test_a_pause_needs_a_code() -> None:
    with pytest.raises(IllegalChange) as caught:
        apply(AgentState(Status.AVAILABLE, T0), Event.PAUSE, T0)
    assert caught.value.key == "agent.error.pause_code"


def test_a_call_ending_during_a_pause_keeps_the_pause() -> None:
    paused = AgentState(Status.PAUSED, T0, pause_code_id=4)
    after = apply(paused, Event.WRAP_UP, T0 + timedelta(minutes=1))
    assert not after.changed and after.state.pause_code_id == 4


@given(st.lists(st.tuples(st.sampled_from(list(Event)), st.integers(1, 5)), max_size=30))
def test_any_sequence_ends_in_a_known_status_with_a_code_only_when_paused(
        events: list[tuple[Event, int]]) -> None:
    state = initial_state()
    for minute, (event, code) in enumerate(events):
        try:
            state = apply(state, event, T0 + timedelta(minutes=minute), code).state
        except IllegalChange:
            assert (state.status, event) not in TRANSITIONS
        assert (state.pause_code_id is not None) == (state.status is Status.PAUSED)
        if event is Event.LOGOUT:
            assert state.status is Status.LOGGED_OUT


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


async def test_pause_codes_are_digits_with_a_unique_code(db: Database) -> None:
    lunch = await pause_codes.create(db, " 2 ", "  Lunch   break ", productive=False)
    assert (lunch.code, lunch.name, lunch.active) == ("2", "Lunch break", True)
    with pytest.raises(Conflict):
        await pause_codes.create(db, "2", "Other", productive=True)
    for bad_code in ("", "12345", "2a", "*2", "٣"):
        with pytest.raises(InvalidValue):
            await pause_codes.create(db, bad_code, "Training", productive=True)
    for bad_name in ("", "x" * 61, "tab\x07bell"):
        with pytest.raises(InvalidValue):
            await pause_codes.create(db, "3", bad_name, productive=True)
    assert [c.code for c in await pause_codes.list_codes(db)] == ["2"]


async def test_an_inactive_code_cannot_be_used(db: Database) -> None:
    code = await pause_codes.create(db, "5", "Training", productive=True)
    assert (await pause_codes.find_active(db, "5")).id == code.id
    await pause_codes.update(db, code.id, "Training", productive=True, active=False)
    with pytest.raises(NotFound):
        await pause_codes.find_active(db, "5")
    with pytest.raises(NotFound):
        await pause_codes.update(db, 999, "Nope", productive=False, active=True)


async def test_the_store_keeps_one_open_log_row(db: Database) -> None:
    user = await users.create_user(db, "ana", "long enough password", hashing=FAST)
    lunch = await pause_codes.create(db, "1", "Lunch", productive=False)
    assert (await agent_state_store.get(db, user.id)).status is Status.LOGGED_OUT
    await agent_state_store.change(db, user.id, Event.LOGIN, "system", T0)
    await agent_state_store.change(db, user.id, Event.LOGIN, "page", T0 + timedelta(minutes=1))
    await agent_state_store.change(db, user.id, Event.PAUSE, "keypad",
                                   T0 + timedelta(minutes=2), lunch.id)
    ben = await users.create_user(db, "ben", "long enough password", hashing=FAST)
    with pytest.raises(IllegalChange):
        await agent_state_store.change(db, ben.id, Event.PAUSE, "page",
                                       T0 + timedelta(minutes=3), lunch.id)
    assert await agent_state_store.log(db, ben.id, T0, T0 + timedelta(hours=1)) == []
    state = await agent_state_store.get(db, user.id)
    assert (state.status, state.pause_code_id, state.since) == (
        Status.PAUSED, lunch.id, T0 + timedelta(minutes=2))
    entries = await agent_state_store.log(db, user.id, T0, T0 + timedelta(hours=1))
    assert [(e.status, e.source, e.ended_at) for e in entries] == [
        (Status.AVAILABLE, "system", T0 + timedelta(minutes=2)),
        (Status.PAUSED, "keypad", None)]
