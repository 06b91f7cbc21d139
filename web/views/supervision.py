"""Supervisors' views: the live agents board, and the administration hub.

The board joins four sources at request time: users (who is an agent), their working
state and the queues and campaigns they are logged in to (crm/agent_state_store.py) and,
when the gateway runs in this process, their line (online, on a call). Nothing here is
stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from crm import agent_state_store, pause_codes, queue_store, users
from crm.agent_queues import Logins
from crm.agent_states import Status, initial_state
from crm.users import Role
from web.appkeys import DB, LINES
from web.auth import require_user, role_required
from web.templating import render

# Board order: who needs a supervisor's eye first.
_ORDER = {Status.PAUSED: 0, Status.WRAP_UP: 1, Status.AVAILABLE: 2, Status.LOGGED_OUT: 3}


@dataclass(frozen=True)
class BoardRow:
    name: str
    username: str
    status: Status
    since: datetime | None
    pause: str
    pause_productive: bool
    line: str
    on_call: bool
    queues: tuple[str, ...] = ()


async def agents_board(request: web.Request) -> web.StreamResponse:
    require_user(request, Role.ADMIN, Role.SUPERVISOR)
    db = request.app[DB]
    states = await agent_state_store.all_current(db)
    codes = {c.id: c for c in await pause_codes.list_codes(db)}
    logins = await agent_state_store.all_logins(db)
    names = await queue_store.names(db)
    lines = request.app.get(LINES)
    live = lines.line_states() if lines is not None else {}
    rows: list[BoardRow] = []
    for user in await users.list_users(db):
        if not user.active or not user.dialer_enabled:
            continue
        state = states.get(user.id, initial_state())
        code = codes.get(state.pause_code_id) if state.pause_code_id else None
        line, calls = live.get(user.id, ("offline", 0))
        rows.append(BoardRow(
            name=user.display_name or user.username, username=user.username,
            status=state.status, since=state.since if user.id in states else None,
            pause=code.name if code else "", pause_productive=bool(code and code.productive),
            line=line, on_call=calls > 0,
            queues=_logged_in(logins.get(user.id), names)))
    rows.sort(key=lambda r: (_ORDER[r.status], r.name.casefold()))
    counts = {status: sum(1 for r in rows if r.status is status) for status in Status}
    return render("agents_board.html", request, {"rows": rows, "counts": counts,
                                                 "statuses": list(Status)})


def _logged_in(logins: Logins | None, names: dict[str, str]) -> tuple[str, ...]:
    """The names of the queues, then campaigns, an agent is logged in to."""
    if logins is None:
        return ()
    queues = sorted(names.get(f"queue:{i}", "") for i in logins.queues)
    campaigns = sorted(names.get(f"campaign:{i}", "") for i in logins.campaigns)
    return (*queues, *campaigns)


@role_required(Role.ADMIN, Role.SUPERVISOR)
async def admin_hub(request: web.Request) -> web.StreamResponse:
    return render("admin_hub.html", request, {"is_admin": require_user(request).is_admin})
