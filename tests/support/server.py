"""The whole Headset app on a loopback port, in the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web as aioweb

from crm import sip_accounts, users
from crm.db import open_database
from crm.secret_key import load_or_create_key
from gateway.app import create_app
from gateway.lines import Lines
from gateway.settings import Settings
from tests.lab.ports import free_tcp_port
from tests.support.gateway import FAST_HASHING
from web.appkeys import LINES

PASSWORD = "correct horse battery"


@dataclass
class RunningServer:
    url: str
    app: aioweb.Application
    settings: Settings

    @property
    def lines(self) -> Lines:
        lines: Lines = self.app[LINES]
        return lines


async def add_agent(settings: Settings, username: str, extension: str | None,
                    sip_password: str = "", language: str = "") -> users.User:
    db = await open_database(settings.database_path)
    try:
        user = await users.create_user(db, username, PASSWORD, role="agent",
                                       language=language, dialer_enabled=True,
                                       hashing=FAST_HASHING)
        if extension is not None:
            await sip_accounts.set_account(db, load_or_create_key(settings.data_dir), user.id,
                                           extension=extension, auth_user=extension,
                                           password=sip_password)
        return user
    finally:
        await db.close()


@asynccontextmanager
async def running_server(settings: Settings) -> AsyncIterator[RunningServer]:
    app = create_app(settings)
    runner = aioweb.AppRunner(app)
    await runner.setup()
    port = free_tcp_port()
    site = aioweb.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", app, settings)
    finally:
        await runner.cleanup()
