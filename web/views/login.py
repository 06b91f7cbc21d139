"""Logging in and out."""

from __future__ import annotations

from aiohttp import web

from crm import clock, users
from web import ratelimit, sessions
from web.appkeys import DB
from web.auth import current_session, current_user
from web.templating import render
from web.webkeys import LOGIN_LIMITER, PASSWORD_HASHING

# Longer input is cut before it reaches the rate limiter's keys or the database.
MAX_USERNAME_INPUT = 200


def see_other(location: str) -> web.Response:
    """A 303 redirect that can carry cookies (raised HTTP exceptions are for errors)."""
    return web.Response(status=303, headers={"Location": location})


def safe_next(target: object) -> str:
    """Where to go after login: a path on this site, never another site."""
    if not isinstance(target, str) or not target.startswith("/"):
        return "/"
    # "//evil.example" and "/\\evil.example" are other sites to a browser.
    if target.startswith(("//", "/\\")) or any(ch in target for ch in "\r\n\t"):
        return "/"
    return target


async def login_form(request: web.Request) -> web.StreamResponse:
    if current_user(request) is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return render("login.html", request, {
        "next": safe_next(request.query.get("next")), "username": "", "error": None,
    })


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", "")).strip()[:MAX_USERNAME_INPUT]
    password = str(form.get("password", ""))
    next_url = safe_next(form.get("next"))
    limiter = request.app[LOGIN_LIMITER]
    address = request.remote

    def again(error: str, status: int, **params: object) -> web.Response:
        return render("login.html", request, {
            "next": next_url, "username": username, "error": error, "error_params": params,
        }, status=status)

    wait = limiter.retry_after(username, address)
    if wait > 0:
        response = again("login.rate_limited", 429, minutes=ratelimit.minutes(wait))
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response

    db = request.app[DB]
    user = await users.authenticate(db, username, password,
                                    hashing=request.app[PASSWORD_HASHING])
    if user is None:
        limiter.record_failure(username, address)
        return again("login.failed", 200)
    limiter.record_success(username, address)

    now = clock.utc_now()
    # A new session id at every login: an id planted before login is worth nothing.
    old = current_session(request)
    if old is not None:
        await sessions.revoke_session(db, old.id_hash, now)
    token, session = await sessions.create_session(db, user.id, now)
    response = see_other(next_url)
    sessions.set_cookie(response, request, token, session)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    session = current_session(request)
    if session is not None:
        await sessions.revoke_session(request.app[DB], session.id_hash, clock.utc_now())
    response = see_other("/login")
    sessions.clear_cookie(response, request)
    return response
