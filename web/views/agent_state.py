"""The agent's own working state as JSON: read it, and log in / pause / resume / log out.

Used by the status control in the top bar (web/static/agent-status.js). Changes go
through crm/agent_state_store.py (the rules are crm/agent_states.py's and, for queues and
campaigns, crm/agent_queues.py's) and then to the gateway, which stops ringing an agent
who is not available and tells their other tabs.

A body ``{"event": "login"|"logout", "queue": "queue:3"}`` logs in to / out of one queue
or campaign (``campaign:7``); without ``queue``, ``login``/``logout`` are overall, as the
keypad's ``**1``/``**0``. ``{"event": "choose_campaign", "queue": "campaign:7"}`` picks
the campaign the agent's outbound calls belong to.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from aiohttp import web

from crm import agent_state_store, pause_codes, queue_store
from crm.agent_states import AgentState, Event
from crm.errors import CrmError
from crm.queues import Kind, parse_ref
from web import i18n, phone_hooks
from web.appkeys import DB
from web.auth import current_lang, require_user
from web.formatting import deployment_zone

# What the page may ask for; wrap-up and finish belong to the call window.
PAGE_EVENTS = {"login": Event.LOGIN, "logout": Event.LOGOUT, "pause": Event.PAUSE,
               "resume": Event.RESUME}
MAX_BODY = 1024
# Per queue/campaign: what the page may ask for.
ITEM_EVENTS = {"login": True, "logout": False}


def _today() -> date:
    """The deployment's date (campaigns run by it)."""
    return datetime.now(deployment_zone()).date()


async def state_json(request: web.Request, state: AgentState) -> dict[str, Any]:
    """The state as the page shows it: status, since, the pause's name, the codes, the
    agent's queues and campaigns (and which they are logged in to), their campaign pick."""
    db = request.app[DB]
    user = require_user(request)
    codes = await pause_codes.list_codes(db, active_only=True)
    pause = await pause_codes.get(db, state.pause_code_id) if state.pause_code_id else None
    queues, campaigns = await queue_store.memberships(db, user.id)
    logins = await agent_state_store.logins(db, user.id)
    chosen = await agent_state_store.outbound_campaign(db, user.id)
    today = _today()
    return {
        "queues": [{"ref": q.ref, "name": q.name, "logged_in": q.id in logins.queues}
                   for q in queues],
        "campaigns": [{"ref": c.ref, "name": c.name, "logged_in": c.id in logins.campaigns,
                       "running": c.running(today)} for c in campaigns],
        "campaign": None if chosen is None else f"{Kind.CAMPAIGN.value}:{chosen}",
        "status": state.status.value,
        "since": state.since.isoformat(),
        "takes_calls": state.takes_calls,
        "pause": None if pause is None else {"code": pause.code, "name": pause.name},
        "pause_codes": [{"code": c.code, "name": c.name, "productive": c.productive}
                        for c in codes],
    }


def _error(request: web.Request, key: str, status: int = 400, **params: Any) -> web.Response:
    message = i18n.translate(current_lang(request), key, **params)
    return web.json_response({"error": key, "message": message}, status=status)


async def get_state(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    state = await agent_state_store.get(request.app[DB], user.id)
    return web.json_response(await state_json(request, state))


async def change_state(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _error(request, "agent.error.bad_request", status=413)
    try:
        body = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        return _error(request, "agent.error.bad_request")
    if not isinstance(body, dict):
        return _error(request, "agent.error.bad_request")
    if "queue" in body:
        return await _change_item(request, body)
    if body.get("event") not in PAGE_EVENTS:
        return _error(request, "agent.error.bad_request")
    event = PAGE_EVENTS[body["event"]]
    db = request.app[DB]
    try:
        pause_id = None
        if event is Event.PAUSE:
            code = body.get("pause_code")
            if not isinstance(code, str):
                return _error(request, "agent.error.pause_code")
            pause_id = (await pause_codes.find_active(db, code)).id
        change = await agent_state_store.change(db, user.id, event, "page",
                                                pause_code_id=pause_id, today=_today())
    except CrmError as exc:
        return _error(request, exc.key, **exc.params)
    if change.changed:
        await phone_hooks.agent_state_changed(request.app, user.id)
    return web.json_response(await state_json(request, change.state))


async def _change_item(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    """Log in to / out of one queue or campaign, or pick the campaign for calls."""
    user = require_user(request)
    db = request.app[DB]
    event, text = body.get("event"), body.get("queue")
    if not isinstance(text, str) or (event not in ITEM_EVENTS and event != "choose_campaign"):
        return _error(request, "agent.error.bad_request")
    try:
        ref = parse_ref(text)
        if ref is None:
            return _error(request, "queues.error.unknown")
        kind, item_id = ref
        if event == "choose_campaign":
            if kind is not Kind.CAMPAIGN:
                return _error(request, "queues.error.unknown")
            await agent_state_store.choose_campaign(db, user.id, item_id)
            changed = True
            state = await agent_state_store.get(db, user.id)
        else:
            change = await agent_state_store.change_item(
                db, user.id, kind, item_id, ITEM_EVENTS[event], "page", _today())
            changed, state = change.changed, change.state
    except CrmError as exc:
        return _error(request, exc.key, **exc.params)
    if changed:
        await phone_hooks.agent_state_changed(request.app, user.id)
    return web.json_response(await state_json(request, state))
