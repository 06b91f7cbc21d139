"""``/admin/dispositions``: the disposition catalogue, "must disposition before the next
call", and which agents get the call window opened by itself. Administrators and
supervisors only.

One page with a form per action; each posts, then redirects back (post/redirect/get).
A refused form re-renders the page with its errors next to its fields and the values
typed, and changes nothing. A disposition is offered everywhere, in one chosen campaign
or in the calls of one inbound queue. "Must disposition" here is the default and each
inbound queue's own setting (a queue never saved follows the default); each campaign has
its own, on /admin/queues.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from crm import call_work, disposition_catalog, dispositions, ids, queue_store, users
from crm.dispositions import FieldType, Kind, Scenario
from crm.errors import CrmError
from crm.queues import Campaign, Queue, parse_ref
from crm.queues import Kind as QueueKind
from crm.users import Role
from web.appkeys import DB, LINES
from web.auth import role_required
from web.forms import FormErrors, checked, text
from web.templating import render
from web.views.login import see_other

ROLES = (Role.ADMIN, Role.SUPERVISOR)
PAGE = "/admin/dispositions"
INVALID = 400
NOTICES = {"saved": "calls.admin.saved"}



async def _page(request: web.Request, errors: FormErrors | None = None,
                values: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    db = request.app[DB]
    forms = await disposition_catalog.list_forms(db)
    agents = [u for u in await users.list_users(db) if u.active and u.dialer_enabled]
    auto_open = await call_work.auto_open_all(db)
    campaigns = await queue_store.list_campaigns(db)
    queues = await queue_store.list_queues(db)
    default_policy = await disposition_catalog.must_disposition(db)
    queue_policies = await disposition_catalog.queue_policies(db)
    return render("admin_dispositions.html", request, {
        "campaigns": campaigns,
        "campaign_names": {c.id: c.name for c in campaigns},
        "queues": queues,
        "queue_names": {q.id: q.name for q in queues},
        # Each live queue's setting as in force (its own, or the default it follows).
        "queue_policies": [(q, queue_policies.get(q.id, default_policy))
                           for q in queues if not q.archived],
        "must_disposition": default_policy,
        "categories": await disposition_catalog.list_categories(db),
        "forms": forms,
        "form_names": {f.id: f.name for f in forms},
        "dispositions": await disposition_catalog.list_dispositions(db),
        "kinds": [k.value for k in Kind],
        "field_types": [f.value for f in FieldType],
        "scenarios": [s.value for s in Scenario],
        "agents": [(u, auto_open.get(u.id, True)) for u in agents],
        "errors": errors or FormErrors(),
        "values": values or {},
        "notice": NOTICES.get(request.query.get("done", "")) if status == 200 else None,
    }, status=status)


async def _done_or_errors(request: web.Request, errors: FormErrors,
                          values: dict[str, Any]) -> web.StreamResponse:
    if errors:
        return await _page(request, errors, values, status=INVALID)
    return see_other(f"{PAGE}?done=saved")


@role_required(*ROLES)
async def page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@role_required(*ROLES)
async def policy_submit(request: web.Request) -> web.StreamResponse:
    """The default and, for each queue the form listed (``policy_queue``), its own
    setting (``must_disposition_queue_<id>`` ticked or not). A queue that is unknown or
    archived refuses the whole form."""
    form = await request.post()
    db = request.app[DB]
    wanted: dict[int, bool] = {}
    errors = FormErrors()
    for raw in form.getall("policy_queue", []):
        queue_id = ids.row_id(raw) if isinstance(raw, str) else None
        item = None if queue_id is None else await queue_store.get_item(
            db, QueueKind.QUEUE, queue_id)
        if queue_id is None or not isinstance(item, Queue):
            errors.add("must_disposition", "queues.error.unknown")
            break
        if item.archived:
            errors.add("must_disposition", "queues.error.archived", title=item.name)
            break
        wanted[queue_id] = checked(form, f"must_disposition_queue_{queue_id}")
    if errors:
        return await _page(request, errors, status=INVALID)
    await disposition_catalog.set_must_disposition(db, checked(form, "must_disposition"))
    for queue_id, required in wanted.items():
        await disposition_catalog.set_must_disposition(db, required, queue_id=queue_id)
    lines = request.app.get(LINES)
    if lines is not None:  # agents' phones learn at once whether they are blocked
        await lines.policy_changed()
    return see_other(f"{PAGE}?done=saved")


@role_required(*ROLES)
async def category_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values = {"category_name": text(form, "category_name"),
              "category_kind": text(form, "category_kind")}
    errors = FormErrors()
    kind = errors.catch("category_kind", dispositions.parse_kind, values["category_kind"])
    name = errors.catch("category_name", dispositions.clean_name, values["category_name"])
    if kind is not None and name is not None:
        try:
            await disposition_catalog.create_category(request.app[DB], name, kind)
        except CrmError as exc:
            errors.add("category_name", exc.key, **exc.params)
    return await _done_or_errors(request, errors, values)


@role_required(*ROLES)
async def category_active_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    category_id = ids.row_id(request.match_info["category_id"])
    try:
        await disposition_catalog.set_category_active(request.app[DB], category_id or 0,
                                                      checked(form, "active"))
    except CrmError:
        raise web.HTTPNotFound() from None
    return see_other(f"{PAGE}?done=saved")


@role_required(*ROLES)
async def form_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values = {"form_name": text(form, "form_name")}
    errors = FormErrors()
    name = errors.catch("form_name", dispositions.clean_name, values["form_name"])
    if name is not None:
        try:
            await disposition_catalog.create_form(request.app[DB], name)
        except CrmError as exc:
            errors.add("form_name", exc.key, **exc.params)
    return await _done_or_errors(request, errors, values)


@role_required(*ROLES)
async def field_submit(request: web.Request) -> web.StreamResponse:
    form_id = ids.row_id(request.match_info["form_id"]) or 0
    form = await request.post()
    prefix = f"field_{form_id}_"
    label, type_ = text(form, f"{prefix}label"), text(form, f"{prefix}type")
    required, choices = checked(form, f"{prefix}required"), text(form, f"{prefix}choices")
    values: dict[str, Any] = {f"{prefix}label": label, f"{prefix}type": type_,
                              f"{prefix}required": required, f"{prefix}choices": choices}
    errors = FormErrors()
    try:
        await disposition_catalog.add_field(request.app[DB], form_id, label, type_, required,
                                            dispositions.split_choices(choices))
    except CrmError as exc:
        field = {"calls.error.invalid_field_type": "type", "calls.error.no_choices": "choices",
                 "calls.error.too_many_choices": "choices",
                 "calls.error.invalid_choice_option": "choices"}.get(exc.key, "label")
        if exc.key == "error.not_found":
            raise web.HTTPNotFound() from None
        errors.add(f"{prefix}{field}", exc.key, **exc.params)
    return await _done_or_errors(request, errors, values)


@role_required(*ROLES)
async def field_remove_submit(request: web.Request) -> web.StreamResponse:
    try:
        await disposition_catalog.remove_field(request.app[DB],
                                               ids.row_id(request.match_info["form_id"]) or 0,
                                               ids.row_id(request.match_info["field_id"]) or 0)
    except CrmError:
        raise web.HTTPNotFound() from None
    return see_other(f"{PAGE}?done=saved")


def _disposition_values(form: MultiDictProxy[str | Any]) -> dict[str, Any]:
    return {"disposition_name": text(form, "disposition_name"),
            "disposition_category": text(form, "disposition_category"),
            "disposition_form": text(form, "disposition_form"),
            "disposition_campaign": text(form, "disposition_campaign"),
            "disposition_scenarios": [v for v in form.getall("disposition_scenarios", [])
                                      if isinstance(v, str)]}


@role_required(*ROLES)
async def disposition_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values = _disposition_values(form)
    errors = FormErrors()
    name = errors.catch("disposition_name", dispositions.clean_name, values["disposition_name"])
    scenarios = errors.catch("disposition_scenarios", dispositions.parse_scenarios,
                             values["disposition_scenarios"])
    category_id = ids.row_id(values["disposition_category"])
    if category_id is None:
        errors.add("disposition_category", "calls.error.category_not_found")
    form_id = ids.row_id(values["disposition_form"]) if values["disposition_form"] else None
    if values["disposition_form"] and form_id is None:
        errors.add("disposition_form", "calls.error.form_not_found")
    where = await _where(request, values["disposition_campaign"], errors)
    if not errors and name is not None and scenarios is not None and category_id is not None:
        try:
            await disposition_catalog.create_disposition(
                request.app[DB], name, category_id, form_id, scenarios,
                campaign_id=where.id if isinstance(where, Campaign) else None,
                queue_id=where.id if isinstance(where, Queue) else None)
        except CrmError as exc:
            field = {"calls.error.category_not_found": "disposition_category",
                     "calls.error.form_not_found": "disposition_form"}.get(
                exc.key, "disposition_name")
            errors.add(field, exc.key, **exc.params)
    return await _done_or_errors(request, errors, values)


async def _where(request: web.Request, ref: str,
                 errors: FormErrors) -> Campaign | Queue | None:
    """The live campaign or inbound queue a new disposition is limited to (None:
    offered everywhere). The form's field keeps its first name, ``disposition_campaign``."""
    try:
        parsed = parse_ref(ref)
        if parsed is None:
            return None
        item = await queue_store.get_item(request.app[DB], *parsed)
        if item is None:
            raise CrmError("no such queue or campaign", key="queues.error.unknown")
        if item.archived:
            raise CrmError("archived", key="queues.error.archived", title=item.name)
    except CrmError as exc:
        errors.add("disposition_campaign", exc.key, **exc.params)
        return None
    return item


@role_required(*ROLES)
async def disposition_active_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        await disposition_catalog.set_disposition_active(
            request.app[DB], ids.row_id(request.match_info["disposition_id"]) or 0,
            checked(form, "active"))
    except CrmError:
        raise web.HTTPNotFound() from None
    return see_other(f"{PAGE}?done=saved")


@role_required(*ROLES)
async def auto_open_submit(request: web.Request) -> web.StreamResponse:
    user_id = ids.row_id(request.match_info["user_id"]) or 0
    db = request.app[DB]
    if await users.get_user(db, user_id) is None:
        raise web.HTTPNotFound()
    form = await request.post()
    await call_work.set_auto_open(db, user_id, checked(form, "auto_open"))
    return see_other(f"{PAGE}?done=saved#auto-open")
