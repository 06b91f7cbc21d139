"""Routing between agents' browser tabs and the line workers (main process).

``Lines`` is the gateway's control plane. A browser tab's WebSocket becomes a
``Session``; all sessions of one user share an ``AgentLine``. Commands from a session
are checked here (is the agent online, is the call theirs, is the number dialable) and
sent to the agent's worker; reports from workers are applied to the call records
(crm/call_records.py, the source of truth) and broadcast to the agent's tabs.

Reports are processed one at a time from a queue, in arrival order, so a call's
"connected" is never written before its "ringing". Closing the last tab starts a grace
period; if no tab returns, the agent goes offline and any call is hung up.

Only one of an agent's tabs owns the line (gateway/line_owner.py decides which): it alone
gets the agent's events and may send commands; the others get ``line_owner`` here=false
and wait for "Use here" (``take_line``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date

from crm import (
    agent_state_store,
    call_quality,
    call_records,
    call_work,
    callerid,
    sip_accounts,
)
from crm.call_flow import CallState, Ended, IllegalTransition, Side
from crm.clock import utc_now
from crm.db import Database
from crm.queues import day_in
from crm.secret_key import SecretBox
from crm.users import User
from gateway import agent_presence, ipc, quality, signalling
from gateway.agent_presence import CodeRefused
from gateway.consult import ConsultEvent, ConsultState, IllegalConsult, next_state
from gateway.dialplan import InvalidNumber, parse_agent_code, parse_dial_string
from gateway.leg_events import leg_event, registration_reason
from gateway.line_owner import Change, LineOwnership
from gateway.settings import Settings
from gateway.supervisor import Supervisor, WorkerProcess, WorkerUnavailable
from sip_bridge.uri import request_uri

log = logging.getLogger(__name__)

Translate = Callable[[str, str], str]

# How long the line waits for its tab to come back (a dropped socket reconnecting)
# before another open tab of the agent gets it.
OWNER_HOLD_SECONDS = 3.0


class Session:
    """One browser tab's WebSocket: an outgoing queue drained by the socket handler."""

    def __init__(self, user: User, lang: str, tab: str = "") -> None:
        self.user = user
        self.lang = lang
        self.tab = tab
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=256)

    def send(self, event: signalling.Event) -> None:
        try:
            self.outbox.put_nowait(signalling.encode_event(event))
        except asyncio.QueueFull:
            log.warning("user %d: a tab is not reading its socket; event dropped",
                        self.user.id)

    def close(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.outbox.put_nowait(None)


@dataclass
class LiveCall:
    call_id: str
    user_id: int
    direction: str
    remote: str
    remote_name: str
    state: str = "dialing"
    echo: bool = False
    # Outbound: the ring timer, and whether it fired (the record then says no answer).
    ring_timer: asyncio.TimerHandle | None = None
    timed_out: bool = False
    held: bool = False
    contact_id: int = 0
    matches: int = 0
    transferred: bool = False
    # Attended transfer: on a consult call, the held call it was made from; on the held
    # call, its consult call and where the consult stands (gateway/consult.py).
    consult_of: str = ""
    consult: str = ""
    consult_state: ConsultState = ConsultState.NONE
    # Quality samples so far, per leg ("browser", "sip"), stored when the call ends.
    quality_legs: dict[str, quality.LegAccumulator] = field(default_factory=dict)


@dataclass
class AgentLine:
    user: User
    sessions: set[Session] = field(default_factory=set)
    online: bool = False
    line_state: signalling.LineState = "offline"
    line_reason: str = ""
    offer_from: Session | None = None
    echo_only: bool = False
    grace: asyncio.TimerHandle | None = None
    calls: dict[str, LiveCall] = field(default_factory=dict)
    ownership: LineOwnership[Session] = field(default_factory=LineOwnership)
    owner_hold: asyncio.TimerHandle | None = None

    def broadcast(self, event: signalling.Event) -> None:
        # The agent's events go to the tab that owns the line only (module docstring).
        if self.ownership.owner is not None:
            self.ownership.owner.send(event)


class Lines:
    """The control plane between browser sessions and line workers."""

    def __init__(self, settings: Settings, db: Database, box: SecretBox,
                 translate: Translate) -> None:
        self._settings = settings
        self._db = db
        self._box = box
        self._translate = translate
        # (region, area code) for caller ID; the web layer swaps in the live settings.
        self.numbering: Callable[[], tuple[str, str]] = lambda: (settings.region,
                                                                 settings.area_code)
        # The deployment's time zone (campaign days); the web layer swaps in the live one.
        self.time_zone: Callable[[], str] = lambda: "UTC"
        self._agents: dict[int, AgentLine] = {}
        self._inbox: asyncio.Queue[Callable[[], object]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self.supervisor = Supervisor(settings, self._queue_report, self._queue_lost,
                                     self._queue_restarted)

    async def start(self) -> None:
        self._consumer = asyncio.get_running_loop().create_task(self._consume())
        await self.supervisor.start()

    def close_sessions(self) -> None:
        """Ask every tab's socket to close (server shutdown: they reconnect elsewhere)."""
        for agent in self._agents.values():
            for session in agent.sessions:
                session.close()

    async def close(self) -> None:
        self.close_sessions()
        for agent in self._agents.values():
            if agent.grace is not None:
                agent.grace.cancel()
            if agent.owner_hold is not None:
                agent.owner_hold.cancel()
        await self.supervisor.close()
        if self._consumer is not None:
            await self._inbox.join()
            self._consumer.cancel()
            await asyncio.gather(self._consumer, return_exceptions=True)
        # Whatever was live when we stopped is closed now, not at the next start.
        await call_records.close_interrupted(self._db, utc_now())

    def active_calls(self) -> int:
        return sum(len(a.calls) for a in self._agents.values())

    def line_states(self) -> dict[int, tuple[str, int]]:
        """Each known agent's line state and number of live calls (for the agents board)."""
        return {uid: (a.line_state, len(a.calls)) for uid, a in self._agents.items()}

    # -- sessions -----------------------------------------------------------------------

    def connect(self, user: User, lang: str, tab: str = "") -> Session:
        """A tab's socket opened; ``tab`` is the id the tab keeps across reloads."""
        agent = self._agents.setdefault(user.id, AgentLine(user))
        agent.user = user
        if agent.grace is not None:
            agent.grace.cancel()
            agent.grace = None
        session = Session(user, lang, tab)
        agent.sessions.add(session)
        session.send(signalling.Hello(
            user=user.display_name or user.username,
            dialer=user.dialer_enabled,
            echo_number=self._settings.echo_number,
            ice_servers=self._ice_servers(),
        ))
        change = agent.ownership.connect(session, tab)
        if change.gained is not session:
            session.send(signalling.LineOwnerEvent(here=False))
        self._owner_changed(agent, change)
        return session

    def _owner_changed(self, agent: AgentLine, change: Change[Session]) -> None:
        """Tell the tabs a change of owner: the new one gets the line's whole state (as
        after a reload, so it re-attaches its audio), the old one stops its media."""
        if change.lost is not None:
            if agent.offer_from is change.lost:
                agent.offer_from = None
            change.lost.send(signalling.LineOwnerEvent(here=False))
        session = change.gained
        if session is not None:
            session.send(signalling.LineOwnerEvent(here=True))
            session.send(signalling.LineEvent(state=agent.line_state,
                                              reason=agent.line_reason))
            for call in agent.calls.values():
                session.send(self._call_event(call))
            # Through the report queue: the lookup needs the database, this method does
            # not wait.
            self._inbox.put_nowait(lambda: self._send_work(agent, session))
        if change.hold:
            if agent.owner_hold is not None:
                agent.owner_hold.cancel()
            agent.owner_hold = asyncio.get_running_loop().call_later(
                OWNER_HOLD_SECONDS,
                lambda: self._owner_changed(agent, agent.ownership.hold_expired()))

    def disconnect(self, session: Session) -> None:
        agent = self._agents.get(session.user.id)
        if agent is None:
            return
        agent.sessions.discard(session)
        if agent.offer_from is session:
            agent.offer_from = None
        self._owner_changed(agent, agent.ownership.disconnect(session))
        if not agent.sessions and agent.online:
            agent.grace = asyncio.get_running_loop().call_later(
                self._settings.offline_grace, lambda: self._inbox.put_nowait(
                    lambda: self._grace_expired(agent.user.id)))

    async def _grace_expired(self, user_id: int) -> None:
        agent = self._agents.get(user_id)
        if agent is not None and not agent.sessions:
            log.info("user %d: no tab came back; going offline", user_id)
            await self._go_offline(agent, side="system")
            await self._follow_line(agent, online=False)

    async def account_changed(self, user_id: int, *, deactivated: bool = False) -> None:
        """An admin changed or removed the user's SIP account, or deactivated them.

        A deactivated user is taken offline at once (calls end) and their tabs are
        closed. Otherwise an agent between calls goes offline with the reason
        ``account_changed`` so the next "go online" registers the new account; one on
        a call keeps it, and the new account applies the next time they go online.
        """
        agent = self._agents.get(user_id)
        if agent is None:
            return
        if deactivated:
            await self._go_offline(agent, side="system")
            for session in list(agent.sessions):
                session.close()
            return
        if agent.online and not agent.calls:
            await self._go_offline(agent, side="system", reason="account_changed")

    def _ice_servers(self) -> list[signalling.IceServer]:
        ice = self._settings.ice
        servers = [signalling.IceServer(urls=[url]) for url in ice.stun]
        servers += [signalling.IceServer(urls=[url], username=ice.turn_username,
                                         credential=ice.turn_password) for url in ice.turn]
        return servers

    # -- commands from a tab ------------------------------------------------------------

    def error(self, session: Session, code: str, ref: str = "") -> None:
        session.send(signalling.ErrorEvent(
            code=code, message=self._translate(session.lang, f"softphone.error.{code}"), ref=ref))

    async def handle(self, session: Session, command: signalling.Command) -> None:
        agent = self._agents[session.user.id]
        try:
            if not agent.ownership.is_owner(session) and not isinstance(
                    command, signalling.Ping | signalling.TakeLine):
                raise _Refused("line_in_other_tab")
            match command:
                case signalling.Ping():
                    session.send(signalling.Pong())
                case signalling.TakeLine():
                    self._owner_changed(agent, agent.ownership.take(session))
                case signalling.Online():
                    await self._go_online(agent)
                    await self._follow_line(agent, online=True)
                case signalling.Offline():
                    await self._go_offline(agent)
                    await self._follow_line(agent, online=False)
                case signalling.Offer(sdp=sdp):
                    worker = self._worker(agent)
                    agent.offer_from = session
                    worker.send(ipc.OpenLine(agent_id=agent.user.id, sdp=sdp))
                case signalling.Dial(target=target, caller_id=caller_id):
                    await self._dial(agent, target, caller_id)
                case signalling.AnswerCall(call_id=call_id):
                    self._own_call(agent, call_id)
                    await self._check_not_blocked(agent)
                    self._worker(agent).send(ipc.AnswerCall(call_id=call_id))
                case signalling.RejectCall(call_id=call_id):
                    self._own_call(agent, call_id)
                    self._worker(agent).send(ipc.RejectCall(call_id=call_id, code=486))
                case signalling.Hangup(call_id=call_id):
                    call = self._own_call(agent, call_id)
                    worker = self._worker(agent)
                    worker.send(ipc.HangupCall(call_id=call_id))
                    # The agent leaving a conference ends it (gateway/consult.py).
                    partner = self._conference_partner(agent, call)
                    if partner is not None:
                        worker.send(ipc.HangupCall(call_id=partner.call_id))
                case signalling.Dtmf(call_id=call_id, digits=digits):
                    self._connected_call(agent, call_id)
                    self._worker(agent).send(ipc.SendDtmf(call_id=call_id,
                                                          digits=digits.upper()))
                case signalling.Hold(call_id=call_id):
                    self._connected_call(agent, call_id)
                    self._worker(agent).send(ipc.HoldCall(call_id=call_id, hold=True))
                case signalling.Unhold(call_id=call_id):
                    self._connected_call(agent, call_id)
                    self._worker(agent).send(ipc.HoldCall(call_id=call_id, hold=False))
                case signalling.Transfer(call_id=call_id, target=text):
                    await self._transfer(agent, call_id, text)
                case signalling.Consult(call_id=call_id, target=text):
                    await self._consult(agent, call_id, text)
                case signalling.ConsultComplete(call_id=call_id):
                    self._consult_complete(agent, call_id)
                case signalling.ConsultBack(call_id=call_id):
                    self._consult_back(agent, call_id)
                case signalling.ConsultConference(call_id=call_id):
                    self._consult_conference(agent, call_id)
        except (_Refused, CodeRefused, IllegalConsult) as refused:
            self.error(session, refused.code, command.__struct_config__.tag)  # type: ignore[arg-type]
        except WorkerUnavailable:
            self.error(session, "worker_unavailable",
                       command.__struct_config__.tag)  # type: ignore[arg-type]

    def _worker(self, agent: AgentLine) -> WorkerProcess:
        worker = self.supervisor.worker_of(agent.user.id) if agent.online else None
        if worker is None:
            raise _Refused("not_online")
        return worker

    def _own_call(self, agent: AgentLine, call_id: str) -> LiveCall:
        call = agent.calls.get(call_id)
        if call is None:
            raise _Refused("no_such_call")
        return call

    def _connected_call(self, agent: AgentLine, call_id: str) -> LiveCall:
        call = self._own_call(agent, call_id)
        if call.state != "connected":
            raise _Refused("call_not_connected")
        return call

    async def _go_online(self, agent: AgentLine, reason: str = "") -> None:
        if agent.online:
            agent.broadcast(signalling.LineEvent(state=agent.line_state, reason=agent.line_reason))
            return
        user = agent.user
        credentials = await sip_accounts.get_credentials(self._db, self._box, user.id)
        worker = await self.supervisor.place(user.id)
        agent.online = True
        # Without a SIP account (or a PBX) the line still carries the echo test, so a
        # new agent can check the headset on the first day.
        agent.echo_only = credentials is None or not self._settings.sip.registrar
        self._set_line(agent, "registering", reason)
        worker.send(ipc.AddAgent(
            agent_id=user.id,
            extension=credentials.extension if credentials else f"agent{user.id}",
            auth_user=credentials.auth_user if credentials else "",
            password=credentials.password if credentials else "",
            display_name=credentials.display_name if credentials else user.display_name,
            registrar="" if agent.echo_only else self._settings.sip.registrar,
            domain=self._settings.sip_domain or "localhost",
            transport=self._settings.sip.transport,
            expires=self._settings.sip.register_expires,
        ))

    async def _go_offline(self, agent: AgentLine, side: Side = "agent",
                          reason: str = "") -> None:
        if not agent.online:
            return
        worker = self.supervisor.worker_of(agent.user.id)
        agent.online = False
        if worker is not None:
            with contextlib.suppress(WorkerUnavailable):
                worker.send(ipc.RemoveAgent(agent_id=agent.user.id))
        self.supervisor.release(agent.user.id)
        # The worker hangs the calls up; their records end with what it reports, or
        # here if it never does (a dead worker).
        for call in list(agent.calls.values()):
            await self._end(agent, call, Ended(reason="hangup", side=side))
        self._set_line(agent, "offline", reason)

    async def _dial(self, agent: AgentLine, text: str, caller_id: str = "") -> None:
        try:
            code = parse_agent_code(text)
        except InvalidNumber:
            raise _Refused("invalid_number") from None
        if code is not None:  # **1, **2<code>, **3, **0: never dialled out
            changed = await agent_presence.keypad(self._db, agent.user.id, code,
                                                  today=self._today())
            if changed is not None:
                agent.broadcast(await agent_presence.state_event(self._db, changed))
            return
        worker = self._worker(agent)
        try:
            target = parse_dial_string(text, self._settings.echo_number)
        except InvalidNumber:
            raise _Refused("invalid_number") from None
        if not target.echo and not self._settings.sip.registrar:
            raise _Refused("registrar_not_configured")
        if not target.echo and agent.echo_only:
            raise _Refused("no_sip_account")
        if not target.echo and agent.line_state != "registered":
            raise _Refused("not_registered")
        if agent.calls:
            raise _Refused("busy_line")
        if not target.echo:
            # The headset test is not a customer call: it stays allowed.
            await self._check_not_blocked(agent)
        account = await sip_accounts.get_account(self._db, agent.user.id)
        presented = presented_number(caller_id, account.caller_ids if account else ())
        call_id = str(uuid.uuid4())
        call = LiveCall(call_id=call_id, user_id=agent.user.id, direction="outbound",
                        remote=target.number, remote_name="", echo=target.echo)
        # The record keeps the number the customer saw: the chosen caller ID, else the
        # extension (which the PBX presents, or maps to the trunk's number).
        local = presented or (account.extension if account else "")
        await call_records.create(self._db, call_id, agent.user.id, "outbound", local,
                                  target.number, "", utc_now())
        # The agent's campaign (their pick, or their only one) owns the call: its
        # "must disposition" and dispositions apply. The headset test has none.
        campaign = (None if target.echo
                    else await agent_presence.outbound_campaign(self._db, agent.user.id))
        await self._start_work(call_id, agent.user.id, None, campaign_id=campaign)
        agent.calls[call_id] = call
        agent.broadcast(self._call_event(call))
        if not target.echo:
            call.ring_timer = asyncio.get_running_loop().call_later(
                self._settings.sip.ring_timeout, self._ring_timed_out, agent, call)
        sip_target = "echo" if target.echo else request_uri(
            target.number, self._settings.sip_domain)
        try:
            worker.send(ipc.MakeCall(agent_id=agent.user.id, call_id=call_id,
                                     target=sip_target,
                                     from_number="" if target.echo else presented))
        except WorkerUnavailable:
            # The worker died after the agent was placed on it: no worker will ever report
            # this call, and a call left dialing would refuse every later dial as busy.
            await self._end(agent, call, Ended(reason="interrupted", side="system"))
            raise

    async def _transfer(self, agent: AgentLine, call_id: str, text: str) -> None:
        call = self._connected_call(agent, call_id)
        try:
            target = parse_dial_string(text, self._settings.echo_number)
        except InvalidNumber:
            raise _Refused("invalid_number") from None
        if target.echo or call.echo:
            raise _Refused("invalid_transfer_target")
        self._worker(agent).send(ipc.TransferCall(
            call_id=call_id, target=request_uri(target.number, self._settings.sip_domain)))

    async def _consult(self, agent: AgentLine, call_id: str, text: str) -> None:
        held = self._connected_call(agent, call_id)
        if held.consult_of:
            raise _Refused("consult_in_progress")  # no consult from a consult
        try:
            target = parse_dial_string(text, self._settings.echo_number)
        except InvalidNumber:
            raise _Refused("invalid_number") from None
        if target.echo or held.echo:
            raise _Refused("invalid_transfer_target")
        worker = self._worker(agent)
        state = next_state(held.consult_state, ConsultEvent.START)
        account = await sip_accounts.get_account(self._db, agent.user.id)
        consult_id = str(uuid.uuid4())
        call = LiveCall(call_id=consult_id, user_id=agent.user.id, direction="outbound",
                        remote=target.number, remote_name="", consult_of=call_id)
        await call_records.create(self._db, consult_id, agent.user.id, "outbound",
                                  account.extension if account else "", target.number, "",
                                  utc_now())
        held.consult_state, held.consult = state, consult_id
        agent.calls[consult_id] = call
        call.ring_timer = asyncio.get_running_loop().call_later(
            self._settings.sip.ring_timeout, self._ring_timed_out, agent, call)
        # One agent's commands run in order in the worker: the customer is on hold
        # (music, the line detached) before the consult call takes the line.
        if not held.held:
            worker.send(ipc.HoldCall(call_id=call_id, hold=True))
        worker.send(ipc.MakeCall(agent_id=agent.user.id, call_id=consult_id,
                                 target=request_uri(target.number, self._settings.sip_domain)))
        agent.broadcast(self._call_event(held))
        agent.broadcast(self._call_event(call))

    def _consult_complete(self, agent: AgentLine, call_id: str) -> None:
        held = self._own_call(agent, call_id)
        held.consult_state = next_state(held.consult_state, ConsultEvent.COMPLETE)
        self._worker(agent).send(ipc.TransferReplaces(call_id=call_id,
                                                      dest_call_id=held.consult))
        agent.broadcast(self._call_event(held))

    def _consult_back(self, agent: AgentLine, call_id: str) -> None:
        held = self._own_call(agent, call_id)
        held.consult_state = next_state(held.consult_state, ConsultEvent.BACK)
        worker = self._worker(agent)
        consult, held.consult = held.consult, ""
        if consult in agent.calls:
            agent.calls[consult].consult_of = ""
            worker.send(ipc.HangupCall(call_id=consult))
        worker.send(ipc.HoldCall(call_id=call_id, hold=False))
        agent.broadcast(self._call_event(held))

    def _consult_conference(self, agent: AgentLine, call_id: str) -> None:
        held = self._own_call(agent, call_id)
        held.consult_state = next_state(held.consult_state, ConsultEvent.CONFERENCE)
        self._worker(agent).send(ipc.ConferenceCalls(call_id=call_id,
                                                     other_call_id=held.consult))
        agent.broadcast(self._call_event(held))

    @staticmethod
    def _conference_partner(agent: AgentLine, call: LiveCall) -> LiveCall | None:
        held = agent.calls.get(call.consult_of) if call.consult_of else call
        if held is None or held.consult_state is not ConsultState.CONFERENCE:
            return None
        other = held.consult if held is call else held.call_id
        return agent.calls.get(other)

    def _consult_ended(self, agent: AgentLine, call: LiveCall) -> None:
        """A consult call ended: the held call learns it (and a consult that never
        connected is reported, the customer still on hold)."""
        held = agent.calls.get(call.consult_of)
        if held is None or held.consult != call.call_id:
            return
        if held.consult_state is ConsultState.COMPLETING:
            call.transferred = True  # the target's phone took the customer over
            return
        if held.consult_state is ConsultState.DIALING:
            self._tell(agent, "consult_failed", "consult")
        held.consult_state = next_state(held.consult_state, ConsultEvent.TARGET_ENDED)
        held.consult = ""
        agent.broadcast(self._call_event(held))

    def _tell(self, agent: AgentLine, code: str, ref: str) -> None:
        message = self._translate(agent.user.language or "en", f"softphone.error.{code}")
        agent.broadcast(signalling.ErrorEvent(code=code, message=message, ref=ref))

    def _ring_timed_out(self, agent: AgentLine, call: LiveCall) -> None:
        if call.state == "connected" or call.call_id not in agent.calls:
            return
        call.timed_out = True
        worker = self.supervisor.worker_of(agent.user.id)
        if worker is not None:
            with contextlib.suppress(WorkerUnavailable):
                worker.send(ipc.HangupCall(call_id=call.call_id))

    # -- reports from workers (queued, handled in order) --------------------------------

    def _queue_report(self, worker: WorkerProcess, report: ipc.Report) -> None:
        self._inbox.put_nowait(lambda: self._on_report(report))

    def _queue_lost(self, worker: WorkerProcess, agent_ids: set[int]) -> None:
        self._inbox.put_nowait(lambda: self._on_lost(agent_ids))

    def _queue_restarted(self, worker: WorkerProcess, agent_ids: set[int]) -> None:
        self._inbox.put_nowait(lambda: self._on_restarted(agent_ids))

    async def _consume(self) -> None:
        while True:
            job = await self._inbox.get()
            try:
                result = job()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("handling a worker report")
            finally:
                self._inbox.task_done()

    async def _on_report(self, report: ipc.Report) -> None:
        match report:
            case ipc.Registration(agent_id=agent_id, status=status, code=code):
                agent = self._agents.get(agent_id)
                if agent is None or not agent.online:
                    return
                reason = registration_reason(status, code)
                if status == "registered":
                    self._set_line(agent, "registered",
                                   "no_registrar" if agent.echo_only else "")
                elif status == "failed":
                    self._set_line(agent, "failed", reason)
                elif status == "registering":
                    self._set_line(agent, "registering", "")
            case ipc.LineAnswer(agent_id=agent_id, sdp=sdp):
                agent = self._agents.get(agent_id)
                if agent is not None and agent.offer_from is not None:
                    agent.offer_from.send(signalling.AnswerSdp(sdp=sdp))
                    agent.offer_from = None
            case ipc.LineStatus():
                pass
            case ipc.Incoming():
                await self._incoming(report)
            case ipc.Leg():
                await self._leg(report)
            case ipc.Transferred(agent_id=agent_id, call_id=call_id, ok=ok):
                agent = self._agents.get(agent_id)
                call = agent.calls.get(call_id) if agent is not None else None
                if agent is not None and call is not None:
                    if ok:
                        call.transferred = True  # the hang-up that follows is ours
                    elif call.consult_state is ConsultState.COMPLETING:
                        call.consult_state = next_state(call.consult_state,
                                                        ConsultEvent.TRANSFER_FAILED)
                        self._tell(agent, "transfer_failed", "consult_complete")
                        agent.broadcast(self._call_event(call))
                    else:
                        message = self._translate(agent.user.language or "en",
                                                  "softphone.error.transfer_failed")
                        agent.broadcast(signalling.ErrorEvent(
                            code="transfer_failed", message=message, ref="transfer"))
            case ipc.HoldState(agent_id=agent_id, call_id=call_id, held=held):
                agent = self._agents.get(agent_id)
                call = agent.calls.get(call_id) if agent is not None else None
                if agent is not None and call is not None:
                    call.held = held
                    agent.broadcast(self._call_event(call))
            case ipc.Failed():
                await self._failed(report)
            case ipc.Quality():
                self._quality(report)

    async def _incoming(self, report: ipc.Incoming) -> None:
        agent = self._agents.get(report.agent_id)
        worker = self.supervisor.worker_of(report.agent_id)
        account = await sip_accounts.get_account(self._db, report.agent_id)
        local = account.extension if account else ""
        caller = await self._caller(report.remote_number)
        name = report.remote_name
        if caller is not None and caller.outcome is callerid.Outcome.ONE:
            name = caller.matches[0].name  # the CRM knows better than the PBX
        await call_records.create(self._db, report.call_id, report.agent_id, "inbound", local,
                                  report.remote_number, name, utc_now())
        call = LiveCall(call_id=report.call_id, user_id=report.agent_id, direction="inbound",
                        remote=report.remote_number, remote_name=name, state="ringing")
        if caller is not None:
            call.matches = len(caller.matches)
            call.contact_id = caller.matches[0].id if len(caller.matches) == 1 else 0
        # The queue it came through, from the number the PBX sent (X-Headset-Queue,
        # P-Called-Party-ID or Diversion: gateway/queue_routing.py).
        queue = await agent_presence.queue_of(self._db, report.called)
        await self._start_work(call.call_id, report.agent_id, call.contact_id or None,
                               queue_id=queue)
        if (agent is None or not agent.online or worker is None or agent.calls
                or await self._blocking(report.agent_id, fail_open=True)
                or not await agent_presence.takes_calls(self._db, report.agent_id, queue)):
            # Busy (already on a call, a call to disposition first, paused, logged out,
            # or logged out of the call's queue) or not really there: the caller hears
            # busy and the PBX can move on; the record keeps the attempt as missed.
            if worker is not None:
                worker.send(ipc.RejectCall(call_id=report.call_id, code=486))
            await self._record(call.call_id, Ended(reason="rejected", sip_code=486,
                                                   side="system"))
            return
        agent.calls[call.call_id] = call
        agent.broadcast(self._call_event(call))

    async def _caller(self, number: str) -> callerid.CallerMatch | None:
        """Caller ID for the ring; a lookup failure must never stop the phone ringing."""
        try:
            return await callerid.match(self._db, number, *self.numbering())
        except Exception:
            log.exception("caller-ID lookup failed")
            return None

    async def _leg(self, report: ipc.Leg) -> None:
        agent = self._agents.get(report.agent_id)
        call = agent.calls.get(report.call_id) if agent is not None else None
        if agent is None or call is None:
            return
        inbound_unanswered = call.direction == "inbound" and call.state == "ringing"
        event = leg_event(report.status, report.code, report.side, inbound_unanswered)
        if event is None:
            return
        if isinstance(event, Ended) and call.timed_out:
            # We cancelled it because nobody answered, not because the agent hung up.
            event = Ended(reason="timeout", sip_code=event.sip_code, side="system")
        if isinstance(event, Ended):
            await self._end(agent, call, event)
            return
        record = await self._record(call.call_id, event)
        if record is None:
            return
        if record.state == CallState.CONNECTED:
            call.state = "connected"
            held = agent.calls.get(call.consult_of) if call.consult_of else None
            if held is not None and held.consult_state is ConsultState.DIALING:
                held.consult_state = next_state(held.consult_state,
                                                ConsultEvent.TARGET_ANSWERED)
                agent.broadcast(self._call_event(held))
        elif report.status == "ringing":
            call.state = "ringing"
        agent.broadcast(self._call_event(call))

    def _quality(self, report: ipc.Quality) -> None:
        agent = self._agents.get(report.agent_id)
        call = agent.calls.get(report.call_id) if agent is not None else None
        if agent is None or call is None:
            return
        legs: dict[str, signalling.QualityLeg | None] = {}
        for name, figures in (("browser", report.browser), ("sip", report.sip)):
            if figures is None:
                legs[name] = None
                continue
            sample = quality.LegSample(jitter_ms=figures.jitter_ms,
                                       loss_pct=figures.loss_pct, rtt_ms=figures.rtt_ms)
            call.quality_legs.setdefault(name, quality.LegAccumulator()).add(sample, figures.mos)
            legs[name] = signalling.QualityLeg(
                jitter_ms=figures.jitter_ms, loss_pct=figures.loss_pct, mos=figures.mos,
                grade=quality.grade(figures.mos), rtt_ms=figures.rtt_ms)
        agent.broadcast(signalling.QualityEvent(call_id=call.call_id, browser=legs["browser"],
                                                sip=legs["sip"]))

    async def _save_quality(self, call: LiveCall) -> None:
        """Keep the call's quality with its record; never in the way of ending it."""
        try:
            for name, accumulator in call.quality_legs.items():
                summary = accumulator.summary()
                if summary is not None and name in ("browser", "sip"):
                    await call_quality.save(self._db, call.call_id,
                                            "browser" if name == "browser" else "sip", summary)
        except Exception:
            log.exception("call %s: quality not stored", call.call_id)

    async def _failed(self, report: ipc.Failed) -> None:
        agent = self._agents.get(report.agent_id)
        if agent is None:
            for candidate in self._agents.values():
                if report.call_id in candidate.calls:
                    agent = candidate
        if agent is None:
            return
        call = agent.calls.get(report.call_id)
        if call is not None and report.command == "MakeCall":
            await self._end(agent, call, Ended(reason="error", side="system"))
        if call is not None and report.command in ("TransferReplaces", "ConferenceCalls"):
            # Nothing was joined: the agent is still talking to the consulted target.
            with contextlib.suppress(IllegalConsult):
                call.consult_state = next_state(call.consult_state, ConsultEvent.JOIN_FAILED)
                agent.broadcast(self._call_event(call))
        if report.command == "AddAgent" and agent.online:
            # The worker could not take the account: the agent is not online after all.
            agent.online = False
            self.supervisor.release(agent.user.id)
            self._set_line(agent, "failed", "reg_failed")
        message = self._translate(agent.user.language or "en", f"softphone.error.{report.error}")
        # The tab knows its own commands, not the worker's: name the one it sent.
        ref = _BROWSER_COMMAND.get(report.command, report.command)
        agent.broadcast(signalling.ErrorEvent(code=report.error, message=message, ref=ref))

    async def _on_lost(self, agent_ids: set[int]) -> None:
        for agent_id in agent_ids:
            agent = self._agents.get(agent_id)
            if agent is None:
                continue
            for call in list(agent.calls.values()):
                await self._end(agent, call, Ended(reason="interrupted", side="system"))
            if agent.online:
                self._set_line(agent, "registering", "worker_restarted")

    async def _on_restarted(self, agent_ids: set[int]) -> None:
        for agent in list(self._agents.values()):
            if not agent.online or self.supervisor.worker_of(agent.user.id) is not None:
                continue
            # The worker could not come back in its slot: place the agent elsewhere.
            agent.online = False
            await self._go_online(agent)
        for agent_id in agent_ids:
            restarted = self._agents.get(agent_id)
            if restarted is not None and restarted.online:
                restarted.online = False
                # The tab's old RTCPeerConnection went with the worker: "line_reset"
                # asks it for a new offer.
                await self._go_online(restarted, reason="line_reset")

    # -- helpers ------------------------------------------------------------------------

    async def _end(self, agent: AgentLine, call: LiveCall, event: Ended) -> None:
        agent.calls.pop(call.call_id, None)
        if call.consult_of:
            self._consult_ended(agent, call)
        consult = agent.calls.get(call.consult) if call.consult else None
        if consult is not None and not call.transferred:
            # The customer hung up during the consult: the consult is a plain call now.
            consult.consult_of = ""
            agent.broadcast(self._call_event(consult))
        elif consult is not None:
            consult.transferred = True
        if call.ring_timer is not None:
            call.ring_timer.cancel()
        if call.transferred:
            # Whoever's BYE ended it, the caller went on to the transfer target.
            event = replace(event, reason="transferred")
        record = await self._record(call.call_id, event)
        await self._save_quality(call)
        call.state = "ended"
        outcome = record.outcome.value if record is not None and record.outcome else "failed"
        agent.broadcast(self._call_event(call, "transferred" if call.transferred else outcome))
        await self.work_changed(agent.user.id)

    async def _record(self, call_id: str, event: call_records.Event) -> (
            call_records.CallRecord | None):
        try:
            return await call_records.apply_event(self._db, call_id, event, utc_now())
        except IllegalTransition as exc:
            log.warning("call %s: %s", call_id, exc)
            return None

    # -- call work: "must disposition before the next call" -----------------------------

    async def work_changed(self, user_id: int) -> None:
        """Tell the agent's tabs which call blocks the next one (after a call ends, a
        disposition is saved, or the policy changes)."""
        agent = self._agents.get(user_id)
        blocking = await self._blocking(user_id, fail_open=True)
        # A call waiting for its disposition is the agent's wrap-up (crm/agent_states.py).
        changed = await agent_presence.follow_work(self._db, user_id, blocking is not None)
        if agent is not None and agent.sessions:
            agent.broadcast(signalling.WorkEvent(blocking_call_id=blocking or ""))
            if changed is not None:
                agent.broadcast(await agent_presence.state_event(self._db, changed))

    async def policy_changed(self) -> None:
        """An administrator switched "must disposition" on or off: tell every agent."""
        for user_id in list(self._agents):
            await self.work_changed(user_id)

    async def _send_work(self, agent: AgentLine, session: Session) -> None:
        if agent.ownership.is_owner(session):
            blocking = await self._blocking(agent.user.id, fail_open=True)
            session.send(signalling.WorkEvent(blocking_call_id=blocking or ""))
            state = await agent_state_store.get(self._db, agent.user.id)
            session.send(await agent_presence.state_event(self._db, state))
            account = await sip_accounts.get_account(self._db, agent.user.id)
            session.send(signalling.CallerIdsEvent(
                numbers=list(account.caller_ids) if account else []))

    async def agent_state_changed(self, user_id: int) -> None:
        """The agent's working state changed from a page: tell their tabs."""
        agent = self._agents.get(user_id)
        if agent is not None and agent.sessions:
            state = await agent_state_store.get(self._db, user_id)
            agent.broadcast(await agent_presence.state_event(self._db, state))

    def _today(self) -> date:
        """The deployment's date now: campaigns' first and last days are its days."""
        return day_in(self.time_zone(), utc_now())

    async def _follow_line(self, agent: AgentLine, *, online: bool) -> None:
        changed = await agent_presence.follow_line(self._db, agent.user.id, online,
                                                   today=self._today())
        if changed is not None:
            agent.broadcast(await agent_presence.state_event(self._db, changed))

    async def _blocking(self, user_id: int, *, fail_open: bool = False) -> str | None:
        """The call the agent must disposition before another one, or None.

        ``fail_open``: a failed lookup lets the call through (a ringing customer matters
        more than the policy); a dial from the agent is refused instead.
        """
        try:
            return await call_work.blocking_call(self._db, user_id, utc_now(),
                                                 self._settings.echo_number)
        except Exception:
            if not fail_open:
                raise
            log.exception("user %d: disposition check failed", user_id)
            return None

    async def _check_not_blocked(self, agent: AgentLine) -> None:
        if await self._blocking(agent.user.id):
            raise _Refused("disposition_required")

    async def _start_work(self, call_id: str, user_id: int, contact_id: int | None, *,
                          campaign_id: int | None = None,
                          queue_id: int | None = None) -> None:
        """Open the call's work row (the contact, campaign and queue it is about) next to
        its record."""
        try:
            await call_work.start(self._db, call_id, user_id, contact_id, utc_now(),
                                  campaign_id=campaign_id, queue_id=queue_id)
        except Exception:
            log.exception("call %s: could not open its call work", call_id)

    def _set_line(self, agent: AgentLine, state: signalling.LineState, reason: str) -> None:
        agent.line_state = state
        agent.line_reason = reason
        agent.broadcast(signalling.LineEvent(state=state, reason=reason))

    @staticmethod
    def _call_event(call: LiveCall, reason: str = "") -> signalling.CallEvent:
        return signalling.CallEvent(
            call_id=call.call_id,
            state=call.state,  # type: ignore[arg-type]
            direction=call.direction,  # type: ignore[arg-type]
            remote=call.remote,
            remote_name=call.remote_name,
            reason=reason,
            held=call.held,
            contact_id=call.contact_id,
            matches=call.matches,
            consult_of=call.consult_of,
            consult=call.consult,
            consult_state=call.consult_state.value,
        )


def presented_number(requested: str, allowed: tuple[str, ...]) -> str:
    """The caller ID to present for a dial: ``requested`` if the user may use it, ""
    (the extension) when none was asked for; ``_Refused("caller_id_not_allowed")``
    for anything else, so a tab cannot present a number an admin did not grant."""
    if not requested:
        return ""
    if requested not in allowed:
        raise _Refused("caller_id_not_allowed")
    return requested


# Worker commands -> the browser command that asked for them (an error event's ``ref``;
# the softphone resets its line when an "offer" fails).
_BROWSER_COMMAND = {
    "AddAgent": "online", "RemoveAgent": "offline", "OpenLine": "offer", "MakeCall": "dial",
    "AnswerCall": "answer", "RejectCall": "reject", "HangupCall": "hangup",
    "SendDtmf": "dtmf", "HoldCall": "hold", "TransferCall": "transfer",
    "TransferReplaces": "consult_complete", "ConferenceCalls": "consult_conference",
}


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
