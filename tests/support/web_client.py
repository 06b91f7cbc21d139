"""An HTTP test client for the pages (no gateway), with an admin, an agent and a
supervisor already in the database, and what page tests do with it: log in, read the
CSRF token, post a form, reach the database and its users.

``tests/unit/conftest.py`` offers it as the ``client`` fixture (settings from the
``page_settings`` fixture, which a test module overrides when it needs others)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from crm import users
from crm.db import Database, database_ctx
from crm.passwords import PasswordHashing
from crm.users import User
from gateway.settings import Settings
from web.appkeys import DB, SETTINGS
from web.setup import setup_web

Client = TestClient[web.Request, web.Application]

# Cheap hashing: tests create and log in many users.
FAST = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
PASSWORD = "agent password 1"
HTML = {"Accept": "text/html,application/xhtml+xml"}
HOSTILE = '<script>alert("x")</script>'


@asynccontextmanager
async def page_client(settings: Settings, password: str = PASSWORD,
                      hashing: PasswordHashing = FAST) -> AsyncIterator[Client]:
    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.append(database_ctx)
    setup_web(app, hashing=hashing)
    async with TestClient(TestServer(app)) as client:
        database = app[DB]
        for name, role, display in (("root", "admin", "Root Admin"),
                                    ("agent", "agent", "Agent Smith"),
                                    ("sup", "supervisor", "Sue Pervisor")):
            await users.create_user(database, name, password, role=role, display_name=display,
                                    hashing=hashing)
        yield client


def app_db(client: Client) -> Database:
    """The database behind the client's app."""
    return client.app[DB]


async def get_user(client: Client, username: str) -> User:
    """A user that must exist."""
    user = await users.get_by_username(app_db(client), username)
    assert user is not None, username
    return user


def csrf_in(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match[1]


async def csrf_token(client: Client, path: str = "/") -> str:
    """The CSRF token of the page at ``path`` (the session's token: any page will do)."""
    return csrf_in(await (await client.get(path, headers=HTML)).text())


async def login(client: Client, username: str = "agent", password: str = PASSWORD,
                next_url: str = "/") -> ClientResponse:
    """Log in through the login form, as a browser does."""
    token = await csrf_token(client, "/login")
    return await client.post("/login", headers=HTML, allow_redirects=False, data={
        "username": username, "password": password, "csrf_token": token, "next": next_url})


async def post_form(client: Client, path: str, data: dict[str, str], *, token: bool = True,
                    headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """POST a form as its page would (with the CSRF token unless ``token`` is false):
    (status, body, Location)."""
    if token:
        data = {"csrf_token": await csrf_token(client), **data}
    resp = await client.post(path, headers=headers or HTML, allow_redirects=False, data=data)
    return resp.status, await resp.text(), resp.headers.get("Location", "")
