"""The top bar's missed-call count, computed in one place.

``active_count`` answers (rows still listed and not hidden, newest missed call) from the
same folding as the /missed page; ``/api/missed/count`` serves it to the badge's poll
(web/static/missed-badge.js) and ``missed_count_middleware`` puts it on each page a
logged-in person opens, so the badge is right before any script runs.

Folding a month of calls takes a noticeable fraction of a second, and every page and
every open tab's poll asks, so the answer is kept until something it depends on changes:
a call record added or changed (``MAX(rowid)``, ``MAX(updated_at)``: both indexed), an
action on a row (``MAX(id)``), the settings, or the minute (rows expire with time). In a
busy centre records change every few seconds, so it is also recomputed at most every
``MIN_RECOMPUTE_SECONDS``, by one request at a time (the others wait for its answer);
an action on a row (``invalidate``) makes the next request recompute at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from crm import clock, missed_call_store
from crm.missed_calls import RowFilter, View, select
from web.appkeys import DB, DEPLOYMENT
from web.auth import current_user, wants_html

log = logging.getLogger(__name__)

MISSED_COUNT: web.RequestKey[int | None] = web.RequestKey("missed_count")
MIN_RECOMPUTE_SECONDS = 10.0


@dataclass
class BadgeCache:
    version: tuple[object, ...] | None = None
    count: int = 0
    latest: datetime | None = None
    computed_at: float = float("-inf")  # time.monotonic()
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def invalidate(app: web.Application) -> None:
    """Someone acted on a row: the next count is computed afresh."""
    app[BADGE_CACHE].version = None
    app[BADGE_CACHE].computed_at = float("-inf")


BADGE_CACHE = web.AppKey("missed_badge_cache", BadgeCache)


async def _version(app: web.Application, now: datetime) -> tuple[object, ...]:
    row = await app[DB].fetchone(
        "SELECT (SELECT MAX(rowid) FROM call_records) AS added,"
        " (SELECT MAX(updated_at) FROM call_records) AS changed,"
        " (SELECT MAX(id) FROM missed_call_actions) AS actions")
    assert row is not None
    return (row["added"], row["changed"], row["actions"], app[DEPLOYMENT].current,
            int(now.timestamp() // 60))


async def active_count(app: web.Application) -> tuple[int, datetime | None]:
    """How many rows are on the active list, and when the newest of them last rang."""
    cache = app[BADGE_CACHE]
    async with cache.lock:
        d = app[DEPLOYMENT].current
        now = clock.utc_now()
        version = await _version(app, now)
        recent = time.monotonic() - cache.computed_at < MIN_RECOMPUTE_SECONDS
        if version == cache.version or recent:
            return cache.count, cache.latest
        rows = await missed_call_store.load_open_rows(
            app[DB], missed_call_store.Numbering(d.region, d.area_code), now=now,
            retention_days=d.missed_retention_days)
        active = select(rows, RowFilter(View.ACTIVE))
        cache.version = version
        cache.computed_at = time.monotonic()
        cache.count = len(active)
        cache.latest = max((row.last_at for row in active), default=None)
        return cache.count, cache.latest


@web.middleware
async def missed_count_middleware(request: web.Request,
                                  handler: Handler) -> web.StreamResponse:
    request[MISSED_COUNT] = None
    if (request.method == "GET" and current_user(request) is not None and wants_html(request)
            and not request.path.startswith(("/static/", "/api/"))):
        try:
            request[MISSED_COUNT], _ = await active_count(request.app)
        except Exception:
            # The badge is a convenience: the page the person asked for still opens.
            log.exception("missed-call count failed")
    return await handler(request)
