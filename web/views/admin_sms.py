"""``/admin/sms``: the HTTP SMS gateway setting (administrators only).

Every field is checked (crm/sms_gateway.py) before anything is stored, so a form with
any wrong value re-renders with its errors and the values typed, and changes nothing.
The token is write-only: never put in the page, an empty field keeps the stored one.
"""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from crm import sms_gateway
from crm.sms_gateway import SmsGateway, SmsGatewayInvalid, TokenChange
from crm.users import Role
from web.appkeys import DB
from web.auth import current_lang, require_user, role_required
from web.forms import FormErrors, checked, text
from web.i18n import translate
from web.templating import render
from web.views.login import see_other
from web.webkeys import SECRET_BOX

INVALID = 400


def _values(gateway: SmsGateway, lang: str) -> dict[str, str]:
    """The form's fields as text (never the token); a default message in the admin's
    language until one is saved."""
    return {"url": gateway.url, "method": gateway.method, "body_format": gateway.body_format,
            "body_template": gateway.body_template or '{"to": "{to}", "text": "{text}"}',
            "message": gateway.message or translate(lang, "sms.default_message")}


def _page(request: web.Request, gateway: SmsGateway, values: dict[str, str],
          errors: FormErrors, status: int = 200) -> web.Response:
    return render("admin_sms.html", request, {
        "values": values,
        "errors": errors,
        "configured": gateway.configured,
        "has_token": gateway.has_token,
        "methods": sms_gateway.METHODS,
        "formats": sms_gateway.FORMATS,
        "notice": "sms.notice.saved" if status == 200 and request.query.get("done") == "saved"
        else None,
    }, status=status)


@role_required(Role.ADMIN)
async def sms_page(request: web.Request) -> web.StreamResponse:
    gateway = await sms_gateway.load(request.app[DB])
    return _page(request, gateway, _values(gateway, current_lang(request)), FormErrors())


@role_required(Role.ADMIN)
async def sms_submit(request: web.Request) -> web.StreamResponse:
    user = require_user(request, Role.ADMIN)
    form = await request.post()
    typed = {name: text(form, name) for name in sms_gateway.FORM_FIELDS if name != "token"}
    current = await sms_gateway.load(request.app[DB])
    change = TokenChange(new=text(form, "token") or None, clear=checked(form, "token_clear"))
    try:
        cleaned, new_token = sms_gateway.clean_form(typed, current, change)
    except SmsGatewayInvalid as invalid:
        errors = FormErrors()
        for name in sms_gateway.FORM_FIELDS:
            if name in invalid.errors:
                errors.add(name, invalid.errors[name].key, **invalid.errors[name].params)
        return _page(request, current, typed, errors, status=INVALID)
    if new_token is not None:
        cleaned = replace(cleaned, token_encrypted=request.app[SECRET_BOX].encrypt(new_token))
    await sms_gateway.save(request.app[DB], cleaned, user.id)
    return see_other("/admin/sms?done=saved")
