"""Managing users: the list (admins and supervisors), creating and editing (admins).

Each form on the edit page posts to its own URL and, when valid, redirects back with a
``done`` notice (post/redirect/get). An invalid form re-renders the page with its errors
and the values typed, and changes nothing. SIP account forms live in admin_sip.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crm import clock, sip_accounts, users
from crm.errors import CrmError
from crm.passwords import MIN_PASSWORD_LENGTH, check_new_password
from crm.sip_accounts import SipAccount
from crm.users import Role, User
from web import phone_hooks, sessions
from web.appkeys import DB
from web.auth import require_user, role_required
from web.forms import FormErrors, checked, text
from web.templating import render
from web.views.login import see_other
from web.webkeys import PASSWORD_HASHING

# The notices a redirect may ask the edit page to show (never free text from the URL).
NOTICES = {
    "created": "admin.notice.created",
    "saved": "admin.notice.saved",
    "password": "admin.notice.password",
    "deactivated": "admin.notice.deactivated",
    "reactivated": "admin.notice.reactivated",
    "sip": "admin.notice.sip_saved",
    "sip_removed": "admin.notice.sip_removed",
}
INVALID = 400


def edit_url(user: User, done: str | None = None) -> str:
    return f"/admin/users/{user.id}" + (f"?done={done}" if done else "")


async def target_user(request: web.Request) -> User:
    """The user named in the URL, or 404."""
    digits = request.match_info["user_id"]
    # The route allows digits only; SQLite integers stop at 19 of them.
    if len(digits) > 18:
        raise web.HTTPNotFound()
    user = await users.get_user(request.app[DB], int(digits))
    if user is None:
        raise web.HTTPNotFound()
    return user


def role_choices() -> list[str]:
    return [role.value for role in Role]


@role_required(Role.ADMIN, Role.SUPERVISOR)
async def user_list(request: web.Request) -> web.StreamResponse:
    db = request.app[DB]
    accounts = {account.user_id: account for account in await sip_accounts.list_accounts(db)}
    rows = [(user, accounts.get(user.id)) for user in await users.list_users(db)]
    return render("admin_users.html", request, {
        "rows": rows, "can_edit": require_user(request).is_admin,
    })


def _new_page(request: web.Request, values: dict[str, Any], errors: FormErrors,
              status: int = 200) -> web.Response:
    return render("admin_user_new.html", request, {
        "values": values, "errors": errors, "roles": role_choices(),
        "languages": users.LANGUAGES, "min": MIN_PASSWORD_LENGTH,
    }, status=status)


@role_required(Role.ADMIN)
async def new_form(request: web.Request) -> web.StreamResponse:
    return _new_page(request, {
        "username": "", "display_name": "", "role": Role.AGENT.value, "language": "",
        "dialer_enabled": False, "dialer_user_toggle_allowed": False,
    }, FormErrors())


@role_required(Role.ADMIN)
async def new_submit(request: web.Request) -> web.StreamResponse:
    db = request.app[DB]
    form = await request.post()
    values: dict[str, Any] = {
        "username": text(form, "username").strip(),
        "display_name": text(form, "display_name").strip(),
        "role": text(form, "role"),
        "language": text(form, "language"),
        "dialer_enabled": checked(form, "dialer_enabled"),
        "dialer_user_toggle_allowed": checked(form, "dialer_user_toggle_allowed"),
    }
    password = text(form, "password")
    errors = FormErrors()
    username = errors.catch("username", users.normalize_username, values["username"])
    if values["display_name"]:
        errors.catch("display_name", users.clean_display_name, values["display_name"])
    role = errors.catch("role", users.parse_role, values["role"])
    errors.catch("language", users.check_language, values["language"])
    errors.catch("password", check_new_password, password)
    if "password" not in errors and password != text(form, "password_confirm"):
        errors.add("password_confirm", "password.mismatch")
    if username is not None and await users.get_by_username(db, username) is not None:
        errors.add("username", "user.username_taken", username=username)
    if errors or username is None or role is None:
        return _new_page(request, values, errors, INVALID)
    try:
        user = await users.create_user(
            db, username, password, role=role, display_name=values["display_name"],
            language=values["language"], dialer_enabled=values["dialer_enabled"],
            dialer_user_toggle_allowed=values["dialer_user_toggle_allowed"],
            hashing=request.app[PASSWORD_HASHING])
    except CrmError as exc:  # a race: someone took the username meanwhile
        errors.add("username", exc.key, **exc.params)
        return _new_page(request, values, errors, INVALID)
    return see_other(edit_url(user, "created"))


def _details_values(user: User) -> dict[str, Any]:
    return {
        "display_name": user.display_name, "role": user.role.value,
        "language": user.language, "dialer_enabled": user.dialer_enabled,
        "dialer_user_toggle_allowed": user.dialer_user_toggle_allowed,
    }


def _sip_values(account: SipAccount | None) -> dict[str, str]:
    if account is None:
        return {"extension": "", "auth_user": "", "display_name": "", "caller_ids": ""}
    return {
        "extension": account.extension, "auth_user": account.auth_user,
        "display_name": account.display_name, "caller_ids": "\n".join(account.caller_ids),
    }


async def edit_page(
    request: web.Request,
    target: User,
    *,
    details: dict[str, Any] | None = None,
    sip: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> web.Response:
    """The edit page; ``details``/``sip`` are values typed into a form that had errors."""
    me = require_user(request)
    account = await sip_accounts.get_account(request.app[DB], target.id)
    notice = NOTICES.get(request.query.get("done", "")) if status == 200 else None
    return render("admin_user_edit.html", request, {
        "target": target,
        "is_self": target.id == me.id,
        "account": account,
        "details": details or _details_values(target),
        "sip": sip or _sip_values(account),
        "errors": errors or FormErrors(),
        "notice": notice,
        "roles": role_choices(),
        "languages": users.LANGUAGES,
        "min": MIN_PASSWORD_LENGTH,
    }, status=status)


@role_required(Role.ADMIN)
async def edit_form(request: web.Request) -> web.StreamResponse:
    return await edit_page(request, await target_user(request))


@role_required(Role.ADMIN)
async def edit_submit(request: web.Request) -> web.StreamResponse:
    me = require_user(request)
    target = await target_user(request)
    form = await request.post()
    details: dict[str, Any] = {
        "display_name": text(form, "display_name").strip(),
        "role": text(form, "role"),
        "language": text(form, "language"),
        "dialer_enabled": checked(form, "dialer_enabled"),
        "dialer_user_toggle_allowed": checked(form, "dialer_user_toggle_allowed"),
    }
    errors = FormErrors()
    errors.catch("display_name", users.clean_display_name, details["display_name"])
    role = errors.catch("role", users.parse_role, details["role"])
    errors.catch("language", users.check_language, details["language"])
    if not errors:
        try:
            await users.update_user(
                request.app[DB], target.id, display_name=details["display_name"], role=role,
                language=details["language"], dialer_enabled=details["dialer_enabled"],
                dialer_user_toggle_allowed=details["dialer_user_toggle_allowed"])
        except CrmError as exc:  # the last administrator
            errors.add("role", exc.key, **exc.params)
    if errors:
        return await edit_page(request, target, details=details, errors=errors,
                               status=INVALID)
    if target.id == me.id and role is not Role.ADMIN:
        # They gave the role away: the edit page is no longer theirs to see.
        return see_other("/")
    return see_other(edit_url(target, "saved"))


@role_required(Role.ADMIN)
async def status_submit(request: web.Request) -> web.StreamResponse:
    """Deactivate (signing the user out everywhere) or reactivate an account."""
    me = require_user(request)
    target = await target_user(request)
    form = await request.post()
    active = text(form, "active") == "1"
    errors = FormErrors()
    if not active and target.id == me.id:
        errors.add("status", "admin.status.not_self")
    else:
        try:
            await users.update_user(request.app[DB], target.id, active=active)
        except CrmError as exc:
            errors.add("status", exc.key, **exc.params)
    if errors:
        return await edit_page(request, target, errors=errors, status=INVALID)
    if not active:
        await sessions.revoke_user_sessions(request.app[DB], target.id, clock.utc_now())
        await phone_hooks.account_changed(request.app, target.id, deactivated=True)
    return see_other(edit_url(target, "reactivated" if active else "deactivated"))


@role_required(Role.ADMIN)
async def password_submit(request: web.Request) -> web.StreamResponse:
    """Set a new password for someone who forgot theirs; their sessions end."""
    me = require_user(request)
    target = await target_user(request)
    form = await request.post()
    password = text(form, "new_password")
    errors = FormErrors()
    if target.id == me.id:
        # Changing one's own password asks for the current one: use the profile page.
        errors.add("new_password", "admin.password.use_profile")
    errors.catch("new_password", check_new_password, password)
    if "new_password" not in errors and password != text(form, "new_password_confirm"):
        errors.add("new_password_confirm", "password.mismatch")
    if errors:
        return await edit_page(request, target, errors=errors, status=INVALID)
    db = request.app[DB]
    await users.set_password(db, target.id, password, hashing=request.app[PASSWORD_HASHING])
    await sessions.revoke_user_sessions(db, target.id, clock.utc_now())
    return see_other(edit_url(target, "password"))
