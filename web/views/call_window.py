"""The call window's JSON API: the workspace of one call, notes, tags, the contact, the
disposition ("Save and finish"), and the agent's unfinished calls.

::

    GET  /api/calls/unfinished            the agent's calls of the last 24 h not finished
    GET  /api/calls/{id}                  the workspace: call, contact or matches, notes,
                                          tags, last 10 activities, dispositions offered
    PUT  /api/calls/{id}/notes            {body, revision}: newest revision wins
    PUT  /api/calls/{id}/tags             {tags: [...]}
    PUT  /api/calls/{id}/contact          {contact_id}: the agent picked who it is
    POST /api/calls/{id}/finish           {disposition_id | wrap_up [+ callback_at,
                                          tz_offset], values}: "Save and finish"
    GET  /i18n/calls.json                 the window's strings in the user's language

Every request needs a login; writes need the CSRF header (web/csrf.py, for every unsafe
method). An agent reaches only their own calls: another agent's call is "not found", so
its existence is not revealed either. A refused write answers 400 with ``error``,
``message`` and, for a disposition, ``fields`` (field -> message), all in the user's
language, and stores nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from aiohttp import web

from crm import (
    call_notes,
    call_records,
    call_work,
    callback_store,
    callbacks,
    callerid,
    clock,
    contacts,
    disposition_catalog,
    dispositions,
    phone_numbers,
)
from crm.call_flow import CallState
from crm.call_records import CallRecord
from crm.dispositions import FieldDef, InvalidSubmission
from crm.errors import InvalidValue
from crm.users import User
from web import i18n
from web.appkeys import DB, DEPLOYMENT, LINES, SETTINGS
from web.auth import current_lang, login_required, require_user

NO_STORE = {"Cache-Control": "no-store"}
# Call ids are UUIDs; anything much longer is not one of ours.
MAX_CALL_ID = 64
WINDOW_PREFIXES = ("calls.", "call.outcome.")


def _iso(at: datetime | None) -> str | None:
    return None if at is None else clock.to_db(at)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=NO_STORE)


def _refuse(request: web.Request, key: str, status: int = 400,
            fields: dict[str, str] | None = None, **params: Any) -> web.Response:
    lang = current_lang(request)
    body: dict[str, Any] = {"error": key.rsplit(".", 1)[-1],
                            "message": i18n.translate(lang, key, **params)}
    if fields is not None:
        body["fields"] = fields
    return _json(body, status)


def target_talk_seconds(app: web.Application) -> int:
    """The deployment's talk-time target (crm/deployment.py), as in force right now."""
    return app[DEPLOYMENT].current.target_talk_seconds


async def _own_call(request: web.Request) -> tuple[User, CallRecord]:
    user = require_user(request)
    call_id = request.match_info["call_id"]
    record = None
    if len(call_id) <= MAX_CALL_ID:
        record = await call_records.get(request.app[DB], call_id)
    if record is None or record.user_id != user.id:
        raise web.HTTPNotFound(text='{"error": "not_found"}', content_type="application/json")
    return user, record


async def _body(request: web.Request) -> dict[str, Any] | None:
    try:
        data = await request.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _field_json(spec: FieldDef) -> dict[str, Any]:
    return {"name": spec.name, "label": spec.label, "type": spec.type.value,
            "required": spec.required, "choices": list(spec.choices)}


async def _offered(request: web.Request, record: CallRecord, work: call_work.CallWork) -> tuple[
        list[dispositions.Disposition], dict[int, list[FieldDef]]]:
    """What the call is offered: its scenario's dispositions of its campaign or queue."""
    db = request.app[DB]
    offered = dispositions.offered(await disposition_catalog.list_dispositions(db),
                                   dispositions.scenario_of(record.direction),
                                   work.campaign_id, work.queue_id)
    forms = await disposition_catalog.form_fields(
        db, (d.form_id for d in offered if d.form_id is not None))
    return offered, forms


# -- reading ------------------------------------------------------------------------------

@login_required
async def window_messages(request: web.Request) -> web.StreamResponse:
    lang = current_lang(request)
    messages: dict[str, str] = {}
    for prefix in WINDOW_PREFIXES:
        messages.update(i18n.messages(lang, prefix))
    return _json({"lang": lang, "messages": messages})


def _shown(raw: str, region: str) -> str:
    """A number as people of ``region`` write it; as presented when it cannot be read."""
    try:
        number = phone_numbers.parse(raw, region)
    except InvalidValue:
        return raw
    return number.value if number.is_extension else phone_numbers.display(number.value, region)


def _call_json(record: CallRecord, region: str, now: datetime) -> dict[str, Any]:
    shown = _shown(record.remote_number, region)
    # Seconds since the current status began, measured by the server's clock, so the
    # page's timers do not depend on the agent's clock being right.
    since = record.ended_at or record.answered_at or record.started_at
    return {
        "id": record.id, "direction": record.direction, "state": record.state.value,
        "remote": record.remote_number, "remote_shown": shown,
        "remote_name": record.remote_name,
        "outcome": record.outcome.value if record.outcome else None,
        "started_at": _iso(record.started_at), "answered_at": _iso(record.answered_at),
        "ended_at": _iso(record.ended_at),
        "talk_seconds": (None if record.answered_at is None else
                         ((record.ended_at or now) - record.answered_at).total_seconds()),
        "status_seconds": (now - since).total_seconds(),
    }


@login_required
async def workspace(request: web.Request) -> web.StreamResponse:
    user, record = await _own_call(request)
    db = request.app[DB]
    settings = request.app[DEPLOYMENT].current
    now = clock.utc_now()
    work = await call_work.ensure(db, record.id, user.id)
    contact_json: dict[str, Any] | None = None
    matches: list[dict[str, Any]] = []
    number = ""
    contact = None
    if work.contact_id is not None:
        contact = await contacts.get_contact(db, work.contact_id)
    if contact is None:
        found = await callerid.match(db, record.remote_number, settings.region,
                                     settings.area_code)
        number = found.number if found.kind == "number" else ""
        if found.outcome is callerid.Outcome.ONE:
            contact = await contacts.get_contact(db, found.matches[0].id)
            if contact is not None:
                await call_work.set_contact(db, record.id, contact.id)
        else:
            matches = [{"id": m.id, "name": m.name, "company": m.company_name}
                       for m in found.matches]
    activities: list[dict[str, Any]] = []
    if contact is not None:
        contact_json = {"id": contact.id, "name": contact.name,
                        "company": contact.company_name, "email": contact.email,
                        "tags": list(contact.tags), "url": f"/contacts/{contact.id}"}
        activities = [{
            "call_id": a.call_id, "direction": a.direction, "outcome": a.outcome,
            "started_at": _iso(a.started_at), "agent": a.agent,
            "disposition": a.disposition, "wrap_up": a.wrap_up, "note": a.note,
        } for a in await call_work.contact_activity(db, contact.id, record.id)]
    note = await call_work.get_note(db, record.id, user.id)
    offered, forms = await _offered(request, record, work)
    return _json({
        "call": _call_json(record, settings.region, now),
        "contact": contact_json,
        "matches": matches,
        "number": number,
        "note": {"body": note.body if note else "", "revision": note.revision if note else 0},
        "tags": await call_work.get_tags(db, record.id),
        "activities": activities,
        "dispositions": [{
            "id": d.id, "name": d.name, "category": d.category, "kind": d.kind.value,
            "fields": [_field_json(f) for f in forms.get(d.form_id, [])]
            if d.form_id is not None else [],
        } for d in offered],
        "must_disposition": await disposition_catalog.must_disposition(
            db, work.campaign_id, work.queue_id),
        "finished_at": _iso(work.finished_at),
        "disposition_id": work.disposition_id,
        "wrap_up": work.wrap_up.value if work.wrap_up else None,
        "callback_at": _iso(work.callback_at),
        "values": work.values,
        "target_talk_seconds": target_talk_seconds(request.app),
    })


@login_required
async def unfinished(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    db = request.app[DB]
    settings = request.app[SETTINGS]
    region = request.app[DEPLOYMENT].current.region
    now = clock.utc_now()
    rows = await call_work.unfinished(db, user.id, now, settings.echo_number)
    blocking = await call_work.blocking_call(db, user.id, now, settings.echo_number)
    return _json({
        "auto_open": await call_work.auto_open(db, user.id),
        "blocking": blocking,
        "calls": [{
            "id": r["id"], "direction": r["direction"], "remote": r["remote_number"],
            "remote_shown": _shown(r["remote_number"], region),
            "remote_name": r["contact_name"] or r["remote_name"], "state": r["state"],
            "outcome": r["outcome"],
            "started_at": r["started_at"], "ended_at": r["ended_at"],
        } for r in rows],
    })


# -- writing ------------------------------------------------------------------------------

@login_required
async def put_notes(request: web.Request) -> web.StreamResponse:
    user, record = await _own_call(request)
    data = await _body(request)
    if data is None:
        return _refuse(request, "calls.error.bad_request")
    try:
        body = call_notes.clean_note(data.get("body"))
        revision = call_notes.parse_revision(data.get("revision"))
    except InvalidValue as exc:
        return _refuse(request, exc.key, **exc.params)
    db = request.app[DB]
    await call_work.ensure(db, record.id, user.id)
    stored = await call_work.save_note(db, record.id, user.id, body, revision,
                                       clock.utc_now())
    return _json({"saved": stored.revision == revision and stored.body == body,
                  "revision": stored.revision, "body": stored.body})


@login_required
async def put_tags(request: web.Request) -> web.StreamResponse:
    user, record = await _own_call(request)
    data = await _body(request)
    if data is None:
        return _refuse(request, "calls.error.bad_request")
    try:
        tags = call_notes.clean_tags(data.get("tags"))
    except InvalidValue as exc:
        return _refuse(request, exc.key, **exc.params)
    db = request.app[DB]
    await call_work.ensure(db, record.id, user.id)
    await call_work.set_tags(db, record.id, tags)
    return _json({"tags": list(tags)})


@login_required
async def put_contact(request: web.Request) -> web.StreamResponse:
    user, record = await _own_call(request)
    data = await _body(request)
    contact_id = None if data is None else data.get("contact_id")
    if isinstance(contact_id, bool) or not isinstance(contact_id, int) or contact_id < 1:
        return _refuse(request, "calls.error.bad_request")
    db = request.app[DB]
    if await contacts.get_contact(db, contact_id) is None:
        return _refuse(request, "calls.error.contact_not_found", status=404)
    await call_work.ensure(db, record.id, user.id)
    await call_work.set_contact(db, record.id, contact_id)
    return _json({"contact_id": contact_id})


@login_required
async def finish(request: web.Request) -> web.StreamResponse:
    user, record = await _own_call(request)
    data = await _body(request)
    if data is None:
        return _refuse(request, "calls.error.bad_request")
    if record.state is not CallState.ENDED:
        return _refuse(request, "calls.error.call_live", status=409)
    db = request.app[DB]
    work = await call_work.ensure(db, record.id, user.id)
    offered, forms = await _offered(request, record, work)
    offset = data.get("tz_offset", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > 14 * 60:
        offset = 0
    now = clock.utc_now()
    try:
        submission = dispositions.check_submission(
            offered=offered, forms=forms, disposition_id=data.get("disposition_id"),
            wrap_up=data.get("wrap_up"), callback_at=data.get("callback_at"),
            values=data.get("values"),
            required=await disposition_catalog.must_disposition(
                db, work.campaign_id, work.queue_id),
            now=now, tz_offset_minutes=offset)
    except InvalidSubmission as exc:
        lang = current_lang(request)
        fields = {name: i18n.translate(lang, key, **params)
                  for name, (key, params) in exc.errors.items()}
        return _refuse(request, exc.key, fields=fields, count=len(fields))
    await call_work.finish(db, record.id, submission, now)
    if submission.callback_at is not None:  # "call back": on the callback panel too
        here = request.app[DEPLOYMENT].current
        planned = callbacks.from_wrap_up(
            user_id=user.id, remote_number=record.remote_number, contact_id=work.contact_id,
            due_at=submission.callback_at, region=here.region, area_code=here.area_code)
        if planned is not None:  # at most one per call (a second finish finds it)
            # The callback belongs to the call's campaign or queue.
            planned = replace(planned, queue_id=work.queue_id, campaign_id=work.campaign_id)
            await callback_store.create(db, planned, user.id, now, source_call_id=record.id)
    lines = request.app.get(LINES)
    if lines is not None:  # the softphone lifts "finish your last call first" at once
        await lines.work_changed(user.id)
    return _json({"finished_at": _iso(now)})
