"""Campaign days in the gateway: the deployment's date for ``**1`` and going online, and
the periodic check that logs agents out of a campaign once its last day has passed.

The decisions are crm/queues.py's (``day_in``, ``Campaign.over``) and
crm/agent_queues.py's (``campaigns_over``); this module reads what they need, carries out
each logout through crm/agent_state_store.py (so it is recorded in ``agent_state_log``
with the source ``system``, like other logouts), and tells the agent's tabs. The check
runs every ``CHECK_SECONDS``: a campaign's last day ends at midnight where the call
centre is, and agents see the change within a minute of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from crm import agent_state_store, clock, queue_store
from crm.agent_queues import campaigns_over
from crm.db import Database
from crm.queues import Kind, day_in

log = logging.getLogger(__name__)

CHECK_SECONDS = 60.0

Notify = Callable[[int], Awaitable[None]]


async def close_ended(db: Database, zone_name: str, at: datetime | None = None) -> list[int]:
    """Log every agent out of the campaigns whose last day has passed by ``at`` (now) in
    the zone ``zone_name``; the agents whose logins changed."""
    at = at or clock.utc_now()
    today = day_in(zone_name, at)
    logins = await agent_state_store.all_logins(db)
    if not any(current.campaigns for current in logins.values()):
        return []
    campaigns = {c.id: c for c in await queue_store.list_campaigns(db)}
    changed: list[int] = []
    for user_id, campaign_id in campaigns_over(logins, campaigns, today):
        await agent_state_store.change_item(db, user_id, Kind.CAMPAIGN, campaign_id, False,
                                            "system", today, at)
        log.info("user %d: logged out of campaign %d, past its last day", user_id,
                 campaign_id)
        if user_id not in changed:
            changed.append(user_id)
    return changed


async def run(db: Database, zone_name: Callable[[], str], notify: Notify,
              every: float = CHECK_SECONDS) -> None:
    """Check every ``every`` seconds until cancelled (the zone as in force each time)."""
    while True:
        try:
            for user_id in await close_ended(db, zone_name()):
                await notify(user_id)
        except Exception:
            # One failed check must not end the next ones.
            log.exception("campaign day check failed")
        await asyncio.sleep(every)
