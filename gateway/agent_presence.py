"""The gateway's side of agent states: who may ring, and the keypad's agent codes.

The rules are crm/agent_states.py's and the storage crm/agent_state_store.py's; this
module turns what happens on the phone into their events: going online logs the agent
in (a pause survives it), going offline logs them out, ``**1``/``**2<code>``/``**3``/``**0``
dialled on the keypad log in, pause, resume and log out (``**1`` also logs in to all the
agent's queues and running campaigns), and a call waiting for its disposition holds the
agent in wrap-up. A call through a queue rings only an agent logged in to that queue
(crm/agent_queues.py); an outbound call belongs to the agent's chosen campaign. Each
change is returned as the event the agent's tabs get. A refused code raises
``CodeRefused`` with an error code the softphone has words for.
"""

from __future__ import annotations

import logging
from datetime import date

from crm import agent_state_store, pause_codes, queue_store, sip_accounts
from crm.agent_queues import may_ring
from crm.agent_state_store import Source
from crm.agent_states import AgentState, Event, IllegalChange
from crm.db import Database
from crm.errors import NotFound
from gateway import signalling
from gateway.dialplan import AgentCode

log = logging.getLogger(__name__)

_KEYPAD_EVENTS = {"login": Event.LOGIN, "pause": Event.PAUSE, "resume": Event.RESUME,
                  "logout": Event.LOGOUT}
# IllegalChange keys -> the error codes the softphone shows.
_REFUSALS = {"agent.error.log_in_first": "agent_log_in_first",
             "agent.error.finish_wrap_up": "agent_finish_wrap_up"}


class CodeRefused(Exception):
    """An agent code that cannot be carried out; ``code`` names the reason."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def state_event(db: Database, state: AgentState) -> signalling.AgentStateEvent:
    """What the tabs are told about a state."""
    pause = await pause_codes.get(db, state.pause_code_id) if state.pause_code_id else None
    return signalling.AgentStateEvent(status=state.status.value, since=state.since.isoformat(),
                                      pause=pause.name if pause else "")


async def takes_calls(db: Database, user_id: int, queue_id: int | None = None) -> bool:
    """Whether a call (through ``queue_id``, None = no known queue) may ring the agent.

    A failed lookup lets it ring: a customer waiting matters more than a status.
    """
    try:
        state = await agent_state_store.get(db, user_id)
        return may_ring(state, await agent_state_store.logins(db, user_id), queue_id)
    except Exception:
        log.exception("user %d: agent state lookup failed", user_id)
        return True


async def queue_of(db: Database, called: str) -> int | None:
    """The live queue whose PBX number the call arrived with; None if none matches (or
    the lookup failed: the call then rings as one through no queue)."""
    if not called:
        return None
    try:
        queue = await queue_store.queue_for_number(db, called)
    except Exception:
        log.exception("queue lookup for %r failed", called)
        return None
    return None if queue is None else queue.id


async def outbound_campaign(db: Database, user_id: int) -> int | None:
    """The campaign the agent's next outbound call belongs to (None: no campaign)."""
    try:
        return await agent_state_store.outbound_campaign(db, user_id)
    except Exception:
        log.exception("user %d: campaign lookup failed", user_id)
        return None


async def follow_line(db: Database, user_id: int, online: bool,
                      today: date | None = None) -> AgentState | None:
    """Log the agent in when their softphone goes online, out when it goes offline.
    ``today`` is the deployment's date (campaigns run by it).

    Returns the new state if it changed. Never raises: the line matters more.
    """
    try:
        change = await agent_state_store.change(
            db, user_id, Event.LOGIN if online else Event.LOGOUT, "system", today=today)
    except Exception:
        log.exception("user %d: agent state not updated", user_id)
        return None
    return change.state if change.changed else None


async def follow_work(db: Database, user_id: int, blocked: bool) -> AgentState | None:
    """Wrap-up while a call waits for its disposition, and back when it is saved.

    A logged-out agent stays logged out and a paused one paused (the table says so).
    Returns the new state if it changed; never raises.
    """
    try:
        change = await agent_state_store.change(
            db, user_id, Event.WRAP_UP if blocked else Event.FINISH, "system")
    except IllegalChange:
        return None
    except Exception:
        log.exception("user %d: agent state not updated", user_id)
        return None
    return change.state if change.changed else None


async def keypad(db: Database, user_id: int, code: AgentCode,
                 today: date | None = None) -> AgentState | None:
    """Carry out a dialled agent code; the new state if it changed. ``today`` is the
    deployment's date (``**1`` logs in to the campaigns running on it)."""
    pause_id = None
    if code.action == "login" and code.argument:
        account = await sip_accounts.get_account(db, user_id)
        if account is None or account.extension != code.argument:
            raise CodeRefused("agent_code_other_agent")
    if code.action == "pause":
        try:
            pause_id = (await pause_codes.find_active(db, code.argument)).id
        except NotFound:
            raise CodeRefused("no_such_pause_code") from None
    source: Source = "keypad"
    try:
        change = await agent_state_store.change(db, user_id, _KEYPAD_EVENTS[code.action],
                                                source, pause_code_id=pause_id, today=today)
    except IllegalChange as exc:
        raise CodeRefused(_REFUSALS.get(exc.key, "agent_state_refused")) from None
    return change.state if change.changed else None
