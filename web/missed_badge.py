"""The top bar's missed-call count, computed in one place.

``active_count`` answers (rows still listed and not hidden, newest missed call) from the
kept folded rows (crm/missed_row_store.py): one count over a partial index, so it is
asked afresh on each page a logged-in person opens (``missed_count_middleware``, so the
badge is right before any script runs) and on each poll of ``/api/missed/count``
(web/static/missed-badge.js). Nothing is cached: the rows change in the same transaction
as the calls and actions they come from.
"""

from __future__ import annotations

import logging
from datetime import datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from crm import clock, missed_call_pages, missed_call_store
from crm.missed_calls import View
from web.appkeys import DB, DEPLOYMENT
from web.auth import current_user, wants_html

log = logging.getLogger(__name__)

MISSED_COUNT: web.RequestKey[int | None] = web.RequestKey("missed_count")


async def active_count(app: web.Application) -> tuple[int, datetime | None]:
    """How many rows are on the active list, and when the newest of them last rang."""
    d = app[DEPLOYMENT].current
    return await missed_call_pages.count(
        app[DB], missed_call_store.Numbering(d.region, d.area_code), View.ACTIVE,
        now=clock.utc_now(), retention_days=d.missed_retention_days)


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
