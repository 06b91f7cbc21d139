"""Cross-site request forgery defence: a token on every state-changing request.

POST, PUT, PATCH and DELETE must carry the token in the form field ``csrf_token`` or the
``X-CSRF-Token`` header, and must not come from another origin (``Origin``, or
``Referer`` when a browser sends no Origin). Logged-in users' tokens live in their
session; before login (the login form) the token is a random value also kept in a
``headset_csrf`` cookie (the double-submit pattern), since there is no session yet.

WebSockets carry no token: their handlers call ``same_origin`` themselves.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from web.webkeys import NEW_ANON_CSRF, SESSION

FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
ANON_COOKIE = "headset_csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfRejected(web.HTTPForbidden):
    """The request failed the CSRF check (shown to people as ``error.csrf``)."""


def token(request: web.Request) -> str:
    """The token a page rendered for this request must embed in its forms."""
    session = request.get(SESSION)
    if session is not None:
        return session.csrf_token
    existing = request.cookies.get(ANON_COOKIE, "")
    if 20 <= len(existing) <= 100:
        return existing
    fresh = request.get(NEW_ANON_CSRF)
    if fresh is None:
        fresh = request[NEW_ANON_CSRF] = secrets.token_urlsafe(32)
    return fresh


def same_origin(request: web.Request) -> bool:
    """False when the browser says the request comes from another site."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if source is None:
        # Not a browser, or a very old one: the token alone has to do.
        return True
    if source == "null":
        return False
    # Host only, not scheme: behind a TLS-terminating proxy the scheme we see differs.
    return urlsplit(source).netloc.lower() == request.host.lower()


async def _submitted(request: web.Request) -> str:
    header = request.headers.get(HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()  # cached: the handler reads it again for free
        value = form.get(FORM_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def check(request: web.Request) -> None:
    """Raise ``CsrfRejected`` unless this unsafe request passes both checks."""
    if request.method not in UNSAFE_METHODS:
        return
    if not same_origin(request):
        raise CsrfRejected(reason="cross-origin request")
    session = request.get(SESSION)
    expected = session.csrf_token if session else request.cookies.get(ANON_COOKIE, "")
    submitted = await _submitted(request)
    if not expected or not hmac.compare_digest(submitted.encode(), expected.encode()):
        raise CsrfRejected(reason="missing or wrong CSRF token")


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    await check(request)
    response = await handler(request)
    fresh = request.get(NEW_ANON_CSRF)
    if fresh is not None:
        response.set_cookie(ANON_COOKIE, fresh, path="/", httponly=True, samesite="Strict",
                            secure=request.secure)
    return response
