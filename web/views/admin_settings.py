"""``/admin/settings``: the deployment settings page (administrators only).

Every field is checked (crm/deployment.py) before anything is stored, so a form with any
wrong value re-renders with its errors and the values typed, and changes nothing. The
SMTP password is write-only: never put in the page, an empty field keeps the stored one.
A test e-mail checks the saved SMTP settings before anyone relies on them.
"""

from __future__ import annotations

import asyncio
import smtplib

from aiohttp import web
from babel import Locale

from crm import deployment as deployment_mod
from crm import missed_call_mail
from crm.deployment import Deployment, DeploymentInvalid, PasswordChange
from crm.secret_key import SecretKeyError
from crm.users import Role
from web import formatting, i18n
from web.appkeys import DB, DEPLOYMENT
from web.auth import current_lang, require_user, role_required
from web.forms import FormErrors, checked, text
from web.templating import render
from web.views.login import see_other
from web.webkeys import SECRET_BOX

INVALID = 400
NOTICES = {"saved": "settings.notice.saved", "mail_sent": "settings.notice.mail_sent"}


def _values(d: Deployment) -> dict[str, str]:
    """The form's fields as text, from stored settings (never the password)."""
    return {
        "region": d.region, "area_code": d.area_code,
        "target_talk_seconds": str(d.target_talk_seconds), "company_name": d.company_name,
        "language": d.language, "time_zone": d.time_zone,
        "missed_retention_days": str(d.missed_retention_days),
        "smtp_host": d.smtp_host, "smtp_port": str(d.smtp_port),
        "smtp_security": d.smtp_security, "smtp_from": d.smtp_from, "smtp_user": d.smtp_user,
    }


def region_options(lang: str) -> list[tuple[str, str]]:
    """(code, name in ``lang``) for every region phone numbers can be read for."""
    names = Locale.parse(formatting.babel_locale(lang)).territories
    regions = sorted(deployment_mod.phone_numbers.phonenumbers.SUPPORTED_REGIONS)
    options = [(code, f"{names.get(code, code)} ({code})") for code in regions]
    return sorted(options, key=lambda option: option[1].casefold())


def _page(request: web.Request, values: dict[str, str], errors: FormErrors,
          status: int = 200, test_to: str = "") -> web.Response:
    current = request.app[DEPLOYMENT].current
    return render("admin_settings.html", request, {
        "values": values,
        "test_to": test_to,
        "smtp_configured": current.smtp_configured,
        "errors": errors,
        "regions": region_options(current_lang(request)),
        "time_zones": deployment_mod.time_zones(),
        "languages": deployment_mod.LANGUAGES,
        "securities": deployment_mod.SMTP_SECURITY,
        "has_password": current.has_smtp_password,
        "limits": {"talk": deployment_mod.TALK_SECONDS,
                   "retention": deployment_mod.RETENTION_DAYS},
        "notice": NOTICES.get(request.query.get("done", "")) if status == 200 else None,
    }, status=status)


@role_required(Role.ADMIN)
async def settings_page(request: web.Request) -> web.StreamResponse:
    return _page(request, _values(request.app[DEPLOYMENT].current), FormErrors())


@role_required(Role.ADMIN)
async def settings_submit(request: web.Request) -> web.StreamResponse:
    user = require_user(request, Role.ADMIN)
    form = await request.post()
    typed = {name: text(form, name) for name in deployment_mod.FORM_FIELDS
             if name != "smtp_password"}
    holder = request.app[DEPLOYMENT]
    change = PasswordChange(new=text(form, "smtp_password") or None,
                            clear=checked(form, "smtp_password_clear"))
    try:
        cleaned, new_password = deployment_mod.clean_form(typed, holder.current, change)
    except DeploymentInvalid as invalid:
        errors = FormErrors()
        for name in deployment_mod.FORM_FIELDS:
            if name in invalid.errors:
                errors.add(name, invalid.errors[name].key, **invalid.errors[name].params)
        return _page(request, typed, errors, status=INVALID)
    await holder.save(request.app[DB], request.app[SECRET_BOX], cleaned, new_password, user.id)
    return see_other("/admin/settings?done=saved")


@role_required(Role.ADMIN)
async def test_mail_submit(request: web.Request) -> web.StreamResponse:
    """Send a test e-mail with the saved SMTP settings, to an address the admin gives."""
    current = request.app[DEPLOYMENT].current
    to = text(await request.post(), "test_to")
    errors = FormErrors()
    if not current.smtp_configured:
        errors.add("test_to", "settings.error.mail_not_configured")
    else:
        errors.catch("test_to", deployment_mod.clean_email, to)
    if not errors:
        message = missed_call_mail.compose_test(to.strip(), current_lang(request), current,
                                                i18n.translate)
        try:
            password = missed_call_mail.smtp_password(current, request.app[SECRET_BOX])
            await asyncio.to_thread(missed_call_mail.send, current, password, message)
        except (OSError, smtplib.SMTPException, SecretKeyError) as exc:
            # The class name says enough (refused, timed out, login failed) and, unlike
            # the server's text, cannot carry anything it should not.
            errors.add("test_to", "settings.error.mail_failed", reason=type(exc).__name__)
    if errors:
        return _page(request, _values(current), errors, status=INVALID, test_to=to)
    return see_other("/admin/settings?done=mail_sent")
