"""Who is asking: the session cookie becomes the request's user, session and language.

Read them with ``current_user``, ``current_session`` and ``current_lang`` (the request
keys are ``web.webkeys.USER``, ``SESSION`` and ``LANG``).

``auth_middleware`` runs on every request and never refuses one; handlers say what they
need with ``login_required`` / ``role_required`` (or call ``require_user``). A person
at a browser who is not logged in is sent to /login and brought back afterwards; JSON
and WebSocket clients get a 401 they can act on. A logged-in user without the role
gets 403.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from crm import clock, users
from crm.users import Role, User
from web import i18n, sessions
from web.appkeys import DB, DEPLOYMENT
from web.webkeys import LANG, SESSION, USER

HandlerFn = Callable[[web.Request], Awaitable[web.StreamResponse]]


def current_user(request: web.Request) -> User | None:
    """The logged-in, active user of this request, or None."""
    return request.get(USER)


def current_session(request: web.Request) -> sessions.Session | None:
    return request.get(SESSION)


def current_lang(request: web.Request) -> str:
    """The language to answer this request in (en, es, pt-BR or pl)."""
    return request.get(LANG, i18n.FALLBACK)


def wants_html(request: web.Request) -> bool:
    """True for a person's browser navigating; False for fetch/JSON and WebSockets."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return False
    return "text/html" in request.headers.get("Accept", "")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    db = request.app[DB]
    user: User | None = None
    session: sessions.Session | None = None
    token = request.cookies.get(sessions.COOKIE_NAME)
    # Static files are the same for everyone: no database round trip for them.
    if token and not request.path.startswith("/static/"):
        session = await sessions.load_session(db, token, clock.utc_now())
        if session is not None:
            user = await users.get_user(db, session.user_id)
            if user is None or not user.active:
                user, session = None, None
    request[SESSION] = session
    request[USER] = user
    request[LANG] = i18n.negotiate(
        user.language if user else None,
        request.headers.get("Accept-Language"),
        default=request.app[DEPLOYMENT].current.language,
    )
    return await handler(request)


def _unauthenticated(request: web.Request) -> web.HTTPException:
    if wants_html(request):
        target = request.rel_url.path_qs
        location = "/login" if target == "/" else f"/login?next={quote(target, safe='')}"
        return web.HTTPSeeOther(location)
    return web.HTTPUnauthorized(
        text='{"error": "not_authenticated"}', content_type="application/json"
    )


def require_user(request: web.Request, *roles: Role) -> User:
    """The logged-in user, or raise (401/redirect to login; 403 without one of ``roles``)."""
    user = current_user(request)
    if user is None:
        raise _unauthenticated(request)
    if roles and user.role not in roles:
        if wants_html(request):
            raise web.HTTPForbidden()
        raise web.HTTPForbidden(text='{"error": "forbidden"}', content_type="application/json")
    return user


def login_required(handler: HandlerFn) -> HandlerFn:
    """Decorate a handler that needs a logged-in user (any role)."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        require_user(request)
        return await handler(request)

    return wrapper


def role_required(*roles: Role | str) -> Callable[[HandlerFn], HandlerFn]:
    """Decorate a handler that needs a logged-in user with one of ``roles``."""
    allowed = tuple(Role(role) for role in roles)

    def decorate(handler: HandlerFn) -> HandlerFn:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            require_user(request, *allowed)
            return await handler(request)

        return wrapper

    return decorate
