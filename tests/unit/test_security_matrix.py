"""Every route of the real app x {anonymous, agent, supervisor, admin} x {GET, write with
and without the CSRF token}, and no answer anywhere carrying a SIP or SMTP password or the
SMS gateway's token.

The routes come from ``app.router`` of ``gateway.app.create_app``, so a route someone adds
is checked the day it appears; ``POLICY`` says who may use it, by path prefix, and a
route it does not cover fails the test until it is classified. Session fixation and the
per-address login limit over real HTTP are here too (the per-account limit, CSRF
details and single pages are in test_web_http.py and test_web_admin.py).
"""

from __future__ import annotations

import enum
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from crm import contacts, queue_store, users
from crm.queues import CampaignState
from crm.users import Role
from gateway.app import create_app
from gateway.settings import Settings
from tests.unit.test_web_http import FAST, HTML, PASSWORD, csrf_in
from web import sessions
from web.appkeys import DB
from web.ratelimit import Limit, LoginRateLimiter
from web.webkeys import LOGIN_LIMITER, PASSWORD_HASHING

SIP_SECRET = "sipSECRET-7c1f-matrix"
SMTP_SECRET = "smtpSECRET-44aa-matrix"
SMS_SECRET = "smsSECRET-91bc-matrix"
SECRETS = (SIP_SECRET, SMTP_SECRET, SMS_SECRET)


class Access(enum.Enum):
    PUBLIC = "anyone"
    ANY = "any logged-in user"
    STAFF = "supervisor or admin"
    ADMIN = "admin only"
    LOGOUT = "ends the session"


# First match wins: (method or "*", canonical path regex, who may use it). A new route
# that matches nothing fails test_every_route_is_classified: add it here on purpose.
POLICY: list[tuple[str, str, Access]] = [
    ("*", r"^/login$", Access.PUBLIC),
    ("POST", r"^/logout$", Access.LOGOUT),
    ("GET", r"^/static$", Access.PUBLIC),
    ("GET", r"^/ws$", Access.ANY),
    ("GET", r"^/$", Access.ANY),
    ("*", r"^/profile(/|$)", Access.ANY),
    ("GET", r"^/i18n/[a-z_]+\.json$", Access.ANY),
    ("*", r"^/api/calls(/|$)", Access.ANY),
    ("*", r"^/api/agent/state$", Access.ANY),
    ("GET", r"^/api/callerid$", Access.ANY),
    ("GET", r"^/api/missed/count$", Access.ANY),
    ("*", r"^/missed(/|$)", Access.ANY),
    ("GET", r"^/history(/|$)", Access.ANY),
    ("*", r"^/contacts/export$", Access.STAFF),
    ("*", r"^/contacts/import(/|$)", Access.STAFF),
    ("*", r"^/contacts/\{contact_id\}/delete$", Access.STAFF),
    ("GET", r"^/contacts/companies$", Access.ANY),
    ("*", r"^/contacts(/|$)", Access.ANY),
    # Agents reach only their own tickets: others' answer 404 (test_web_tickets.py).
    ("*", r"^/tickets(/|$)", Access.ANY),
    # Agents reach only their own callbacks: others' answer 404 (test_web_callbacks.py).
    ("*", r"^/callbacks(/|$)", Access.ANY),
    ("GET", r"^/calendar(\.ics)?$", Access.ANY),
    ("GET", r"^/agents$", Access.STAFF),
    ("GET", r"^/reports/agent-states(\.csv)?$", Access.STAFF),
    ("GET", r"^/admin$", Access.STAFF),
    # Supervisors see the user list, read-only.
    ("GET", r"^/admin/users$", Access.STAFF),
    ("*", r"^/admin/dispositions(/|$)", Access.STAFF),
    # Queues and campaigns: supervisors see them (read-only forms), admins change them.
    ("GET", r"^/admin/(queues|campaigns)(/|$)", Access.STAFF),
    ("*", r"^/admin/", Access.ADMIN),
]
ALLOWED = {
    Access.PUBLIC: {"anonymous", "agent", "sup", "root"},
    Access.ANY: {"agent", "sup", "root"},
    Access.STAFF: {"sup", "root"},
    Access.ADMIN: {"root"},
    Access.LOGOUT: {"anonymous", "agent", "sup", "root"},
}
ROLES = ("anonymous", "agent", "sup", "root")
# Answers >= 500 seen and reported, not ours to fix this session: (method, canonical
# path) -> what happens. Strict: once fixed, the test says so and the entry must go.
KNOWN_SERVER_ERRORS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Route:
    method: str
    canonical: str
    path: str  # with its parameters filled in


def classify(method: str, canonical: str) -> Access:
    for want, pattern, access in POLICY:
        if want in ("*", method) and re.search(pattern, canonical):
            return access
    raise AssertionError(
        f"{method} {canonical} is not in POLICY (tests/unit/test_security_matrix.py): "
        f"say who may use it")


@dataclass
class Matrix:
    server: TestServer
    app: web.Application
    ids: dict[str, str]
    clients: dict[str, aiohttp.ClientSession]
    tokens: dict[str, str]

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


def app_routes(app: web.Application, ids: dict[str, str]) -> list[Route]:
    out = []
    for resource in app.router.resources():
        canonical = resource.canonical
        for route in resource:
            if route.method in ("HEAD", "OPTIONS"):
                continue
            path = "/static/app.css" if canonical == "/static" else canonical
            for name in re.findall(r"\{(\w+)\}", canonical):
                assert name in ids, f"no value for the path parameter {name} of {canonical}"
                path = path.replace(f"{{{name}}}", ids[name])
            out.append(Route(route.method, canonical, path))
    return out


async def _login(http: aiohttp.ClientSession, url: str, username: str,
                 password: str = PASSWORD) -> aiohttp.ClientResponse:
    page = await http.get(f"{url}/login", headers=HTML)
    token = csrf_in(await page.text())
    return await http.post(f"{url}/login", headers=HTML, allow_redirects=False, data={
        "username": username, "password": password, "csrf_token": token, "next": "/"})


def _jar() -> aiohttp.CookieJar:
    return aiohttp.CookieJar(unsafe=True)  # keep cookies for 127.0.0.1


@pytest.fixture
async def matrix(tmp_path: Path) -> AsyncIterator[Matrix]:
    app = create_app(Settings(data_dir=str(tmp_path)))
    app[PASSWORD_HASHING] = FAST
    # Generous limits here: the matrix makes many failed logins on purpose.
    app[LOGIN_LIMITER] = LoginRateLimiter(per_account=Limit(1000, 300),
                                          per_address=Limit(1000, 300))
    server = TestServer(app)
    await server.start_server()
    clients: dict[str, aiohttp.ClientSession] = {}
    try:
        db = app[DB]
        for name, role in (("root", "admin"), ("agent", "agent"), ("sup", "supervisor"),
                           ("victim", "agent")):
            # Allowed to switch their own dialer: the matrix is about roles, and that
            # per-user permission would answer 403 too.
            await users.create_user(db, name, PASSWORD, role=role, dialer_enabled=True,
                                    dialer_user_toggle_allowed=True, hashing=FAST)
        victim = await users.get_by_username(db, "victim")
        assert victim is not None
        contact = await contacts.create_contact(db, contacts.ContactDraft(
            kind=contacts.ContactKind.PERSON, name="Matrix Person", phones=()))
        ids = {"user_id": str(victim.id), "contact_id": str(contact.id),
               "call_id": "no-such-call", "job_id": "no-such-job", "disposition_id": "999",
               "category_id": "999", "form_id": "999", "field_id": "999",
               "pause_id": "999", "ticket_id": "999", "action_id": "999",
               "callback_id": "999"}
        queue = await queue_store.save_queue(db, None, "Matrix queue", "", [])
        campaign = await queue_store.save_campaign(db, None, "Matrix campaign",
                                                   CampaignState.ACTIVE, None, None, False, [])
        ids |= {"queue_id": str(queue.id), "campaign_id": str(campaign.id)}
        url = str(server.make_url("")).rstrip("/")
        tokens: dict[str, str] = {}
        for role in ROLES:
            http = clients[role] = aiohttp.ClientSession(cookie_jar=_jar())
            if role == "anonymous":
                tokens[role] = csrf_in(await (await http.get(f"{url}/login",
                                                              headers=HTML)).text())
                continue
            assert (await _login(http, url, role)).status == 303
            tokens[role] = csrf_in(await (await http.get(f"{url}/profile",
                                                          headers=HTML)).text())
        # The secrets, set the way an admin sets them: through the real forms.
        root = clients["root"]
        agent = await users.get_by_username(db, "agent")
        assert agent is not None
        for user_id, ext in ((ids["user_id"], "2001"), (str(agent.id), "2002")):
            resp = await root.post(f"{url}/admin/users/{user_id}/sip", headers=HTML,
                                   allow_redirects=False, data={
                                       "csrf_token": tokens["root"], "sip_extension": ext,
                                       "sip_auth_user": "", "sip_display_name": "",
                                       "sip_caller_ids": "", "sip_password": SIP_SECRET})
            assert resp.status == 303, await resp.text()
        resp = await root.post(f"{url}/admin/settings", headers=HTML, allow_redirects=False,
                               data={**SETTINGS_FORM, "csrf_token": tokens["root"],
                                     "smtp_password": SMTP_SECRET})
        assert resp.status == 303, await resp.text()
        resp = await root.post(f"{url}/admin/sms", headers=HTML, allow_redirects=False,
                               data={"csrf_token": tokens["root"], "url": "https://sms.example.com/",
                                     "method": "POST", "body_format": "text",
                                     "body_template": "{to} {text}", "message": "Hi",
                                     "token": SMS_SECRET})
        assert resp.status == 303, await resp.text()
        yield Matrix(server, app, ids, clients, tokens)
    finally:
        for http in clients.values():
            await http.close()
        await server.close()


SETTINGS_FORM = {"region": "ES", "area_code": "", "target_talk_seconds": "180",
                 "company_name": "Matrix", "language": "en", "time_zone": "UTC",
                 "missed_retention_days": "30",
                 "smtp_host": "mail.example.com", "smtp_port": "587",
                 "smtp_security": "starttls", "smtp_user": "mailer",
                 "smtp_from": "calls@example.com"}


async def _request(m: Matrix, role: str, route: Route, *, html: bool = True,
                   token: bool = True) -> aiohttp.ClientResponse:
    headers = dict(HTML) if html else {"Accept": "application/json"}
    http = m.clients[role]
    if route.method != "GET" and token:
        headers["X-CSRF-Token"] = m.tokens[role]
    writing = route.method != "GET"
    resp = await http.request(route.method, m.url(route.path), headers=headers,
                              allow_redirects=False,
                              json={} if route.method in ("PUT", "PATCH") else None,
                              data={} if writing and route.method == "POST" else None)
    body = await resp.read()
    where = f"{role} {route.method} {route.path} -> {resp.status}"
    for secret in SECRETS:
        assert secret.encode() not in body, f"{where}: body carries a password"
        assert all(secret not in v for v in resp.headers.values()), f"{where}: header"
    known = KNOWN_SERVER_ERRORS.get((route.method, route.canonical))
    if known and resp.status != 403 and not _refused_anonymous(resp):
        assert resp.status >= 500, f"{where}: fixed? remove it from KNOWN_SERVER_ERRORS"
    else:
        assert resp.status < 500, f"{where}: {body[:300]!r}"
    return resp


def _refused_anonymous(resp: aiohttp.ClientResponse) -> bool:
    if resp.status == 401:
        return True
    return resp.status == 303 and resp.headers["Location"].startswith("/login")


async def test_every_route_is_classified(matrix: Matrix) -> None:
    routes = app_routes(matrix.app, matrix.ids)
    assert len(routes) > 30  # the whole app, not a fragment of it
    unclassified = []
    for route in routes:
        try:
            classify(route.method, route.canonical)
        except AssertionError as exc:
            unclassified.append(str(exc))
    assert unclassified == []


async def test_gets_for_every_role(matrix: Matrix) -> None:
    for route in app_routes(matrix.app, matrix.ids):
        if route.method != "GET":
            continue
        access = classify(route.method, route.canonical)
        for role in ROLES:
            for html in (True, False):
                resp = await _request(matrix, role, route, html=html)
                where = f"{role} GET {route.path} (html={html}) -> {resp.status}"
                if role in ALLOWED[access]:
                    assert resp.status not in (401, 403), where
                    assert not (role != "anonymous" and _refused_anonymous(resp)), where
                elif role == "anonymous":
                    assert _refused_anonymous(resp), where
                    if not html:  # fetch/JSON clients get a 401 they can act on
                        assert resp.status == 401, where
                else:
                    assert resp.status == 403, where


async def test_writes_need_the_token_and_the_role(matrix: Matrix) -> None:
    writes = [r for r in app_routes(matrix.app, matrix.ids) if r.method != "GET"]
    assert writes
    # Without the token: refused for everyone, before any handler runs.
    for route in writes:
        for role in ROLES:
            resp = await _request(matrix, role, route, token=False)
            assert resp.status == 403, f"{role} {route.method} {route.path} without token"
    # With the token: the role decides. Logout is last (it ends the session).
    for route in sorted(writes, key=lambda r: classify(r.method, r.canonical)
                        is Access.LOGOUT):
        access = classify(route.method, route.canonical)
        for role in ROLES:
            resp = await _request(matrix, role, route, html=route.method == "POST")
            where = f"{role} {route.method} {route.path} -> {resp.status}"
            if access is Access.LOGOUT:
                assert resp.status == 303 and resp.headers["Location"] == "/login", where
            elif role in ALLOWED[access]:
                assert resp.status not in (401, 403), where
                assert not (role != "anonymous" and _refused_anonymous(resp)), where
            elif role == "anonymous":
                assert _refused_anonymous(resp), where
            else:
                assert resp.status == 403, where


async def test_settings_errors_do_not_echo_the_smtp_password(matrix: Matrix) -> None:
    resp = await matrix.clients["root"].post(
        matrix.url("/admin/settings"), headers=HTML, allow_redirects=False,
        data={**SETTINGS_FORM, "smtp_port": "not a port", "csrf_token": matrix.tokens["root"],
              "smtp_password": SMTP_SECRET + "-typed"})
    assert resp.status == 400
    assert SMTP_SECRET not in await resp.text()


async def test_a_planted_session_id_is_worth_nothing(matrix: Matrix) -> None:
    url = matrix.url("").rstrip("/")
    async with aiohttp.ClientSession(cookie_jar=_jar()) as victim:
        # An attacker's own valid session, planted in the victim's browser...
        async with aiohttp.ClientSession(cookie_jar=_jar()) as attacker:
            planted = (await _login(attacker, url, "victim")).cookies[sessions.COOKIE_NAME].value
        chosen = "attacker-chosen-session-id-0123456789"
        for token in (planted, chosen):
            victim.cookie_jar.update_cookies({sessions.COOKIE_NAME: token},
                                             matrix.server.make_url("/"))
            resp = await _login(victim, url, "agent")
            assert resp.status == 303
            after = resp.cookies[sessions.COOKIE_NAME].value
            assert after not in (planted, chosen)
        # ...does not follow the victim into their account, and is revoked by the login.
        for token in (planted, chosen):
            async with aiohttp.ClientSession(cookie_jar=_jar()) as probe:
                resp = await probe.get(f"{url}/profile", allow_redirects=False,
                                       headers={"Cookie": f"{sessions.COOKIE_NAME}={token}"})
                assert resp.status == 401


async def test_login_limit_per_address_across_accounts(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=str(tmp_path)))
    app[PASSWORD_HASHING] = FAST
    app[LOGIN_LIMITER] = LoginRateLimiter(per_account=Limit(3, 300), per_address=Limit(5, 300))
    server = TestServer(app)
    await server.start_server()
    try:
        await users.create_user(app[DB], "fresh", PASSWORD, role=Role.AGENT.value,
                                hashing=FAST)
        url = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession(cookie_jar=_jar()) as http:
            # A different account each time: the per-account limit never trips...
            for k in range(5):
                resp = await _login(http, url, f"guess{k}", "wrong password")
                assert resp.status == 200
            # ...but the address has used its tries: even a right password waits.
            blocked = await _login(http, url, "fresh")
            assert blocked.status == 429 and int(blocked.headers["Retry-After"]) > 0
            assert sessions.COOKIE_NAME not in blocked.cookies
    finally:
        await server.close()
