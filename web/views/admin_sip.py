"""A user's SIP account (extension), as admins set it up on the user's edit page.

The SIP password is write-only: the form never shows it, an empty field keeps the stored
one, and nothing here reads it back (``SipAccount`` has no password field).
"""

from __future__ import annotations

from aiohttp import web

from crm import sip_accounts
from crm.errors import CrmError
from crm.users import Role
from web import phone_hooks
from web.appkeys import DB
from web.auth import role_required
from web.forms import FormErrors, text
from web.templating import render
from web.views.admin_users import INVALID, edit_page, edit_url, target_user
from web.views.login import see_other
from web.webkeys import SECRET_BOX

# Which form field a storage error belongs to.
_FIELD_OF_KEY = {
    "sip.extension_taken": "sip_extension",
    "sip.invalid_extension": "sip_extension",
    "sip.invalid_auth_user": "sip_auth_user",
    "sip.invalid_display_name": "sip_display_name",
    "sip.invalid_caller_id": "sip_caller_ids",
    "sip.too_many_caller_ids": "sip_caller_ids",
    "sip.empty_password": "sip_password",
    "sip.invalid_password": "sip_password",
}




@role_required(Role.ADMIN)
async def sip_submit(request: web.Request) -> web.StreamResponse:
    target = await target_user(request)
    db = request.app[DB]
    form = await request.post()
    sip = {
        "extension": text(form, "sip_extension").strip(),
        "auth_user": text(form, "sip_auth_user").strip(),
        "display_name": text(form, "sip_display_name").strip(),
        "caller_ids": text(form, "sip_caller_ids"),
    }
    password = text(form, "sip_password")
    errors = FormErrors()
    errors.catch("sip_extension", sip_accounts.clean_extension, sip["extension"])
    if sip["auth_user"]:
        errors.catch("sip_auth_user", sip_accounts.clean_auth_user, sip["auth_user"])
    errors.catch("sip_display_name", sip_accounts.clean_display_name, sip["display_name"])
    caller_ids = sip["caller_ids"].splitlines()
    errors.catch("sip_caller_ids", sip_accounts.clean_caller_ids, caller_ids)
    if password:
        errors.catch("sip_password", sip_accounts.check_password, password)
    elif await sip_accounts.get_account(db, target.id) is None:
        errors.add("sip_password", "sip.empty_password")
    if not errors:
        try:
            await sip_accounts.set_account(
                db, request.app[SECRET_BOX], target.id, extension=sip["extension"],
                auth_user=sip["auth_user"], display_name=sip["display_name"],
                caller_ids=caller_ids, password=password or None)
        except CrmError as exc:
            errors.add(_FIELD_OF_KEY.get(exc.key, "sip_extension"), exc.key, **exc.params)
    if errors:
        return await edit_page(request, target, sip=sip, errors=errors, status=INVALID)
    await phone_hooks.account_changed(request.app, target.id)
    return see_other(edit_url(target, "sip"))


@role_required(Role.ADMIN)
async def remove_form(request: web.Request) -> web.StreamResponse:
    """Ask before removing: the user's softphone stops working at once."""
    target = await target_user(request)
    account = await sip_accounts.get_account(request.app[DB], target.id)
    if account is None:
        return see_other(edit_url(target))
    return render("admin_sip_remove.html", request, {"target": target, "account": account})


@role_required(Role.ADMIN)
async def remove_submit(request: web.Request) -> web.StreamResponse:
    target = await target_user(request)
    await sip_accounts.delete_account(request.app[DB], target.id)
    await phone_hooks.account_changed(request.app, target.id)
    return see_other(edit_url(target, "sip_removed"))
