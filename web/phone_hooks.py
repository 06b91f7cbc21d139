"""Telling the phone side (the gateway's control plane) about admin changes.

Pages change users and SIP accounts in the database; an agent who is online holds a
registration made with the old account. These hooks let the gateway react at once. The
app may run without a gateway (page tests), so a missing one is not an error.
"""

from __future__ import annotations

from aiohttp import web

from web.appkeys import LINES


async def account_changed(app: web.Application, user_id: int, *,
                          deactivated: bool = False) -> None:
    lines = app.get(LINES)
    if lines is not None:
        await lines.account_changed(user_id, deactivated=deactivated)


async def agent_state_changed(app: web.Application, user_id: int) -> None:
    """The agent logged in/out, paused or resumed from a page: tell their tabs."""
    lines = app.get(LINES)
    if lines is not None:
        await lines.agent_state_changed(user_id)
