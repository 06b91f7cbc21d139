"""The top bar's missed-call count, computed in one place.

``active_count`` answers (rows still listed and not hidden, newest missed call) from the
same folding as the /missed page; ``/api/missed/count`` serves it to the badge's poll
(web/static/missed-badge.js) and ``missed_count_middleware`` puts it on each page a
logged-in person opens, so the badge is right before any script runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web
from aiohttp.typedefs import Handler

from crm import clock, missed_call_store
from crm.missed_calls import RowFilter, View, select
from web.appkeys import DB
from web.auth import current_user, wants_html
from web.deployment_setup import live

MISSED_COUNT: web.RequestKey[int | None] = web.RequestKey("missed_count")


async def active_count(app: web.Application) -> tuple[int, datetime | None]:
    """How many rows are on the active list, and when the newest of them last rang."""
    d = live(app)
    now = clock.utc_now()
    rows = await missed_call_store.load_rows(
        app[DB], missed_call_store.Numbering(d.region, d.area_code),
        since=now - timedelta(days=d.missed_retention_days), now=now,
        retention_days=d.missed_retention_days)
    active = select(rows, RowFilter(View.ACTIVE))
    return len(active), max((row.last_at for row in active), default=None)


@web.middleware
async def missed_count_middleware(request: web.Request,
                                  handler: Handler) -> web.StreamResponse:
    request[MISSED_COUNT] = None
    if (request.method == "GET" and current_user(request) is not None and wants_html(request)
            and not request.path.startswith(("/static/", "/api/"))):
        request[MISSED_COUNT], _ = await active_count(request.app)
    return await handler(request)
