"""The live deployment settings and the missed-call mailer, wired into the app.

``install(app)`` puts a ``LiveDeployment`` holding the TOML defaults in ``app[DEPLOYMENT]``
at once (so every handler can read it), the missed-call badge's cache, and a cleanup
context that, once the database is
open, loads what an admin saved, points the gateway's caller-ID lookup at it, and runs
the missed-call mailer until shutdown. Read the settings in force with ``live(app)``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import tzinfo

from aiohttp import web
from aiohttp.typedefs import Handler

from crm import missed_row_store
from crm.deployment import Deployment, LiveDeployment, defaults_from
from crm.missed_call_mail import MissedCallMailer
from gateway import campaign_days
from web import formatting, i18n
from web.appkeys import DB, DEPLOYMENT, LINES, SETTINGS
from web.webkeys import SECRET_BOX


def zone(app: web.Application) -> tzinfo:
    """The time zone pages show instants in and read typed dates in, as in force now."""
    return formatting.deployment_zone(app[DEPLOYMENT].current.time_zone)


@web.middleware
async def zone_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every page and export of this request speaks the deployment's time zone."""
    token = formatting.use_zone(zone(request.app))
    try:
        return await handler(request)
    finally:
        formatting.forget_zone(token)


def live(app: web.Application) -> Deployment:
    """The deployment settings in force now."""
    return app[DEPLOYMENT].current


async def _nobody(user_id: int) -> None:
    """No gateway in this app (pages only): no tabs to tell."""


async def _deployment_ctx(app: web.Application) -> AsyncIterator[None]:
    holder = app[DEPLOYMENT]
    await holder.load(app[DB])
    # Missed-call rows are kept folded; a database from before they were (or one folded
    # with other settings) is folded now, before the first page asks.
    d = holder.current
    await missed_row_store.ensure(app[DB], d.region, d.area_code, d.missed_retention_days)
    lines = app.get(LINES)
    if lines is not None:
        # Caller ID on ring reads the numbering in force, not the start-up file.
        lines.numbering = holder.numbering
        # So do campaign days (**1, going online).
        lines.time_zone = lambda: holder.current.time_zone
    mailer = MissedCallMailer(app[DB], holder, app[SECRET_BOX], i18n.translate)
    task = asyncio.get_running_loop().create_task(mailer.run())
    # Agents are logged out of a campaign once its last day has passed; their tabs hear.
    closer = asyncio.get_running_loop().create_task(campaign_days.run(
        app[DB], lambda: holder.current.time_zone,
        lines.agent_state_changed if lines is not None else _nobody))
    try:
        yield
    finally:
        for running in (task, closer):
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running


def install(app: web.Application) -> None:
    """Add the live settings and their start-up/shutdown to ``app`` (after the database)."""
    app[DEPLOYMENT] = LiveDeployment(defaults_from(app[SETTINGS]))
    app.cleanup_ctx.append(_deployment_ctx)
