"""The application factory: one aiohttp app serving the CRM and the signalling socket,
and supervising the line workers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web as aioweb

from crm.db import database_ctx
from crm.secret_key import load_or_create_key
from gateway.lines import Lines
from gateway.settings import Settings
from gateway.websocket import websocket_handler
from web import i18n
from web.appkeys import DB, LINES, SETTINGS
from web.setup import setup_web


async def lines_ctx(app: aioweb.Application) -> AsyncIterator[None]:
    """Start the gateway (after the database is open) and stop it before it closes."""
    settings = app[SETTINGS]
    lines = Lines(settings, app[DB], load_or_create_key(settings.data_dir), i18n.translate)
    app[LINES] = lines
    await lines.start()
    try:
        yield
    finally:
        await lines.close()


async def close_sockets(app: aioweb.Application) -> None:
    """On shutdown, end the tabs' WebSockets, which would otherwise hold it up."""
    if LINES in app:
        app[LINES].close_sessions()


def create_app(settings: Settings) -> aioweb.Application:
    app = aioweb.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(lines_ctx)
    app.on_shutdown.append(close_sockets)
    setup_web(app)
    app.router.add_get("/ws", websocket_handler)
    return app
