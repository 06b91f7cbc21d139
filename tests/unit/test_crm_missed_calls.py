"""crm.missed_calls: folding call legs and actions into one row per caller, and the rules
that close a row."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from crm import missed_calls as mc
from crm.missed_calls import Action, ActionKind, Closure, EntryKind, Leg, View
from crm.users import Role

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RETENTION = timedelta(days=30)
NUMBER = "+34911234567"
_ids = itertools.count()


def key_of(raw: str) -> str:
    return mc.caller_key(raw, "ES")


def missed(at: float, number: str = NUMBER, user: int = 1, ring: float = 20,
           name: str = "") -> Leg:
    start = T0 + timedelta(seconds=at)
    return Leg(f"in{next(_ids)}", user, "inbound", number, name, start, None,
               start + timedelta(seconds=ring), "missed")


def answered_in(at: float, number: str = NUMBER, user: int = 1) -> Leg:
    start = T0 + timedelta(seconds=at)
    return Leg(f"in{next(_ids)}", user, "inbound", number, "", start,
               start + timedelta(seconds=5), start + timedelta(seconds=60), "completed")


def outbound(at: float, number: str = NUMBER, user: int = 2, answered: bool = False) -> Leg:
    start = T0 + timedelta(seconds=at)
    return Leg(f"out{next(_ids)}", user, "outbound", number, "", start,
               start + timedelta(seconds=8) if answered else None,
               start + timedelta(seconds=30), "completed" if answered else "no_answer")


def action(at: float, kind: ActionKind, user: int = 9, key: str = NUMBER) -> Action:
    return Action(key, kind, user, T0 + timedelta(seconds=at))


def fold(legs: list[Leg], actions: list[Action] | None = None,
         now: float = 86_400) -> list[mc.MissedRow]:
    return mc.fold(legs, actions or [], key_of, T0 + timedelta(seconds=now), RETENTION)


def test_calls_from_one_number_fold_into_one_row_whatever_the_spelling() -> None:
    rows = fold([missed(0, "911234567"), missed(600, "+34 911 23 45 67"),
                 missed(1200, "0034911234567")])
    assert len(rows) == 1
    row = rows[0]
    assert (row.key, row.count, row.view) == (NUMBER, 3, View.ACTIVE)
    assert row.first_at == T0 and row.last_at == T0 + timedelta(seconds=1200)
    assert [e.kind for e in row.timeline] == [EntryKind.MISSED] * 3
    assert row.dialable


def test_unreadable_numbers_fold_by_their_text() -> None:
    rows = fold([missed(0, "anonymous"), missed(60, "anonymous"), missed(120, "")])
    assert sorted((r.key, r.count) for r in rows) == [("", 1), ("anonymous", 2)]
    assert not any(r.dialable for r in rows)


def test_legs_of_one_call_to_several_agents_count_once() -> None:
    # Ring-all: two agents' phones at once; hunt: the next agent right after.
    at_once = [missed(0, user=1), missed(0.2, user=2)]
    hunt = [missed(100, user=1, ring=15), missed(115.5, user=2, ring=15)]
    rows = fold(at_once + hunt)
    assert rows[0].count == 2
    assert [e.legs for e in rows[0].timeline] == [2, 2]


def test_a_call_answered_by_another_agent_is_not_missed() -> None:
    # The PBX cancels agent 2's leg because agent 1 answered: one answered call.
    legs = [answered_in(0, user=1), missed(0.1, user=2, ring=5)]
    assert fold(legs) == []


def test_still_ringing_is_not_missed_yet() -> None:
    ringing = Leg("r1", 1, "inbound", NUMBER, "", T0, None, None, None)
    assert fold([ringing]) == []


def test_caller_getting_through_closes_the_row() -> None:
    rows = fold([missed(0), missed(60), answered_in(600)])
    assert len(rows) == 1
    assert rows[0].closure is Closure.GOT_THROUGH and rows[0].view is View.REMOVED
    assert rows[0].timeline[-1].kind is EntryKind.GOT_THROUGH
    # A new missed call afterwards starts a new row from one.
    rows = fold([missed(0), answered_in(600), missed(900)])
    assert [(r.count, r.closure) for r in rows] == [(1, None), (1, Closure.GOT_THROUGH)]


def test_callbacks_are_listed_and_an_answered_one_closes_the_row() -> None:
    rows = fold([missed(0), outbound(300), outbound(900, answered=True)])
    row = rows[0]
    assert row.closure is Closure.REACHED
    assert [e.kind for e in row.timeline] == [EntryKind.MISSED, EntryKind.CALLBACK,
                                              EntryKind.CALLBACK]
    assert row.timeline[1].user_id == 2 and row.timeline[1].outcome == "no_answer"
    assert row.last_status is mc.LastStatus.CALLED_BACK


def test_a_callback_dialled_as_e164_matches_a_national_number_from_the_pbx() -> None:
    rows = fold([missed(0, "911234567"), outbound(60, "+34911234567", answered=True)])
    assert rows[0].closure is Closure.REACHED


def test_calls_before_the_missed_call_change_nothing() -> None:
    rows = fold([outbound(0, answered=True), answered_in(100), missed(500)])
    assert [(r.count, r.closure) for r in rows] == [(1, None)]


def test_sms_hide_restore_remove() -> None:
    legs = [missed(0)]
    rows = fold(legs, [action(60, ActionKind.SMS, user=3)])
    assert rows[0].last_status is mc.LastStatus.SMS_SENT and rows[0].view is View.ACTIVE
    rows = fold(legs, [action(60, ActionKind.HIDE)])
    assert rows[0].view is View.HIDDEN
    rows = fold(legs, [action(60, ActionKind.HIDE), action(70, ActionKind.RESTORE)])
    assert rows[0].view is View.ACTIVE
    rows = fold(legs, [action(60, ActionKind.REMOVE, user=5)])
    assert rows[0].closure is Closure.REMOVED and rows[0].closed_by == 5
    assert rows[0].removal is mc.Removal.USER
    assert rows[0].timeline[-1].kind is EntryKind.REMOVED


def test_a_new_missed_call_brings_a_hidden_row_back() -> None:
    rows = fold([missed(0), missed(600)], [action(60, ActionKind.HIDE)])
    assert rows[0].view is View.ACTIVE and rows[0].count == 2


def test_retention_expires_rows() -> None:
    rows = fold([missed(0)], now=31 * 86_400)
    assert rows[0].closure is Closure.EXPIRED
    assert rows[0].closed_at == T0 + RETENTION
    assert rows[0].removal is mc.Removal.AUTOMATIC
    # A call more than the retention after the last one starts a new row.
    later = 40 * 86_400
    rows = fold([missed(0), missed(later)], now=later + 60)
    assert [(r.count, r.closure) for r in rows] == [(1, None), (1, Closure.EXPIRED)]


def test_actions_on_no_open_row_are_ignored() -> None:
    rows = fold([missed(0), answered_in(100)], [action(200, ActionKind.REMOVE)])
    assert rows[0].closure is Closure.GOT_THROUGH


def test_filters_and_stats() -> None:
    legs = [missed(0, "+34911000001"), missed(0, "+34911000002"), missed(0, "+34911000003"),
            outbound(60, "+34911000002")]
    acts = [action(60, ActionKind.REMOVE, key="+34911000003"),
            action(60, ActionKind.SMS, key="+34911000001")]
    rows = fold(legs, acts)
    assert len(mc.select(rows, mc.RowFilter(View.ACTIVE))) == 2
    assert len(mc.select(rows, mc.RowFilter(View.REMOVED))) == 1
    assert len(mc.select(rows, mc.RowFilter(View.ALL))) == 3
    summary = mc.stats(rows)
    assert summary.by_status == {mc.LastStatus.CALLED_BACK: 1, mc.LastStatus.SMS_SENT: 1,
                                 mc.LastStatus.NO_ATTEMPT: 1}
    assert summary.by_removal == {mc.Removal.AUTOMATIC: 0, mc.Removal.USER: 1,
                                  mc.Removal.LISTED: 2}
    only = mc.select(rows, mc.RowFilter(View.ALL, status=mc.LastStatus.SMS_SENT))
    assert [r.key for r in only] == ["+34911000001"]


def test_permissions() -> None:
    assert mc.allowed(ActionKind.SMS, Role.AGENT)
    for kind in (ActionKind.HIDE, ActionKind.RESTORE, ActionKind.REMOVE):
        assert not mc.allowed(kind, Role.AGENT)
        assert mc.allowed(kind, Role.SUPERVISOR) and mc.allowed(kind, Role.ADMIN)


def test_stale_actions_do_not_fit() -> None:
    row = fold([missed(0)])[0]
    assert mc.action_fits(ActionKind.HIDE, row)
    assert not mc.action_fits(ActionKind.RESTORE, row)
    hidden = fold([missed(0)], [action(1, ActionKind.HIDE)])[0]
    assert not mc.action_fits(ActionKind.HIDE, hidden)
    assert mc.action_fits(ActionKind.RESTORE, hidden)
    closed = fold([missed(0), answered_in(60)])[0]
    assert not mc.action_fits(ActionKind.REMOVE, closed)
    assert not mc.action_fits(ActionKind.SMS, None)


# -- properties ----------------------------------------------------------------------------

_event = st.tuples(st.sampled_from(["missed", "answered", "callback", "reached", "remove",
                                    "hide", "restore", "sms"]),
                   st.integers(min_value=0, max_value=10 * 86_400))


def _build(events: list[tuple[str, int]]) -> tuple[list[Leg], list[Action]]:
    legs: list[Leg] = []
    acts: list[Action] = []
    for kind, at in events:
        if kind == "missed":
            legs.append(missed(at, ring=1))
        elif kind == "answered":
            legs.append(answered_in(at))
        elif kind in ("callback", "reached"):
            legs.append(outbound(at, answered=kind == "reached"))
        else:
            acts.append(action(at, ActionKind(kind)))
    return legs, acts


@given(st.lists(_event, max_size=25))
def test_at_most_one_open_row_and_counts_add_up(events: list[tuple[str, int]]) -> None:
    legs, acts = _build(events)
    rows = fold(legs, acts, now=11 * 86_400)
    assert sum(1 for r in rows if r.closure is None) <= 1
    # Every row starts with a missed call, and counts only its missed entries.
    for row in rows:
        assert row.timeline[0].kind is EntryKind.MISSED
        assert row.count == sum(1 for e in row.timeline if e.kind is EntryKind.MISSED)
        assert row.first_at <= row.last_at
    # No missed call counts twice; each is in a row unless it joined another call.
    assert sum(r.count for r in rows) <= sum(1 for kind, _ in events if kind == "missed")
    # Newest first.
    assert [r.last_at for r in rows] == sorted((r.last_at for r in rows), reverse=True)


@given(st.lists(_event, max_size=25))
def test_an_answered_call_after_everything_leaves_nothing_listed(
        events: list[tuple[str, int]]) -> None:
    legs, acts = _build(events)
    legs.append(answered_in(10 * 86_400 + 100))
    rows = fold(legs, acts, now=10 * 86_400 + 200)
    assert all(r.closure is not None for r in rows)


def test_a_failed_sms_is_in_the_history_but_not_an_sms_sent() -> None:
    legs = [missed(0)]
    failed = Action(NUMBER, ActionKind.SMS, 3, T0 + timedelta(seconds=60),
                    mc.SmsResult.FAILED, 500)
    rows = fold(legs, [failed])
    assert rows[0].last_status is mc.LastStatus.NO_ATTEMPT
    entry = rows[0].timeline[-1]
    assert (entry.kind, entry.outcome, entry.gateway_status) == (
        mc.EntryKind.SMS, mc.SmsResult.FAILED, 500)
    sent = Action(NUMBER, ActionKind.SMS, 3, T0 + timedelta(seconds=30), mc.SmsResult.SENT, 200)
    assert fold(legs, [sent, failed])[0].last_status is mc.LastStatus.SMS_SENT
