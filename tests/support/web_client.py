"""An HTTP test client for the pages (no gateway), with an admin, an agent and a
supervisor already in the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from crm import users
from crm.db import database_ctx
from crm.passwords import PasswordHashing
from gateway.settings import Settings
from web.appkeys import DB, SETTINGS
from web.setup import setup_web

Client = TestClient[web.Request, web.Application]


@asynccontextmanager
async def page_client(settings: Settings, password: str,
                      hashing: PasswordHashing) -> AsyncIterator[Client]:
    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.append(database_ctx)
    setup_web(app, hashing=hashing)
    async with TestClient(TestServer(app)) as client:
        db = app[DB]
        for name, role, display in (("root", "admin", "Root Admin"),
                                    ("agent", "agent", "Agent Smith"),
                                    ("sup", "supervisor", "Sue Pervisor")):
            await users.create_user(db, name, password, role=role, display_name=display,
                                    hashing=hashing)
        yield client
