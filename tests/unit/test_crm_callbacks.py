"""The pure core of callbacks: validation, the transition table, permissions, urgency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm import callbacks
from crm.callbacks import (
    Action,
    Callback,
    IllegalAction,
    InvalidCallback,
    Link,
    State,
    Urgency,
)
from crm.errors import InvalidValue
from crm.users import Role

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


def _validate(**overrides: object) -> callbacks.NewCallback:
    args: dict[str, object] = dict(
        user_id=7, queue="  Ventas   Madrid ", contact_id=None, due="2026-03-05T15:30",
        expiry="3600", phones=["911 23 45 67", "", "+34911234567", "600111222"],
        reason="Call about\r\n the   invoice ", links=[("Order", "https://shop.example/o/1"),
                                                      ("", "")],
        region="ES", area_code="", zone=UTC, now=NOW)
    args.update(overrides)
    return callbacks.validate(**args)  # type: ignore[arg-type]


def _errors(**overrides: object) -> dict[str, str]:
    with pytest.raises(InvalidCallback) as info:
        _validate(**overrides)
    return {name: key for name, (key, _) in info.value.errors.items()}


def test_valid_input_is_cleaned() -> None:
    new = _validate()
    assert new.queue == "Ventas Madrid"
    assert new.phones == ("+34911234567", "+34600111222")  # duplicates dropped, order kept
    assert new.reason == "Call about\nthe invoice"
    assert new.links == (Link("Order", "https://shop.example/o/1"),)
    assert new.due_at == datetime(2026, 3, 5, 15, 30, tzinfo=UTC)
    assert new.expiry_seconds == 3600


def test_due_time_is_read_in_the_deployment_zone() -> None:
    new = _validate(due="2026-03-05T15:30", zone=ZoneInfo("Europe/Madrid"))
    assert new.due_at == datetime(2026, 3, 5, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize("due, key", [
    ("2026-03-05T11:59", "callbacks.error.due_past"),
    ("2026-03-05T12:00", "callbacks.error.due_past"),  # now is not the future
    ("2020-01-01T09:00", "callbacks.error.due_past"),
    ("2028-03-05T12:00", "callbacks.error.due_far"),
    ("", "callbacks.error.due_at"),
    ("tomorrow morning", "callbacks.error.due_at"),
    ("2026-03-05T15:30+02:00", "callbacks.error.due_at"),
])
def test_bad_due_times(due: str, key: str) -> None:
    assert _errors(due=due) == {"due": key}


@pytest.mark.parametrize("expiry, key", [
    ("an hour", "callbacks.error.expiry_number"),
    ("3600.5", "callbacks.error.expiry_number"),
    ("-60", "callbacks.error.expiry_number"),
    ("", "callbacks.error.expiry_number"),
    ("\uff11\uff12\uff10", "callbacks.error.expiry_number"),  # full-width digits are not ASCII
    ("59", "callbacks.error.expiry_range"),
    ("0", "callbacks.error.expiry_range"),
    (str(callbacks.MAX_EXPIRY + 1), "callbacks.error.expiry_range"),
    ("9" * 40, "callbacks.error.expiry_number"),
])
def test_bad_expiry(expiry: str, key: str) -> None:
    assert _errors(expiry=expiry) == {"expiry": key}


def test_every_bad_field_is_reported_at_once() -> None:
    errors = _errors(due="2020-01-01T00:00", expiry="soon", phones=["abc"],
                     links=[("Evil", "javascript:alert(1)"), ("", "https://x.example")],
                     queue="x" * 81, reason="y" * 501)
    assert errors == {"due": "callbacks.error.due_past", "expiry": "callbacks.error.expiry_number",
                      "phones": "phone.invalid", "link_0": "callbacks.error.url",
                      "link_1": "callbacks.error.link_name_missing",
                      "queue": "callbacks.error.queue", "reason": "callbacks.error.reason"}


@pytest.mark.parametrize("phones, key", [
    ([], "callbacks.error.phones_missing"),
    (["", "  "], "callbacks.error.phones_missing"),
    ([f"60011122{n}" for n in range(6)], "callbacks.error.phones_many"),
    (["=cmd|' /C calc'!A0"], "phone.invalid"),
])
def test_bad_phones(phones: list[str], key: str) -> None:
    assert _errors(phones=phones) == {"phones": key}


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "data:text/html,<script>", "ftp://files.example/x", "https://",
    "//evil.example/x", "https://a.example/ x", "http://a.example/\u0000",
])
def test_only_http_links(url: str) -> None:
    with pytest.raises(InvalidValue):
        callbacks.clean_url(url)


def test_link_name_and_queue_control_characters_refused() -> None:
    with pytest.raises(InvalidValue):
        callbacks.clean_link("a\u202eb", "https://a.example")
    with pytest.raises(InvalidValue):
        callbacks.clean_queue("Sales\u0007")
    assert callbacks.clean_link("", "  ") is None


def _callback(due: datetime = NOW + timedelta(hours=1), state: State = State.PENDING,
              expiry: int = 3600, owner: int = 7) -> Callback:
    return Callback(id=1, user_id=owner, queue="", contact_id=None, due_at=due,
                    expiry_seconds=expiry, phones=("+34911234567",), reason="", links=(),
                    state=state, created_by=owner, created_at=NOW - timedelta(days=1),
                    closed_at=None)


def test_transitions_from_pending() -> None:
    cb = _callback()
    assert callbacks.apply(cb, Action.COMPLETE, NOW) is State.COMPLETED
    assert callbacks.apply(cb, Action.DISCARD, NOW) is State.DISCARDED
    assert callbacks.apply(cb, Action.POSTPONE, NOW) is State.PENDING
    assert callbacks.apply(cb, Action.ASSIGN, NOW) is State.PENDING


@pytest.mark.parametrize("state", [State.COMPLETED, State.DISCARDED])
@pytest.mark.parametrize("action", list(Action))
def test_closed_callbacks_do_not_change(state: State, action: Action) -> None:
    with pytest.raises(IllegalAction):
        callbacks.apply(_callback(state=state), action, NOW)


def test_expiry_is_derived_from_the_clock_and_final() -> None:
    cb = _callback(due=NOW - timedelta(seconds=3600), expiry=3600)
    assert callbacks.state_at(cb, NOW - timedelta(seconds=1)) is State.PENDING
    assert callbacks.state_at(cb, NOW) is State.EXPIRED
    for action in (Action.COMPLETE, Action.POSTPONE, Action.ASSIGN, Action.DISCARD):
        with pytest.raises(IllegalAction):
            callbacks.apply(cb, action, NOW)


def test_every_transition_listed_starts_from_pending() -> None:
    assert {state for state, _ in callbacks.TRANSITIONS} == {State.PENDING}
    assert set(callbacks.EVENT_OF) == set(Action) - {Action.EXPIRE}


@pytest.mark.parametrize("offset, urgency", [
    (timedelta(hours=2), Urgency.UPCOMING),
    (timedelta(minutes=15, seconds=1), Urgency.UPCOMING),
    (timedelta(minutes=15), Urgency.DUE_SOON),
    (timedelta(seconds=1), Urgency.DUE_SOON),
    (timedelta(0), Urgency.OVERDUE),
    (-timedelta(minutes=59, seconds=59), Urgency.OVERDUE),
    (-timedelta(hours=1), Urgency.EXPIRED),
])
def test_urgency(offset: timedelta, urgency: Urgency) -> None:
    assert callbacks.urgency(_callback(due=NOW + offset, expiry=3600), NOW) is urgency


def test_closed_callbacks_are_closed_whatever_the_time() -> None:
    assert callbacks.urgency(_callback(due=NOW - timedelta(days=3), state=State.COMPLETED),
                             NOW) is Urgency.CLOSED


def test_permissions() -> None:
    assert callbacks.may_act(Role.AGENT, 7, 7)
    assert not callbacks.may_act(Role.AGENT, 7, 8)
    assert callbacks.may_act(Role.SUPERVISOR, 7, 8) and callbacks.may_act(Role.ADMIN, 7, 8)
    assert not callbacks.may_perform(Role.AGENT, 7, 7, Action.ASSIGN)
    assert callbacks.may_perform(Role.AGENT, 7, 7, Action.POSTPONE)
    assert callbacks.may_perform(Role.SUPERVISOR, 1, 7, Action.ASSIGN)
    assert not callbacks.may_perform(Role.ADMIN, 1, 7, Action.EXPIRE)
    assert not callbacks.may_create_for(Role.AGENT, 7, 8)
    assert callbacks.may_create_for(Role.SUPERVISOR, 7, 8)


def test_from_wrap_up() -> None:
    due = NOW + timedelta(days=1)
    new = callbacks.from_wrap_up(user_id=7, remote_number="911234567", contact_id=3,
                                 due_at=due, region="ES")
    assert new is not None
    assert (new.user_id, new.phones, new.contact_id, new.due_at) == (7, ("+34911234567",), 3, due)
    assert new.expiry_seconds == callbacks.DEFAULT_EXPIRY
    assert callbacks.from_wrap_up(user_id=7, remote_number="anonymous", contact_id=None,
                                  due_at=due, region="ES") is None
