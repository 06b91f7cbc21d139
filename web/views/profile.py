"""The user's own settings: language, the softphone where allowed, the password."""

from __future__ import annotations

from aiohttp import web

from crm import clock, deployment, missed_call_store, sip_accounts, users
from crm.errors import InvalidValue
from crm.passwords import MIN_PASSWORD_LENGTH
from web import ratelimit, sessions
from web.appkeys import DB
from web.auth import login_required, require_user
from web.deployment_setup import live
from web.forms import FormErrors, checked, text
from web.templating import render
from web.views.login import see_other
from web.webkeys import LOGIN_LIMITER, PASSWORD_HASHING, SESSION

NOTICES = {
    "language": "profile.notice.language",
    "dialer_on": "profile.notice.dialer_on",
    "dialer_off": "profile.notice.dialer_off",
    "missed_on": "missed.profile.notice.on",
    "missed_off": "missed.profile.notice.off",
}


async def _profile_page(request: web.Request, errors: FormErrors | None = None,
                        language: str | None = None, status: int = 200,
                        missed_email: dict[str, object] | None = None) -> web.Response:
    user = require_user(request)
    if missed_email is None:
        subscription = await missed_call_store.get_subscription(request.app[DB], user.id)
        missed_email = {"enabled": subscription is not None,
                        "email": subscription.email if subscription else ""}
    return render("profile.html", request, {
        "missed_email": missed_email,
        "smtp_configured": live(request.app).smtp_configured,
        "account": await sip_accounts.get_account(request.app[DB], user.id),
        "languages": users.LANGUAGES,
        "language": user.language if language is None else language,
        "errors": errors or FormErrors(),
        "notice": NOTICES.get(request.query.get("done", "")) if status == 200 else None,
    }, status=status)


@login_required
async def profile_page(request: web.Request) -> web.StreamResponse:
    return await _profile_page(request)


@login_required
async def language_submit(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    language = text(await request.post(), "language")
    errors = FormErrors()
    errors.catch("language", users.check_language, language)
    if errors:
        return await _profile_page(request, errors, language, status=400)
    await users.update_user(request.app[DB], user.id, language=language)
    return see_other("/profile?done=language")


@login_required
async def dialer_submit(request: web.Request) -> web.StreamResponse:
    """Switch one's own softphone on or off, where an admin allows it."""
    user = require_user(request)
    if not user.dialer_user_toggle_allowed:
        raise web.HTTPForbidden()
    enabled = text(await request.post(), "enabled") == "1"
    await users.update_user(request.app[DB], user.id, dialer_enabled=enabled)
    return see_other("/profile?done=" + ("dialer_on" if enabled else "dialer_off"))


@login_required
async def missed_email_submit(request: web.Request) -> web.StreamResponse:
    """Turn the e-mail about each new missed call on (at an address) or off."""
    user = require_user(request)
    form = await request.post()
    enabled = checked(form, "missed_email_enabled")
    email = text(form, "missed_email")
    errors = FormErrors()
    if enabled and not email.strip():
        errors.add("missed_email", "missed.profile.error.email_needed")
    elif enabled:
        errors.catch("missed_email", deployment.clean_email, email)
    if errors:
        return await _profile_page(request, errors, status=400,
                                   missed_email={"enabled": enabled, "email": email})
    await missed_call_store.set_subscription(
        request.app[DB], user.id, deployment.clean_email(email) if enabled else None)
    return see_other("/profile?done=" + ("missed_on" if enabled else "missed_off"))


def _page(request: web.Request, *, error: str | None = None, done: bool = False,
          status: int = 200, **params: object) -> web.Response:
    return render("password.html", request, {
        "error": error, "error_params": params, "done": done, "min": MIN_PASSWORD_LENGTH,
    }, status=status)


@login_required
async def password_form(request: web.Request) -> web.StreamResponse:
    return _page(request)


@login_required
async def password_submit(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    form = await request.post()
    current = str(form.get("current_password", ""))
    new = str(form.get("new_password", ""))
    confirm = str(form.get("confirm_password", ""))
    db = request.app[DB]
    hashing = request.app[PASSWORD_HASHING]
    limiter = request.app[LOGIN_LIMITER]

    # Guessing the current password here is guessing a login: same limits.
    wait = limiter.retry_after(user.username, request.remote)
    if wait > 0:
        return _page(request, error="login.rate_limited", status=429,
                     minutes=ratelimit.minutes(wait))
    if await users.authenticate(db, user.username, current, hashing=hashing) is None:
        limiter.record_failure(user.username, request.remote)
        return _page(request, error="password.wrong_current")
    if new != confirm:
        return _page(request, error="password.mismatch")
    if new == current:
        return _page(request, error="password.same_as_old")
    try:
        await users.set_password(db, user.id, new, hashing=hashing)
    except InvalidValue as exc:
        return _page(request, error=exc.key, **exc.params)

    # Anyone else logged in as this user (a stolen session) is out; this browser stays in.
    now = clock.utc_now()
    await sessions.revoke_user_sessions(db, user.id, now)
    token, session = await sessions.create_session(db, user.id, now)
    request[SESSION] = session
    response = _page(request, done=True)
    sessions.set_cookie(response, request, token, session)
    return response
