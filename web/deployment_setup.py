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

from aiohttp import web

from crm.deployment import Deployment, LiveDeployment, defaults_from
from crm.missed_call_mail import MissedCallMailer
from web import i18n
from web.appkeys import DB, DEPLOYMENT, LINES, SETTINGS
from web.missed_badge import BADGE_CACHE, BadgeCache
from web.webkeys import SECRET_BOX


def live(app: web.Application) -> Deployment:
    """The deployment settings in force now."""
    return app[DEPLOYMENT].current


async def _deployment_ctx(app: web.Application) -> AsyncIterator[None]:
    holder = app[DEPLOYMENT]
    await holder.load(app[DB])
    lines = app.get(LINES)
    if lines is not None:
        # Caller ID on ring reads the numbering in force, not the start-up file.
        lines.numbering = holder.numbering
    mailer = MissedCallMailer(app[DB], holder, app[SECRET_BOX], i18n.translate)
    task = asyncio.get_running_loop().create_task(mailer.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def install(app: web.Application) -> None:
    """Add the live settings and their start-up/shutdown to ``app`` (after the database)."""
    app[DEPLOYMENT] = LiveDeployment(defaults_from(app[SETTINGS]))
    app[BADGE_CACHE] = BadgeCache()
    app.cleanup_ctx.append(_deployment_ctx)
