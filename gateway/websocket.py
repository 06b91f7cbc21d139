"""The ``/ws`` endpoint: one browser tab's signalling socket.

The login session authenticates it (the auth middleware puts the user on the request);
the Origin must be this server's own, since a WebSocket is not covered by the CSRF
token and a foreign page could otherwise drive an agent's phone with their cookie.
Each text frame is one command (gateway/signalling.py); a bad one gets an ``error``
event and the socket stays usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from aiohttp import WSCloseCode, WSMsgType
from aiohttp import web as aioweb

from gateway import signalling
from gateway.lines import Lines, Session
from web.appkeys import LINES
from web.auth import current_lang, current_user
from web.csrf import same_origin

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
_TAB_ID = re.compile(r"[A-Za-z0-9-]{8,64}")


async def websocket_handler(request: aioweb.Request) -> aioweb.StreamResponse:
    user = current_user(request)
    if user is None:
        raise aioweb.HTTPUnauthorized(text="log in first")
    if not same_origin(request):
        raise aioweb.HTTPForbidden(text="cross-origin WebSocket refused")
    ws = aioweb.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS,
                                  max_msg_size=signalling.MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    lines: Lines = request.app[LINES]
    session = lines.connect(user, current_lang(request), _tab_id(request))
    writer = asyncio.get_running_loop().create_task(_write(ws, session))
    try:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                if message.type == WSMsgType.BINARY:
                    lines.error(session, "malformed_message")
                continue
            try:
                command = signalling.decode_command(message.data)
            except signalling.BadMessage as bad:
                lines.error(session, bad.code, bad.ref)
                continue
            try:
                await lines.handle(session, command)
            except Exception:
                log.exception("user %d: %s failed", user.id, type(command).__name__)
                lines.error(session, "internal_error", command.__struct_config__.tag)  # type: ignore[arg-type]
    finally:
        lines.disconnect(session)
        session.close()
        with contextlib.suppress(Exception):
            await writer
    return ws


def _tab_id(request: aioweb.Request) -> str:
    """The id the tab keeps across reloads (``?tab=``), or "" when it is not a plain token."""
    tab = request.query.get("tab", "")
    return tab if _TAB_ID.fullmatch(tab) else ""


async def _write(ws: aioweb.WebSocketResponse, session: Session) -> None:
    while (text := await session.outbox.get()) is not None:
        if ws.closed:
            return
        await ws.send_str(text)
    # The session was closed from our side (server shutting down): end the socket too,
    # which also ends the reading loop in the handler.
    if not ws.closed:
        await ws.close(code=WSCloseCode.GOING_AWAY)
