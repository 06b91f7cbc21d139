"""Pause codes (administrators): the list, a new code, and renaming / (de)activating one.

Post/redirect/get as in admin_users.py: a valid form redirects back with a ``done``
notice; an invalid one re-renders the page with its errors and changes nothing.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crm import pause_codes
from crm.errors import CrmError
from crm.users import Role
from web.appkeys import DB
from web.auth import role_required
from web.forms import FormErrors, checked, text
from web.templating import render
from web.views.login import see_other

NOTICES = {"created": "pause.notice.created", "saved": "pause.notice.saved"}
INVALID = 400


async def _page(request: web.Request, values: dict[str, Any], errors: FormErrors,
                status: int = 200) -> web.Response:
    notice = NOTICES.get(request.query.get("done", ""))
    return render("admin_pause_codes.html", request, {
        "codes": await pause_codes.list_codes(request.app[DB]),
        "values": values, "errors": errors, "notice": notice,
    }, status=status)


@role_required(Role.ADMIN)
async def code_list(request: web.Request) -> web.StreamResponse:
    return await _page(request, {"code": "", "name": "", "productive": False}, FormErrors())


@role_required(Role.ADMIN)
async def new_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    code, name, productive = text(form, "code"), text(form, "name"), checked(form, "productive")
    values: dict[str, Any] = {"code": code, "name": name, "productive": productive}
    errors = FormErrors()
    errors.catch("code", pause_codes.clean_code, code)
    errors.catch("name", pause_codes.clean_name, name)
    if not errors:
        try:
            await pause_codes.create(request.app[DB], code, name, productive)
        except CrmError as exc:
            errors.add("code", exc.key, **exc.params)
    if errors:
        return await _page(request, values, errors, status=INVALID)
    return see_other("/admin/pause-codes?done=created")


@role_required(Role.ADMIN)
async def edit_submit(request: web.Request) -> web.StreamResponse:
    digits = request.match_info["pause_id"]
    if len(digits) > 18:
        raise web.HTTPNotFound()
    form = await request.post()
    errors = FormErrors()
    name = errors.catch(f"name-{digits}", pause_codes.clean_name, text(form, "name"))
    if name is not None:
        try:
            await pause_codes.update(request.app[DB], int(digits), name,
                                     checked(form, "productive"), checked(form, "active"))
        except CrmError as exc:
            if exc.key == "pause.not_found":
                raise web.HTTPNotFound() from exc
            errors.add(f"name-{digits}", exc.key, **exc.params)
    if errors:
        return await _page(request, {"code": "", "name": "", "productive": False}, errors,
                           status=INVALID)
    return see_other("/admin/pause-codes?done=saved")
