"""Queues and campaigns (administration): one list page with both, an edit page each.

Supervisors see everything read-only; administrators create, edit (name, PBX number or
dates/state/"must disposition", members) and archive or bring back. Nothing is deleted:
calls, callbacks, dispositions and the state log refer to them. Post/redirect/get as in
pause_codes.py: a valid form redirects with a ``done`` notice; an invalid one
re-renders with its errors and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from crm import ids, queue_store, users
from crm.errors import CrmError
from crm.queues import Campaign, CampaignState, Kind, Queue, parse_day
from crm.users import Role
from web.appkeys import DB
from web.auth import require_user, role_required
from web.formatting import deployment_zone
from web.forms import FormErrors, checked, text
from web.templating import render
from web.views.login import see_other

NOTICES = {"created": "queues.notice.created", "saved": "queues.notice.saved",
           "archived": "queues.notice.archived", "restored": "queues.notice.restored"}
INVALID = 400
_PATHS = {Kind.QUEUE: "/admin/queues", Kind.CAMPAIGN: "/admin/campaigns"}


def _id(request: web.Request, name: str) -> int:
    digits = request.match_info[name]
    if len(digits) > 18:
        raise web.HTTPNotFound()
    return int(digits)


async def _agents(request: web.Request) -> list[users.User]:
    """Who can be a member: active users with a softphone."""
    return [u for u in await users.list_users(request.app[DB])
            if u.active and u.dialer_enabled]


def _members(form: MultiDictProxy[str | Any], errors: FormErrors, prefix: str) -> list[int]:
    found: list[int] = []
    for value in form.getall(f"{prefix}member", []):
        member = ids.row_id(value) if isinstance(value, str) else None
        if member is None:
            errors.add(f"{prefix}members", "queues.error.member")
            return []
        found.append(member)
    return found


def _blank_queue() -> dict[str, Any]:
    return {"name": "", "pbx_number": "", "members": set()}


def _blank_campaign() -> dict[str, Any]:
    return {"name": "", "state": CampaignState.ACTIVE.value, "starts_on": "", "ends_on": "",
            "must_disposition": False, "members": set()}


async def _list_page(request: web.Request, *, queue: dict[str, Any] | None = None,
                     campaign: dict[str, Any] | None = None,
                     errors: FormErrors | None = None, status: int = 200) -> web.Response:
    db = request.app[DB]
    today = datetime.now(deployment_zone()).date()
    return render("admin_queues.html", request, {
        "queues": await queue_store.list_queues(db),
        "campaigns": await queue_store.list_campaigns(db),
        "running": {c.id for c in await queue_store.list_campaigns(db) if c.running(today)},
        "agents": await _agents(request),
        "queue": queue or _blank_queue(), "campaign": campaign or _blank_campaign(),
        "states": [s.value for s in CampaignState],
        "errors": errors or FormErrors(), "notice": NOTICES.get(request.query.get("done", "")),
        "is_admin": require_user(request).is_admin,
    }, status=status)


@role_required(Role.ADMIN, Role.SUPERVISOR)
async def list_page(request: web.Request) -> web.StreamResponse:
    return await _list_page(request)


async def _edit_page(request: web.Request, item: Queue | Campaign, values: dict[str, Any],
                     errors: FormErrors, status: int = 200) -> web.Response:
    return render("admin_queue_edit.html", request, {
        "item": item, "kind": item.kind.value, "path": _PATHS[item.kind], "values": values,
        "agents": await _agents(request), "states": [s.value for s in CampaignState],
        "errors": errors, "notice": NOTICES.get(request.query.get("done", "")),
        "is_admin": require_user(request).is_admin,
    }, status=status)


def _queue_values(item: Queue) -> dict[str, Any]:
    return {"name": item.name, "pbx_number": item.pbx_number, "members": set(item.members)}


def _campaign_values(item: Campaign) -> dict[str, Any]:
    return {"name": item.name, "state": item.state.value,
            "starts_on": item.starts_on.isoformat() if item.starts_on else "",
            "ends_on": item.ends_on.isoformat() if item.ends_on else "",
            "must_disposition": item.must_disposition, "members": set(item.members)}


async def _item(request: web.Request, kind: Kind, name: str) -> Queue | Campaign:
    item = await queue_store.get_item(request.app[DB], kind, _id(request, name))
    if item is None:
        raise web.HTTPNotFound()
    return item


@role_required(Role.ADMIN, Role.SUPERVISOR)
async def queue_page(request: web.Request) -> web.StreamResponse:
    item = await _item(request, Kind.QUEUE, "queue_id")
    assert isinstance(item, Queue)
    return await _edit_page(request, item, _queue_values(item), FormErrors())


@role_required(Role.ADMIN, Role.SUPERVISOR)
async def campaign_page(request: web.Request) -> web.StreamResponse:
    item = await _item(request, Kind.CAMPAIGN, "campaign_id")
    assert isinstance(item, Campaign)
    return await _edit_page(request, item, _campaign_values(item), FormErrors())


async def _save_queue(request: web.Request, queue_id: int | None, prefix: str = "") -> tuple[
        dict[str, Any], FormErrors]:
    """Save the submitted queue; its fields' names start with ``prefix`` (the list page
    holds both new forms, so their ids carry the kind)."""
    form = await request.post()
    errors = FormErrors()
    values: dict[str, Any] = {"name": text(form, f"{prefix}name"),
              "pbx_number": text(form, f"{prefix}pbx_number"),
              "members": set(_members(form, errors, prefix))}
    if not errors:
        try:
            await queue_store.save_queue(request.app[DB], queue_id, values["name"],
                                         values["pbx_number"], values["members"])
        except CrmError as exc:
            if exc.key == "queues.error.not_found":
                raise web.HTTPNotFound() from exc
            field = {"queues.error.pbx_number": "pbx_number", "queues.error.pbx_taken":
                     "pbx_number", "queues.error.member": "members"}.get(exc.key, "name")
            errors.add(prefix + field, exc.key, **exc.params)
    return values, errors


async def _save_campaign(request: web.Request, campaign_id: int | None,
                         prefix: str = "") -> tuple[dict[str, Any], FormErrors]:
    """Save the submitted campaign (field names start with ``prefix``, as for queues)."""
    form = await request.post()
    errors = FormErrors()
    values: dict[str, Any] = {"name": text(form, f"{prefix}name"),
              "state": text(form, f"{prefix}state"),
              "starts_on": text(form, f"{prefix}starts_on"),
              "ends_on": text(form, f"{prefix}ends_on"),
              "must_disposition": checked(form, f"{prefix}must_disposition"),
              "members": set(_members(form, errors, prefix))}
    state = CampaignState.ACTIVE
    if values["state"] not in {s.value for s in CampaignState}:
        errors.add(f"{prefix}state", "queues.error.state")
    else:
        state = CampaignState(values["state"])
    starts = errors.catch(f"{prefix}starts_on", parse_day, values["starts_on"], "starts_on")
    ends = errors.catch(f"{prefix}ends_on", parse_day, values["ends_on"], "ends_on")
    if not errors:
        try:
            await queue_store.save_campaign(request.app[DB], campaign_id, values["name"],
                                            state, starts, ends, values["must_disposition"],
                                            values["members"])
        except CrmError as exc:
            if exc.key == "queues.error.not_found":
                raise web.HTTPNotFound() from exc
            field = {"queues.error.dates_order": "ends_on",
                     "queues.error.member": "members"}.get(exc.key, "name")
            errors.add(prefix + field, exc.key, **exc.params)
    return values, errors


@role_required(Role.ADMIN)
async def queue_new_submit(request: web.Request) -> web.StreamResponse:
    values, errors = await _save_queue(request, None, "queue-")
    if errors:
        return await _list_page(request, queue=values, errors=errors, status=INVALID)
    return see_other("/admin/queues?done=created")


@role_required(Role.ADMIN)
async def campaign_new_submit(request: web.Request) -> web.StreamResponse:
    values, errors = await _save_campaign(request, None, "campaign-")
    if errors:
        return await _list_page(request, campaign=values, errors=errors, status=INVALID)
    return see_other("/admin/queues?done=created")


@role_required(Role.ADMIN)
async def queue_submit(request: web.Request) -> web.StreamResponse:
    item = await _item(request, Kind.QUEUE, "queue_id")
    values, errors = await _save_queue(request, item.id)
    if errors:
        return await _edit_page(request, item, values, errors, status=INVALID)
    return see_other(f"/admin/queues/{item.id}?done=saved")


@role_required(Role.ADMIN)
async def campaign_submit(request: web.Request) -> web.StreamResponse:
    item = await _item(request, Kind.CAMPAIGN, "campaign_id")
    values, errors = await _save_campaign(request, item.id)
    if errors:
        return await _edit_page(request, item, values, errors, status=INVALID)
    return see_other(f"/admin/campaigns/{item.id}?done=saved")


async def _archive(request: web.Request, kind: Kind, name: str) -> web.StreamResponse:
    item = await _item(request, kind, name)
    form = await request.post()
    archived = form.get("archived") == "1"
    try:
        await queue_store.set_archived(request.app[DB], kind, item.id, archived)
    except CrmError as exc:
        errors = FormErrors()
        errors.add("archive", exc.key, **exc.params)
        values = (_queue_values(item) if isinstance(item, Queue)
                  else _campaign_values(item))
        return await _edit_page(request, item, values, errors, status=INVALID)
    done = "archived" if archived else "restored"
    return see_other(f"{_PATHS[kind]}/{item.id}?done={done}")


@role_required(Role.ADMIN)
async def queue_archive_submit(request: web.Request) -> web.StreamResponse:
    return await _archive(request, Kind.QUEUE, "queue_id")


@role_required(Role.ADMIN)
async def campaign_archive_submit(request: web.Request) -> web.StreamResponse:
    return await _archive(request, Kind.CAMPAIGN, "campaign_id")
