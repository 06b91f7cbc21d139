"""The agent's own working state as JSON: read it, and log in / pause / resume / log out.

Used by the status control in the top bar (web/static/agent-status.js). Changes go
through crm/agent_state_store.py (the rules are crm/agent_states.py's) and then to the
gateway, which stops ringing an agent who is not available and tells their other tabs.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from crm import agent_state_store, pause_codes
from crm.agent_states import AgentState, Event
from crm.errors import CrmError
from web import i18n, phone_hooks
from web.appkeys import DB
from web.auth import current_lang, require_user

# What the page may ask for; wrap-up and finish belong to the call window.
PAGE_EVENTS = {"login": Event.LOGIN, "logout": Event.LOGOUT, "pause": Event.PAUSE,
               "resume": Event.RESUME}
MAX_BODY = 1024


async def state_json(request: web.Request, state: AgentState) -> dict[str, Any]:
    """The state as the page shows it: status, since, the pause's name, the codes."""
    db = request.app[DB]
    codes = await pause_codes.list_codes(db, active_only=True)
    pause = await pause_codes.get(db, state.pause_code_id) if state.pause_code_id else None
    return {
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
    if not isinstance(body, dict) or body.get("event") not in PAGE_EVENTS:
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
                                                pause_code_id=pause_id)
    except CrmError as exc:
        return _error(request, exc.key, **exc.params)
    if change.changed:
        await phone_hooks.agent_state_changed(request.app, user.id)
    return web.json_response(await state_json(request, change.state))
