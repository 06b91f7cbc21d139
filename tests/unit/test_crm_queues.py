"""Queues and campaigns: the pure rules (crm/queues.py, crm/agent_queues.py), their
storage (crm/queue_store.py) and agents' queue logins (crm/agent_state_store.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm import agent_state_store, call_work, callback_store, callbacks, clock, queue_store, users
from crm.agent_queues import Logins, check_login, login_all, may_ring, pick_campaign
from crm.agent_states import AgentState, Event, Status
from crm.db import Database, open_database
from crm.errors import Conflict, InvalidValue, NotFound
from crm.queues import (
    Campaign,
    CampaignState,
    Kind,
    Queue,
    clean_name,
    clean_pbx_number,
    parse_day,
    parse_ref,
    pbx_key,
)
from tests.unit.test_crm_call_records import FAST

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TODAY = T0.date()


def _campaign(cid: int = 1, *, state: CampaignState = CampaignState.ACTIVE,
              starts: date | None = None, ends: date | None = None, archived: bool = False,
              members: frozenset[int] = frozenset({7})) -> Campaign:
    return Campaign(cid, f"C{cid}", state, starts, ends, archived, members=members)


# -- pure rules ---------------------------------------------------------------------------

def test_names_and_pbx_numbers_are_checked() -> None:
    assert clean_name("  Ventas   España ") == "Ventas España"
    for bad in ("", "   ", "x" * 61, "a\x00b"):
        with pytest.raises(InvalidValue) as caught:
            clean_name(bad)
        assert caught.value.key == "queues.error.name"
    assert clean_pbx_number(" +34910000000 ") == "+34910000000"
    assert clean_pbx_number("") == ""
    assert clean_pbx_number("sales-queue") == "sales-queue"
    for bad in ("1 2", "<script>", "9" * 41, "ñ"):
        with pytest.raises(InvalidValue) as caught:
            clean_pbx_number(bad)
        assert caught.value.key == "queues.error.pbx_number"
    # A DID with and without its + is the same queue; names ignore case.
    assert pbx_key("+34910000000") == pbx_key("34910000000")
    assert pbx_key("Sales") == pbx_key("sales")


def test_a_campaign_runs_when_active_and_within_its_dates() -> None:
    assert _campaign().running(TODAY)
    assert not _campaign(state=CampaignState.PAUSED).running(TODAY)
    assert not _campaign(archived=True).running(TODAY)
    assert _campaign(starts=TODAY, ends=TODAY).running(TODAY)
    assert not _campaign(starts=TODAY + timedelta(days=1)).running(TODAY)
    assert not _campaign(ends=TODAY - timedelta(days=1)).running(TODAY)


def test_form_values_parse_or_say_what_is_wrong() -> None:
    assert parse_day("2026-12-01", "starts_on") == date(2026, 12, 1)
    assert parse_day(" ", "starts_on") is None
    with pytest.raises(InvalidValue):
        parse_day("1/12/2026", "starts_on")
    assert parse_ref("queue:3") == (Kind.QUEUE, 3)
    assert parse_ref("campaign:12") == (Kind.CAMPAIGN, 12)
    assert parse_ref("") is None
    for bad in ("queue:", "queue:x", "team:1", "3", "campaign:" + "9" * 19, "queue:²"):
        with pytest.raises(InvalidValue) as caught:
            parse_ref(bad)
        assert caught.value.key == "queues.error.unknown"


def test_who_may_log_in_to_what() -> None:
    queue = Queue(1, "Soporte", "600", archived=False, members=frozenset({7}))
    check_login(queue, 7, TODAY)
    check_login(_campaign(), 7, TODAY)
    cases = [(None, "queues.error.unknown"),
             (Queue(1, "Old", "", archived=True, members=frozenset({7})),
              "queues.error.archived"),
             (Queue(1, "Other", "", archived=False), "queues.error.not_member"),
             (_campaign(state=CampaignState.PAUSED), "queues.error.not_running")]
    for item, key in cases:
        with pytest.raises((InvalidValue, NotFound)) as caught:
            check_login(item, 7, TODAY)
        assert caught.value.key == key


def test_logging_in_overall_takes_every_queue_and_running_campaign() -> None:
    queues = [Queue(1, "A", "", False), Queue(2, "B", "", False)]
    campaigns = [_campaign(5), _campaign(6, state=CampaignState.PAUSED)]
    logins = login_all(queues, campaigns, TODAY, chosen=None)
    assert logins == Logins(frozenset({1, 2}), frozenset({5}), chosen_campaign=5)


@given(st.frozensets(st.integers(1, 6)), st.one_of(st.none(), st.integers(1, 6)))
def test_the_outbound_campaign_is_always_one_logged_in_to(campaigns: frozenset[int],
                                                          chosen: int | None) -> None:
    picked = pick_campaign(campaigns, chosen)
    assert picked is None or picked in campaigns
    if chosen in campaigns:
        assert picked == chosen
    if len(campaigns) == 1:
        assert picked is not None


def test_a_queue_call_rings_only_agents_available_and_logged_in_to_it() -> None:
    available = AgentState(Status.AVAILABLE, T0)
    logins = Logins(queues=frozenset({1}))
    assert may_ring(available, logins, 1)
    assert not may_ring(available, logins, 2)
    assert may_ring(available, logins, None)  # not through a known queue
    for status in (Status.PAUSED, Status.WRAP_UP, Status.LOGGED_OUT):
        assert not may_ring(AgentState(status, T0), logins, 1)
        assert not may_ring(AgentState(status, T0), logins, None)


# -- storage ------------------------------------------------------------------------------

@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


async def _user(db: Database, name: str) -> int:
    return (await users.create_user(db, name, "long enough password", hashing=FAST)).id


async def test_queues_and_campaigns_are_stored_with_members(db: Database) -> None:
    ana, bea = await _user(db, "ana"), await _user(db, "bea")
    queue = await queue_store.save_queue(db, None, "Soporte", "+34910000600", [ana, bea])
    assert (queue.name, queue.pbx_number, queue.members) == ("Soporte", "+34910000600",
                                                             {ana, bea})
    found = await queue_store.queue_for_number(db, "34910000600")
    assert found is not None and found.id == queue.id
    assert await queue_store.queue_for_number(db, "600") is None
    with pytest.raises(Conflict) as caught:
        await queue_store.save_queue(db, None, "SOPORTE", "", [])
    assert caught.value.key == "queues.error.name_taken"
    with pytest.raises(Conflict) as caught:
        await queue_store.save_queue(db, None, "Ventas", "34910000600", [])
    assert caught.value.key == "queues.error.pbx_taken"
    with pytest.raises(InvalidValue):
        await queue_store.save_queue(db, queue.id, "Soporte", "", [ana, 999])
    assert await queue_store.get_queue(db, queue.id) == queue  # nothing changed
    campaign = await queue_store.save_campaign(
        db, None, "Renovaciones", CampaignState.ACTIVE, date(2026, 11, 1), None, True, [ana])
    assert campaign.must_disposition and campaign.members == {ana}
    with pytest.raises(InvalidValue) as caught:
        await queue_store.save_campaign(db, campaign.id, "Renovaciones", CampaignState.ACTIVE,
                                        date(2026, 11, 1), date(2026, 10, 1), False, [])
    assert caught.value.key == "queues.error.dates_order"
    assert await queue_store.get_campaign(db, campaign.id) == campaign
    queues, campaigns = await queue_store.memberships(db, bea)
    assert ([q.id for q in queues], campaigns) == ([queue.id], [])


async def test_archived_queues_leave_choices_and_logins(db: Database) -> None:
    ana = await _user(db, "ana")
    queue = await queue_store.save_queue(db, None, "Soporte", "600", [ana])
    before = clock.utc_now()
    await agent_state_store.change(db, ana, Event.LOGIN, "page", today=TODAY)
    assert (await agent_state_store.logins(db, ana)).queues == {queue.id}
    await queue_store.set_archived(db, Kind.QUEUE, queue.id, True)
    assert (await agent_state_store.logins(db, ana)).queues == frozenset()
    (opened, closed) = await agent_state_store.item_log(db, ana, before,
                                                       clock.utc_now() + timedelta(1))
    assert (opened.status, closed.status, closed.source) == (
        Status.AVAILABLE, Status.LOGGED_OUT, "system")
    assert opened.ended_at == closed.started_at and closed.queue_id == queue.id
    assert await queue_store.queue_for_number(db, "600") is None
    assert await queue_store.memberships(db, ana) == ([], [])
    # Its number is free for another queue; bringing the old one back then conflicts.
    await queue_store.save_queue(db, None, "Soporte 2", "600", [])
    with pytest.raises(Conflict):
        await queue_store.set_archived(db, Kind.QUEUE, queue.id, False)


async def test_free_text_callbacks_are_adopted_by_a_matching_name(db: Database) -> None:
    ana = await _user(db, "ana")
    for text in ("Cobranças", "Something else"):
        new = callbacks.validate(user_id=ana, queue=text, contact_id=None,
                                 due="2026-11-24T10:00", expiry="3600", phones=["600111222"],
                                 reason="", links=[], region="ES", area_code="", zone=UTC,
                                 now=T0)
        await callback_store.create(db, new, by_user_id=ana, now=T0)
    campaign = await queue_store.save_campaign(db, None, "cobrancas", CampaignState.ACTIVE,
                                               None, None, False, [])
    rows = await db.fetchall("SELECT queue, campaign_id FROM callbacks ORDER BY id")
    assert [(r["queue"], r["campaign_id"]) for r in rows] == [
        ("Cobranças", campaign.id), ("Something else", None)]


async def test_queue_logins_follow_the_status_and_are_logged(db: Database) -> None:
    ana = await _user(db, "ana")
    q1 = await queue_store.save_queue(db, None, "Soporte", "600", [ana])
    q2 = await queue_store.save_queue(db, None, "Ventas", "601", [ana])
    other = await queue_store.save_queue(db, None, "Otra", "602", [])
    c1 = await queue_store.save_campaign(db, None, "C1", CampaignState.ACTIVE, None, None,
                                         True, [ana])
    c2 = await queue_store.save_campaign(db, None, "C2", CampaignState.ACTIVE, None, None,
                                         False, [ana])
    # Logging in to one queue from logged out logs in overall, to that queue only.
    change = await agent_state_store.change_item(db, ana, Kind.QUEUE, q2.id, True, "page",
                                                 TODAY, at=T0)
    assert change.changed and change.state.status is Status.AVAILABLE
    assert await agent_state_store.logins(db, ana) == Logins(frozenset({q2.id}))
    for item, key in ((other.id, "queues.error.not_member"), (999, "queues.error.unknown")):
        with pytest.raises((InvalidValue, NotFound)) as caught:
            await agent_state_store.change_item(db, ana, Kind.QUEUE, item, True, "page", TODAY)
        assert caught.value.key == key
    # **1 again: every queue and campaign; the outbound campaign needs a pick among two.
    await agent_state_store.change(db, ana, Event.LOGIN, "keypad", at=T0 + timedelta(1),
                                   today=TODAY)
    logins = await agent_state_store.logins(db, ana)
    assert (logins.queues, logins.campaigns) == ({q1.id, q2.id}, {c1.id, c2.id})
    assert await agent_state_store.outbound_campaign(db, ana) is None
    await agent_state_store.choose_campaign(db, ana, c2.id)
    assert await agent_state_store.outbound_campaign(db, ana) == c2.id
    await agent_state_store.change_item(db, ana, Kind.CAMPAIGN, c2.id, False, "page", TODAY)
    assert await agent_state_store.outbound_campaign(db, ana) == c1.id
    with pytest.raises(InvalidValue):
        await agent_state_store.choose_campaign(db, ana, c2.id)
    await agent_state_store.change(db, ana, Event.LOGOUT, "page", at=T0 + timedelta(2))
    assert await agent_state_store.logins(db, ana) == Logins()
    entries = await agent_state_store.item_log(db, ana, T0 - timedelta(1), T0 + timedelta(3))
    opened = [(e.queue_id, e.campaign_id) for e in entries if e.status is Status.AVAILABLE]
    assert opened == [(q2.id, None), (q1.id, None), (None, c1.id), (None, c2.id)]
    assert all(e.ended_at is not None for e in entries if e.status is Status.AVAILABLE)
    # The overall log is unchanged in shape: one open row, no queue rows in it.
    overall = await agent_state_store.log(db, ana, T0 - timedelta(1), T0 + timedelta(3))
    assert [e.status for e in overall] == [Status.AVAILABLE, Status.LOGGED_OUT]

    # Taken off a campaign's members: logged out of it, the others stay.
    bea = await _user(db, "bea")
    await queue_store.save_campaign(db, c1.id, "C1", CampaignState.ACTIVE, None, None, True,
                                    [ana, bea])
    await agent_state_store.change(db, bea, Event.LOGIN, "page", today=TODAY)
    await queue_store.save_campaign(db, c1.id, "C1", CampaignState.ACTIVE, None, None, True,
                                    [bea])
    assert (await agent_state_store.logins(db, ana)).campaigns == frozenset()
    assert (await agent_state_store.logins(db, bea)).campaigns == {c1.id}
    assert await agent_state_store.outbound_campaign(db, bea) == c1.id
    await queue_store.save_campaign(db, c1.id, "C1", CampaignState.ACTIVE, None, None, True,
                                    [ana, bea])
    await agent_state_store.change(db, ana, Event.LOGIN, "page", today=TODAY)
    assert (await agent_state_store.logins(db, ana)).campaigns == {c1.id, c2.id}
    # Pausing the campaign takes everyone out of it.
    await queue_store.save_campaign(db, c1.id, "C1", CampaignState.PAUSED, None, None, True,
                                    [ana])
    assert (await agent_state_store.logins(db, ana)).campaigns == {c2.id}
    assert (await agent_state_store.logins(db, bea)).campaigns == frozenset()
    assert await agent_state_store.outbound_campaign(db, ana) == c2.id


async def test_a_campaign_with_mandatory_disposition_blocks_and_one_without_does_not(
        db: Database) -> None:
    ana = await _user(db, "ana")
    strict = await queue_store.save_campaign(db, None, "Strict", CampaignState.ACTIVE,
                                             None, None, True, [ana])
    loose = await queue_store.save_campaign(db, None, "Loose", CampaignState.ACTIVE,
                                            None, None, False, [ana])
    for call_id, campaign in (("call-loose", loose.id), ("call-strict", strict.id)):
        await db.execute(
            "INSERT INTO call_records (id, user_id, direction, local_number, remote_number,"
            " remote_name, state, started_at, ended_at, created_at, updated_at)"
            " VALUES (?, ?, 'outbound', '1001', '+34600111222', '', 'ended', ?, ?, ?, ?)",
            (call_id, ana, *[clock.to_db(T0)] * 4))
        await call_work.start(db, call_id, ana, None, T0, campaign_id=campaign)
    now = T0 + timedelta(minutes=5)
    assert await call_work.blocking_call(db, ana, now, "*43") == "call-strict"
    await db.execute("UPDATE call_work SET finished_at = ? WHERE call_id = 'call-strict'",
                     (clock.to_db(now),))
    assert await call_work.blocking_call(db, ana, now, "*43") is None
