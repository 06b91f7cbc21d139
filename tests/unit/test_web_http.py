"""The web layer over real HTTP: login, sessions, CSRF, roles, escaping, headers."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from yarl import URL

from crm import call_records, users
from crm.db import Database, database_ctx, open_database
from gateway.settings import Settings
from tests.support.web_client import FAST, HOSTILE, HTML, PASSWORD, csrf_in, login
from web import sessions
from web.appkeys import DB, SETTINGS
from web.ratelimit import Limit, LoginRateLimiter
from web.setup import setup_web


class FakeClock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    app[SETTINGS] = Settings(data_dir=str(tmp_path))
    app.cleanup_ctx.append(database_ctx)
    setup_web(app, hashing=FAST, limiter=LoginRateLimiter(
        FakeClock(), per_account=Limit(3, 300), per_address=Limit(10, 300)))
    async with TestClient(TestServer(app)) as test_client:
        db = app[DB]
        await users.create_user(db, "agent", PASSWORD, display_name="Agent Smith",
                                dialer_enabled=True, hashing=FAST)
        await users.create_user(db, "boss", PASSWORD, role="admin", display_name=HOSTILE,
                                hashing=FAST)
        yield test_client


def _db(client: TestClient[web.Request, web.Application]) -> Database:
    return client.app[DB]


def session_cookie(resp: ClientResponse) -> str:
    return resp.cookies[sessions.COOKIE_NAME].value


async def test_login_success_sets_hardened_cookie(client: TestClient) -> None:
    resp = await login(client)
    assert resp.status == 303 and resp.headers["Location"] == "/"
    header = next(h for h in resp.headers.getall("Set-Cookie")
                  if h.startswith(sessions.COOKIE_NAME))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Secure" not in header  # plain HTTP in this test
    home = await client.get("/", headers=HTML)
    assert home.status == 200 and "Agent Smith" in await home.text()


def test_cookie_secure_over_https() -> None:
    request = make_mocked_request("GET", "/").clone(scheme="https")
    response = web.Response()
    now = datetime.now(UTC)
    sessions.set_cookie(response, request, "tok",
                        sessions.Session("h", 1, "c", now, now))
    assert "Secure" in response.cookies[sessions.COOKIE_NAME].output()


async def test_login_failure(client: TestClient) -> None:
    resp = await login(client, password="wrong password")
    assert resp.status == 200
    assert "Wrong username or password" in await resp.text()
    assert sessions.COOKIE_NAME not in resp.cookies
    unknown = await login(client, username="nobody")
    assert "Wrong username or password" in await unknown.text()


async def test_session_regenerated_at_login(client: TestClient) -> None:
    first = session_cookie(await login(client))
    second = session_cookie(await login(client))
    assert first != second
    client.session.cookie_jar.clear()
    old = await client.get("/", headers={**HTML, "Cookie": f"{sessions.COOKIE_NAME}={first}"},
                           allow_redirects=False)
    assert old.status == 303 and old.headers["Location"].startswith("/login")
    rows = await _db(client).fetchall("SELECT id_hash FROM web_sessions")
    assert all(first not in str(r) and second not in str(r) for r in rows)


async def test_csrf_token_required(client: TestClient) -> None:
    page = await client.get("/login", headers=HTML)
    assert page.status == 200
    no_token = await client.post("/login", headers=HTML,
                                 data={"username": "agent", "password": PASSWORD})
    assert no_token.status == 403
    assert "Reload the page" in await no_token.text()
    await login(client)
    logout = await client.post("/logout", allow_redirects=False)
    assert logout.status == 403
    assert (await client.get("/", headers=HTML)).status == 200  # still logged in


async def test_csrf_header_and_origin(client: TestClient) -> None:
    await login(client)
    home = await client.get("/", headers=HTML)
    token = csrf_in(await home.text())
    foreign = await client.post("/logout", allow_redirects=False,
                                headers={"X-CSRF-Token": token, "Origin": "https://evil.example"})
    assert foreign.status == 403
    origin = f"http://{client.host}:{client.port}"
    ok = await client.post("/logout", allow_redirects=False,
                           headers={"X-CSRF-Token": token, "Origin": origin})
    assert ok.status == 303


async def test_rate_limit(client: TestClient) -> None:
    for _ in range(3):
        assert (await login(client, password="wrong password")).status == 200
    blocked = await login(client)  # even the right password waits
    assert blocked.status == 429 and "Retry-After" in blocked.headers
    assert "Too many sign-in attempts" in await blocked.text()
    assert sessions.COOKIE_NAME not in blocked.cookies
    assert (await login(client, username="boss")).status == 303


async def test_logout_revokes(client: TestClient) -> None:
    token = session_cookie(await login(client))
    home = await client.get("/", headers=HTML)
    resp = await client.post("/logout", allow_redirects=False,
                             data={"csrf_token": csrf_in(await home.text())})
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    row = await _db(client).fetchone("SELECT revoked_at FROM web_sessions WHERE id_hash = ?",
                                     (sessions.hash_token(token),))
    assert row is not None and row["revoked_at"] is not None
    client.session.cookie_jar.clear()
    again = await client.get("/", headers={"Cookie": f"{sessions.COOKIE_NAME}={token}"})
    assert again.status == 401


async def test_roles(client: TestClient) -> None:
    await login(client)
    denied = await client.get("/admin/users", headers=HTML)
    assert denied.status == 403
    assert "do not have access" in await denied.text()
    assert (await client.get("/admin/users")).status == 403
    await login(client, username="boss")
    page = await client.get("/admin/users", headers=HTML)
    assert page.status == 200 and "Agent Smith" in await page.text()


async def test_hostile_strings_escaped(client: TestClient) -> None:
    await login(client, username="boss")
    for path in ("/", "/admin/users", "/profile/password"):
        text = await (await client.get(path, headers=HTML)).text()
        assert HOSTILE not in text and "<script>alert" not in text
        assert "&lt;script&gt;" in text
    username = '"><script>x()</script>'
    page = await login(client, username=username, password="wrong password")
    text = await page.text()
    assert username not in text and "&#34;&gt;&lt;script&gt;" in text


async def test_unauthenticated(client: TestClient) -> None:
    html = await client.get("/profile/password?x=1", headers=HTML, allow_redirects=False)
    assert html.status == 303
    location = URL(html.headers["Location"])
    assert location.path == "/login" and location.query["next"] == "/profile/password?x=1"
    api = await client.get("/i18n/softphone.json")
    assert api.status == 401 and (await api.json())["error"] == "not_authenticated"
    ws = await client.get("/", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                        "Accept": "text/html"})
    assert ws.status == 401


async def test_next_is_followed_but_never_offsite(client: TestClient) -> None:
    resp = await login(client, next_url="/profile/password")
    assert resp.headers["Location"] == "/profile/password"
    resp = await login(client, next_url="//evil.example/")
    assert resp.headers["Location"] == "/"
    resp = await login(client, next_url="https://evil.example/")
    assert resp.headers["Location"] == "/"


async def test_security_headers(client: TestClient) -> None:
    for path in ("/login", "/nope", "/static/app.css"):
        resp = await client.get(path, headers=HTML)
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "same-origin"
    assert (await client.get("/login")).headers["Cache-Control"] == "no-store"


async def test_no_inline_script_in_pages(client: TestClient) -> None:
    await login(client)
    text = await (await client.get("/", headers=HTML)).text()
    # Executable scripts only from files (CSP script-src 'self'); JSON data blocks are
    # never run, and tojson escapes "<" so one cannot close its tag.
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", text, re.S)
    for attrs, body in inline:
        assert 'type="application/json"' in attrs, attrs
        json.loads(body)
    assert " on" + "click=" not in text


async def test_softphone_slot_only_when_dialer_enabled(client: TestClient) -> None:
    await login(client)
    text = await (await client.get("/", headers=HTML)).text()
    assert 'id="softphone-slot"' in text and 'data-lang="en"' in text
    await login(client, username="boss")
    assert 'id="softphone-slot"' not in await (await client.get("/", headers=HTML)).text()


async def test_language_negotiation(client: TestClient) -> None:
    page = await client.get("/login", headers={**HTML, "Accept-Language": "pt-BR,pt;q=0.9"})
    text = await page.text()
    assert 'lang="pt-BR"' in text and "Senha" in text
    user = await users.get_by_username(_db(client), "agent")
    assert user is not None
    await users.update_user(_db(client), user.id, language="pl")
    await login(client)
    home = await client.get("/", headers={**HTML, "Accept-Language": "es"})
    assert "Wyloguj" in await home.text()
    messages = await (await client.get("/i18n/softphone.json")).json()
    assert messages["lang"] == "pl"
    assert messages["messages"]["softphone.hangup"] == "Rozłącz"
    assert messages["messages"]["call.outcome.busy"] == "Zajęte"


async def test_change_password(client: TestClient) -> None:
    other = session_cookie(await login(client))
    client.session.cookie_jar.clear()  # so the next login is another browser
    session_cookie(await login(client))
    page = await client.get("/profile/password", headers=HTML)
    token = csrf_in(await page.text())

    async def submit(old: str, new: str, confirm: str) -> str:
        resp = await client.post("/profile/password", headers=HTML, data={
            "csrf_token": token, "current_password": old, "new_password": new,
            "confirm_password": confirm})
        return await resp.text()

    assert "current password is wrong" in await submit("nope nope", "x" * 12, "x" * 12)
    assert "are different" in await submit(PASSWORD, "a" * 12, "b" * 12)
    assert "too short" in await submit(PASSWORD, "short", "short")
    assert "must be different" in await submit(PASSWORD, PASSWORD, PASSWORD)
    assert "has been changed" in await submit(PASSWORD, "brand new secret", "brand new secret")
    assert (await client.get("/", headers=HTML)).status == 200  # this browser stays in
    client.session.cookie_jar.clear()
    stale = await client.get("/", headers={"Cookie": f"{sessions.COOKIE_NAME}={other}"})
    assert stale.status == 401
    assert await users.authenticate(_db(client), "agent", "brand new secret", hashing=FAST)


async def test_startup_closes_interrupted_calls(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "headset.sqlite3")
    user = await users.create_user(db, "a", PASSWORD, hashing=FAST)
    await call_records.create(db, "c1", user.id, "inbound", "1001", "2", "",
                              datetime.now(UTC))
    await db.close()
    app = web.Application()
    app[SETTINGS] = Settings(data_dir=str(tmp_path))
    app.cleanup_ctx.append(database_ctx)
    setup_web(app, hashing=FAST)
    async with TestClient(TestServer(app)):
        record = await call_records.get(app[DB], "c1")
        assert record is not None and record.outcome is call_records.Outcome.INTERRUPTED
