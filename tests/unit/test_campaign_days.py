"""Campaign days are the deployment's: ``**1`` and going online log in to the campaigns
running on the call centre's date, and the gateway's periodic check logs agents out of a
campaign once its last day has passed there, recorded in agent_state_log like any
logout. Pure rules, then the adapter on a real SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, date, datetime

from crm import agent_state_store, queue_store, users
from crm.agent_queues import Logins, campaigns_over
from crm.db import Database
from crm.queues import Campaign, CampaignState, Kind, day_in
from gateway import agent_presence, campaign_days
from gateway.dialplan import AgentCode
from tests.unit.test_crm_call_records import FAST

# 01:30 UTC on 5 March is 02:30 in Madrid (already the 5th) and 22:30 on the 4th in
# São Paulo; 23:30 UTC on 4 March is 00:30 on the 5th in Madrid.
LATE_UTC = datetime(2026, 3, 5, 1, 30, tzinfo=UTC)
MADRID_MIDNIGHT = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)
MARCH_4, MARCH_5 = date(2026, 3, 4), date(2026, 3, 5)


def test_the_day_is_the_deployments() -> None:
    assert day_in("America/Sao_Paulo", LATE_UTC) == MARCH_4
    assert day_in("Europe/Madrid", LATE_UTC) == MARCH_5
    assert day_in("Europe/Madrid", MADRID_MIDNIGHT) == MARCH_5
    assert day_in("UTC", MADRID_MIDNIGHT) == MARCH_4
    assert day_in("Not/A_Zone", MADRID_MIDNIGHT) == MARCH_4  # unknown: UTC
    assert day_in("", MADRID_MIDNIGHT) == MARCH_4


def test_logins_end_only_for_campaigns_whose_last_day_has_passed() -> None:
    def campaign(cid: int, ends: date | None) -> Campaign:
        return Campaign(cid, f"C{cid}", CampaignState.ACTIVE, None, ends, False)

    campaigns = {1: campaign(1, MARCH_4), 2: campaign(2, MARCH_5), 3: campaign(3, None)}
    logins = {7: Logins(frozenset({10}), frozenset({1, 2, 3}), 1),
              8: Logins(campaigns=frozenset({1, 99})),   # 99: not found, left alone
              9: Logins(queues=frozenset({10}))}
    assert campaigns_over(logins, campaigns, MARCH_4) == []      # its last day: still on
    assert campaigns_over(logins, campaigns, MARCH_5) == [(7, 1), (8, 1)]
    assert campaigns_over(logins, campaigns, date(2026, 3, 6)) == [(7, 1), (7, 2), (8, 1)]


async def _agent_in(db: Database, ends: date) -> tuple[int, Campaign, Campaign]:
    ana = (await users.create_user(db, "ana", "password 12345", hashing=FAST)).id
    ending = await queue_store.save_campaign(db, None, "Ending", CampaignState.ACTIVE, None,
                                             ends, False, [ana])
    lasting = await queue_store.save_campaign(db, None, "Lasting", CampaignState.ACTIVE,
                                              None, None, False, [ana])
    return ana, ending, lasting


async def test_keypad_login_uses_the_deployments_day(db: Database) -> None:
    # The campaign's last day is 4 March; at 01:30 UTC on the 5th it is still the 4th in
    # São Paulo, so **1 logs in to it there; with UTC's day it would not.
    ana, ending, lasting = await _agent_in(db, MARCH_4)
    await agent_presence.keypad(db, ana, AgentCode("login", ""),
                                today=day_in("America/Sao_Paulo", LATE_UTC))
    assert (await agent_state_store.logins(db, ana)).campaigns == {ending.id, lasting.id}
    await agent_presence.keypad(db, ana, AgentCode("logout", ""))
    await agent_presence.follow_line(db, ana, True, today=day_in("UTC", LATE_UTC))
    assert (await agent_state_store.logins(db, ana)).campaigns == {lasting.id}


async def test_the_periodic_check_logs_agents_out_after_the_last_day(db: Database) -> None:
    ana, ending, lasting = await _agent_in(db, MARCH_4)
    await agent_state_store.change_item(db, ana, Kind.CAMPAIGN, ending.id, True, "page",
                                        MARCH_4, MADRID_MIDNIGHT.replace(hour=9))
    await agent_state_store.change_item(db, ana, Kind.CAMPAIGN, lasting.id, True, "page",
                                        MARCH_4, MADRID_MIDNIGHT.replace(hour=9))
    # Still the 4th in São Paulo at 01:30 UTC on the 5th: nothing ends.
    assert await campaign_days.close_ended(db, "America/Sao_Paulo", LATE_UTC) == []
    # Already the 5th in Madrid at 23:30 UTC on the 4th: the campaign is over.
    assert await campaign_days.close_ended(db, "Europe/Madrid", MADRID_MIDNIGHT) == [ana]
    assert (await agent_state_store.logins(db, ana)).campaigns == {lasting.id}
    log = await db.fetchall(
        "SELECT status, source, started_at FROM agent_state_log WHERE user_id = ?"
        " AND campaign_id = ? ORDER BY id", (ana, ending.id))
    assert [(r["status"], r["source"]) for r in log] == [("available", "page"),
                                                          ("logged_out", "system")]
    assert log[-1]["started_at"].startswith("2026-03-04T23:30")
    # Nothing left to do the next time round.
    assert await campaign_days.close_ended(db, "Europe/Madrid", MADRID_MIDNIGHT) == []


async def test_the_check_runs_until_cancelled_and_tells_the_agents_tabs(db: Database) -> None:
    ana, ending, _ = await _agent_in(db, date(2020, 1, 31))  # over, in any zone
    await db.execute("INSERT INTO agent_campaign_logins (user_id, campaign_id, since)"
                     " VALUES (?, ?, '2020-01-31T09:00:00.000+00:00')", (ana, ending.id))
    told: asyncio.Queue[int] = asyncio.Queue()
    zones: list[str] = []

    def zone() -> str:
        zones.append("Europe/Madrid")
        return zones[-1]

    async def notify(user_id: int) -> None:
        await told.put(user_id)

    task = asyncio.get_running_loop().create_task(
        campaign_days.run(db, zone, notify, every=3600))
    try:
        assert await asyncio.wait_for(told.get(), timeout=30) == ana
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert zones == ["Europe/Madrid"]  # read at each check: the settings in force
    assert (await agent_state_store.logins(db, ana)).campaigns == frozenset()
