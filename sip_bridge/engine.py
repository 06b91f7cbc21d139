"""The pjsua2 engine: one thread that owns the Endpoint, its accounts and its calls.

Theory of operation. pjsua2 is not thread-safe in the ways Python would like, and its
objects must die on the thread that made them (see shared/DESIGN.md). So a single
engine thread creates the Endpoint (``threadCnt=0``: no pjsua worker threads), then
loops: run the commands other threads queued, then ``libHandleEvents``, which returns
on pjsip's next event or timer, or when a queued command pokes it (sip_bridge/wake.py).
asyncio code calls the ``async`` methods below, which queue a function, poke the thread
and await the result.
pjsua2 callbacks run on the engine thread and are handed to the asyncio loop with
``call_soon_threadsafe``, as calls on an ``EngineListener``.

The compiled-in caps (4 calls, 8 accounts) are checked here before pjsua2 is asked:
the 9th ``Account.create`` would abort the process.

Errors: ``EngineError(code)`` where ``code`` is a translation key for the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pjsua2 as pj

from gateway.ipc import AddAgent
from gateway.quality import RtpCounters
from gateway.queue_routing import called_number
from sip_bridge import jitter_buffer, source_filter
from sip_bridge.account import Account, account_config, is_wildcard
from sip_bridge.call import Call
from sip_bridge.direct_media import DirectMedia
from sip_bridge.port_pool import PortPool
from sip_bridge.rtp_leg import PortRange, RtpLeg
from sip_bridge.screening import screen, source_host
from sip_bridge.socket_pacer import DIALS, REFUSALS, SocketPacer
from sip_bridge.uri import parse_remote
from sip_bridge.wake import BUSY_POLL_MS, IDLE_POLL_MS, EngineWake
from webrtc.line import MediaLeg

log = logging.getLogger(__name__)

MAX_CALLS = 4
MAX_ACCOUNTS = 8
DIRECT_CLOCK_PTIME_MS = 100  # the conference clock's frame under direct media
_CODEC_IDS = {"pcmu": "PCMU/8000", "pcma": "PCMA/8000", "g722": "G722/16000"}
T = TypeVar("T")


class EngineError(Exception):
    """A SIP operation was refused; ``code`` is a translation key."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class EngineListener(Protocol):
    """What the engine tells the worker; always called on the asyncio loop."""

    def on_registration(self, agent_id: int, status: str, code: int, reason: str) -> None: ...

    def on_incoming(self, agent_id: int, call_id: str, number: str, name: str,
                    called: str) -> None: ...

    def on_leg(self, call_id: str, agent_id: int, status: str, code: int, reason: str,
               side: str) -> None: ...

    def on_transfer(self, call_id: str, agent_id: int, code: int) -> None: ...


@dataclass(frozen=True)
class EngineConfig:
    bind: str
    sip_port: int
    rtp_port: int
    rtp_range: int
    codecs: tuple[str, ...]
    transport: str = "udp"
    # Addresses allowed to offer calls (the PBX); see sip_bridge/screening.py.
    trusted_sources: frozenset[str] = frozenset()
    # The worker carries the calls' RTP itself, pjsua only their signalling
    # (sip_bridge/direct_media.py).
    direct_media: bool = False


def presented_identity(number: str, target_uri: str) -> str:
    """The P-Asserted-Identity for presenting ``number`` on a call to ``target_uri``.

    Why this header and not From: the PBX authenticates the From user against the
    extension's credentials (a changed From user is refused 403), and RFC 3325 is how a
    trusted UA tells the PBX which identity to show the far end. The host is the
    target's, i.e. the PBX domain.
    """
    host = target_uri.split("@", 1)[1] if "@" in target_uri else "localhost"
    return f"<sip:{number}@{host}>"


class SipEngine:
    """Owns the pjsua2 Endpoint on its own thread; safe to use from asyncio."""

    def __init__(self, config: EngineConfig, listener: EngineListener,
                 loop: asyncio.AbstractEventLoop, new_call_id: Callable[[], str]) -> None:
        self._config = config
        self._listener = listener
        self._loop = loop
        self._new_call_id = new_call_id
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._running = threading.Event()
        self._started: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, name="pjsua2-engine", daemon=True)
        self._wake = EngineWake(config.bind, config.sip_port)
        # Engine-thread state; only touched there.
        self._endpoint: pj.Endpoint | None = None
        self._accounts: dict[int, Account] = {}
        self._calls: dict[str, Call] = {}
        self._graveyard: list[Call] = []
        self._ports = PortPool()
        # INVITEs to refuse, with the status code. Refused after onIncomingCall has
        # returned: a hangup inside it aborts the whole process (pjsip asserts in
        # pjsip_rx_data_free_cloned) when the INVITE filled pjsip's packet buffer, which
        # anyone can send (found by tests/reliability/test_sip_torture.py).
        self._to_refuse: list[tuple[Call, int]] = []
        # Refused calls, kept until pjsua reports them DISCONNECTED.
        self._refused: dict[str, Call] = {}
        # Refusals and dials wait their turn so neither a flood of INVITEs nor dials in
        # quick succession can exhaust pjsip's ioqueue (sip_bridge/socket_pacer.py).
        self._pacer = SocketPacer(REFUSALS)
        self._dial_pacer = SocketPacer(DIALS)
        # Direct media: the calls' RTP sockets (bound on the engine thread, which writes
        # the SDP) and, on the event loop, each call's leg by call id.
        self._direct = config.direct_media
        bind = "0.0.0.0" if is_wildcard(config.bind) else config.bind
        self._rtp_ports = PortRange(bind, config.rtp_port, config.rtp_range)
        self._legs: dict[str, RtpLeg] = {}

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self._running.set()
        self._thread.start()
        await asyncio.wrap_future(self._started)

    async def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._running.clear()
        self._wake.poke()
        await asyncio.to_thread(self._thread.join, 10)

    def _run(self) -> None:
        try:
            self._create_endpoint()
        except Exception as exc:  # start-up failure is reported to the awaiting caller
            self._wake.close()
            self._started.set_exception(exc)
            return
        self._started.set_result(None)
        try:
            while self._running.is_set():
                self._drain_commands()
                assert self._endpoint is not None
                # Refusals waiting their turn need the loop to come round soon.
                self._endpoint.libHandleEvents(BUSY_POLL_MS if self._to_refuse
                                               else IDLE_POLL_MS)
                self._refuse_pending()
                self._graveyard.clear()
        finally:
            self._destroy_endpoint()
            self._wake.close()

    def _refuse_pending(self) -> None:
        # A method of its own, not inline in _run: a Call left in a local of _run's frame
        # outlived libDestroy and aborted the worker at exit (pjsua_call_set_user_data
        # asserts in ~Call once pjsua is gone).
        now = time.monotonic()
        while self._to_refuse and self._pacer.allow(now):
            call, code = self._to_refuse.pop(0)
            if call.isActive():
                self._hangup(call, code)

    def _create_endpoint(self) -> None:
        ep = pj.Endpoint()
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.uaConfig.maxCalls = MAX_CALLS
        cfg.uaConfig.userAgent = "Headset"
        # pjsip's log (SIP messages at level 5) goes to the worker's stderr; digest
        # responses appear there, passwords never do.
        level = int(os.environ.get("HEADSET_SIP_LOG_LEVEL", "1"))
        cfg.logConfig.level = level
        cfg.logConfig.consoleLevel = level
        cfg.medConfig.clockRate = 16000
        cfg.medConfig.sndClockRate = 16000
        cfg.medConfig.noVad = True
        # Quality 4 makes pjmedia resample G.711's 8 kHz to the bridge's 16 kHz with its
        # small filter (pjproject's own setting for phones): perf on a worker's clock
        # thread put the default's large filter at ~38 % of that thread, about 0.5 % of a
        # core per call. It also tunes codecs and the echo canceller: G.711 and G.722
        # take no quality, and the null sound device (our clock) has no canceller.
        cfg.medConfig.quality = 4
        # pjmedia's defaults unless a benchmark asks otherwise (sip_bridge/jitter_buffer.py).
        jitter_buffer.apply(cfg.medConfig, jitter_buffer.chosen())
        if self._direct:
            # pjsua's media thread would only poll an ioqueue with no socket in it
            # (direct media opens none): it slept 10 ms and looked again, ~5 % of a core
            # across 28 workers for nothing. threadCnt=0 alone still left it running;
            # without an ioqueue of its own pjmedia starts no thread, and SIP stays on
            # this one.
            cfg.medConfig.threadCnt = 0
            cfg.medConfig.hasIoqueue = False
            # The bridge's clock only has to turn for pjmedia to finish removing a
            # finished call's stream (below); a slow one costs ~10 wake-ups a second.
            cfg.medConfig.audioFramePtime = DIRECT_CLOCK_PTIME_MS
        ep.libInit(cfg)
        tcfg = pj.TransportConfig()
        tcfg.port = self._config.sip_port
        if not is_wildcard(self._config.bind):
            tcfg.boundAddress = self._config.bind
            tcfg.publicAddress = self._config.bind
        ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        if self._config.transport == "tcp":
            # Same port number: UDP stays for PBXs that answer over UDP anyway.
            ep.transportCreate(pj.PJSIP_TRANSPORT_TCP, tcfg)
        # Before the first libHandleEvents reads the socket: from now on only the PBX's
        # datagrams reach pjsip (scanners get no answer at all; see source_filter.py).
        # The engine's own pokes come from this host (sip_bridge/wake.py).
        allowed = self._config.trusted_sources | {self._wake.source}
        if source_filter.attach(tcfg.port, allowed) == 0:
            log.error("SIP port %d not filtered: anyone's SIP reaches pjsip", tcfg.port)
        ep.libStart()
        # The null device is the conference clock: no sound card in a server. Direct
        # media needs it too, though no audio goes through pjmedia: pjsua still puts
        # each call's (idle) stream in the conference bridge, and the bridge removes a
        # port only on its clock's next tick. Without a clock every call kept its slot
        # and its stream (~40 KB): the 255th call of a worker's life failed with
        # PJ_ETOOMANY (pjsua's 254 conference slots) and was hung up at answer.
        ep.audDevManager().setNullDev()
        for info in ep.codecEnum2():
            ep.codecSetPriority(info.codecId, 0)
        for rank, codec in enumerate(self._config.codecs):
            ep.codecSetPriority(_CODEC_IDS[codec], 250 - rank)
        self._endpoint = ep

    def _destroy_endpoint(self) -> None:
        ep = self._endpoint
        if ep is None:
            return
        try:
            ep.hangupAllCalls()
            for _ in range(20):
                ep.libHandleEvents(10)
        except pj.Error:
            pass
        # Stop the conference clock before any port leaves the bridge (see port_pool.py).
        with contextlib.suppress(pj.Error):
            ep.audDevManager().setNoDev()
        for call in self._calls.values():
            call.port = None
        self._calls.clear()
        self._ports.clear()
        self._to_refuse.clear()
        self._refused.clear()
        self._graveyard.clear()
        for account in self._accounts.values():
            account.shutdown()
        self._accounts.clear()
        gc.collect()
        ep.libDestroy()
        self._endpoint = None

    # -- running functions on the engine thread -----------------------------------------

    def _drain_commands(self) -> None:
        while True:
            try:
                fn, future = self._queue.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except EngineError as exc:
                future.set_exception(exc)
            except pj.Error as exc:
                # Keep the traceback (which holds pjsua2 objects) on this thread.
                log.warning("pjsua2 error: %s", exc.info())
                future.set_exception(EngineError("sip_error"))

    async def _on_engine(self, fn: Callable[[], T]) -> T:
        if not self._running.is_set():
            raise EngineError("worker_unavailable")
        future: Future[T] = Future()
        self._queue.put((fn, future))
        self._wake.poke()
        return await asyncio.wrap_future(future)

    def _emit(self, method: Callable[..., None], *args: Any) -> None:
        self._loop.call_soon_threadsafe(method, *args)

    # -- accounts -----------------------------------------------------------------------

    async def add_account(self, agent: AddAgent) -> None:
        def add() -> None:
            if agent.agent_id in self._accounts:
                return
            if len(self._accounts) >= MAX_ACCOUNTS:
                raise EngineError("worker_full")
            account = Account(agent.agent_id, self._reg_state, self._incoming)
            cfg = account_config(agent, self._config.bind, self._config.rtp_port,
                                 self._config.rtp_range, self._direct)
            account.create(cfg)
            self._accounts[agent.agent_id] = account

        await self._on_engine(add)

    async def remove_account(self, agent_id: int) -> None:
        def remove() -> None:
            account = self._accounts.pop(agent_id, None)
            if account is None:
                return
            for call in list(self._calls.values()):
                if call.agent_id == agent_id:
                    self._hangup(call, 0)
            # shutdown() sends the un-REGISTER and frees the account in pjsua.
            account.shutdown()

        await self._on_engine(remove)

    def _reg_state(self, account: Account, code: int, reason: str, active: bool) -> None:
        if active and code // 100 == 2:
            status = "registered"
        elif code // 100 == 2:
            status = "unregistered"
        else:
            status = "failed"
        self._emit(self._listener.on_registration, account.agent_id, status, code, reason)

    # -- calls --------------------------------------------------------------------------

    async def make_call(self, agent_id: int, call_id: str, uri: str,
                        presented: str = "") -> MediaLeg:
        """INVITE ``uri``; ``presented`` (a caller ID the gateway has checked) goes out
        as P-Asserted-Identity (see ``presented_identity``)."""

        def make() -> MediaLeg | float:
            account = self._accounts.get(agent_id)
            if account is None:
                raise EngineError("not_online")
            if len(self._calls) >= MAX_CALLS:
                raise EngineError("busy_line")
            wait = self._dial_pacer.wait(time.monotonic())
            if wait:
                return wait
            call = Call(account, call_id, agent_id, self._call_state, self._transfer_done)
            if self._direct:
                leg: MediaLeg = self._direct_media(call).leg
            else:
                call.port = self._ports.take()
                leg = call.port.audio
            self._calls[call_id] = call
            try:
                prm = pj.CallOpParam(True)
                if presented:
                    header = pj.SipHeader()
                    header.hName = "P-Asserted-Identity"
                    header.hValue = presented_identity(presented, uri)
                    prm.txOption.headers.append(header)
                call.makeCall(uri, prm)
            except pj.Error:
                del self._calls[call_id]
                self._release_port(call)
                self._graveyard.append(call)
                raise
            return leg

        while True:
            made = await self._on_engine(make)
            if not isinstance(made, float):
                return await self._opened(call_id, made)
            await asyncio.sleep(made)  # this dial's turn (sip_bridge/socket_pacer.py)

    def _direct_media(self, call: Call) -> DirectMedia:
        """The call's RTP socket and SDP under direct media (engine thread)."""
        try:
            sock = self._rtp_ports.bind()
        except OSError as exc:
            log.error("call %s: %s", call.call_id, exc)
            raise EngineError("sip_error") from None
        bind = "" if is_wildcard(self._config.bind) else self._config.bind
        call.direct = DirectMedia(RtpLeg(sock), bind, self._config.codecs, self._loop)
        return call.direct

    async def _opened(self, call_id: str, leg: MediaLeg) -> MediaLeg:
        """The call's leg, its socket now read by the event loop (direct media)."""
        if isinstance(leg, RtpLeg) and call_id not in self._legs:
            self._legs[call_id] = leg
            await leg.open(self._loop)
        return leg

    def _forget_leg(self, call_id: str, leg: RtpLeg) -> None:
        if self._legs.get(call_id) is leg:
            del self._legs[call_id]
        leg.close()

    def _incoming(self, account: Account, pj_call_id: int, source: str, message: str) -> None:
        call = Call(account, self._new_call_id(), account.agent_id, self._call_state,
                    self._transfer_done, pj_call_id)
        refusal = screen(source, message, self._config.trusted_sources)
        if refusal is not None:
            log.warning("INVITE from %s refused with %d (not the PBX, or a scanner)",
                        source_host(source), refusal)
            self._refuse(call, refusal)
            return
        info = call.getInfo()
        number, name = parse_remote(info.remoteUri)
        if len(self._calls) >= MAX_CALLS:
            self._refuse(call, 486)
            return
        if self._direct:
            try:
                self._direct_media(call)
            except EngineError:
                self._refuse(call, 503)
                return
        else:
            call.port = self._ports.take()
        self._calls[call.call_id] = call
        ringing = pj.CallOpParam()
        ringing.statusCode = 180
        call.answer(ringing)
        self._emit(self._listener.on_incoming, account.agent_id, call.call_id, number, name,
                   called_number(message))

    def _release_port(self, call: Call) -> None:
        port, call.port = call.port, None
        if port is not None:
            self._ports.give_back(port)

    def _refuse(self, call: Call, code: int) -> None:
        self._refused[call.call_id] = call
        self._to_refuse.append((call, code))

    async def answer(self, call_id: str) -> MediaLeg:
        def answer() -> MediaLeg:
            call = self._call(call_id)
            prm = pj.CallOpParam()
            prm.statusCode = 200
            call.answer(prm)
            if call.direct is not None:
                return call.direct.leg
            if call.port is None:  # every call in _calls has one; never reached
                raise EngineError("no_such_call")
            return call.port.audio

        return await self._opened(call_id, await self._on_engine(answer))

    async def send_dtmf(self, call_id: str, digits: str) -> None:
        leg = self._legs.get(call_id)
        if leg is None:
            await self._on_engine(lambda: self._connected_call(call_id).send_dtmf(digits))
            return
        await self._on_engine(lambda: self._connected_call(call_id))
        if not await leg.send_dtmf(digits):
            # The far end takes no RFC 4733 events: SIP INFO, as pjsua would.
            await self._on_engine(lambda: self._connected_call(call_id).send_dtmf_info(digits))

    async def hold(self, call_id: str, on: bool) -> None:
        def change() -> None:
            call = self._connected_call(call_id)
            if call.direct is not None:
                call.direct.held = on  # the SDP of the re-INVITE says so
            if on:
                call.hold()
            else:
                call.unhold()

        await self._on_engine(change)

    def _connected_call(self, call_id: str) -> Call:
        call = self._call(call_id)
        if call.getInfo().state != pj.PJSIP_INV_STATE_CONFIRMED:
            raise EngineError("call_not_connected")
        return call

    async def transfer(self, call_id: str, uri: str) -> None:
        await self._on_engine(lambda: self._connected_call(call_id).transfer(uri))

    async def transfer_replaces(self, call_id: str, dest_call_id: str) -> None:
        def refer() -> None:
            # The held call is still CONFIRMED: a REFER is an in-dialog request.
            call = self._connected_call(call_id)
            dest = self._connected_call(dest_call_id)
            call.xferReplaces(dest, pj.CallOpParam(True))

        await self._on_engine(refer)

    @property
    def mixes_conferences(self) -> bool:
        """Whether ``conference`` joins the calls' audio (pjmedia's bridge); under
        direct media the worker mixes them itself."""
        return not self._direct

    async def conference(self, call_id: str, other_call_id: str) -> None:
        """Join two of an agent's connected calls into one conversation with the agent."""

        def join() -> None:
            call, other = self._connected_call(call_id), self._connected_call(other_call_id)
            if self._direct:
                return  # the worker mixes (gateway/conference_mix.py)
            call.joined, other.joined = other, call
            call.join_media()

        await self._on_engine(join)

    def _transfer_done(self, call: Call, code: int) -> None:
        # Told first: the hang-up below reports the leg's end, which must already read
        # as the end of a transferred call.
        self._emit(self._listener.on_transfer, call.call_id, call.agent_id, code)
        if code // 100 == 2:
            # The caller is now talking to the target: our leg has done its job.
            self._hangup(call, 0)

    async def hangup(self, call_id: str, code: int = 0) -> None:
        await self._on_engine(lambda: self._hangup(self._call(call_id), code))

    def _hangup(self, call: Call, code: int) -> None:
        call.hung_up_locally = True
        prm = pj.CallOpParam()
        if code:
            prm.statusCode = code
        try:
            call.hangup(prm)
        except pj.Error as exc:
            log.info("hangup of %s: %s", call.call_id, exc.reason)

    def _call(self, call_id: str) -> Call:
        call = self._calls.get(call_id)
        if call is None:
            raise EngineError("no_such_call")
        return call

    def _call_state(self, call: Call) -> None:
        info = call.getInfo()
        state = info.state
        if call.call_id in self._refused:
            if state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self._graveyard.append(self._refused.pop(call.call_id))
            return  # never offered, so nothing to report
        if state == pj.PJSIP_INV_STATE_EARLY and info.role == pj.PJSIP_ROLE_UAC:
            status = "ringing"
        elif state == pj.PJSIP_INV_STATE_CALLING:
            status = "calling"
        elif state == pj.PJSIP_INV_STATE_CONFIRMED:
            status = "connected"
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            status = "disconnected"
            self._calls.pop(call.call_id, None)
            with contextlib.suppress(pj.Error):
                call.leave_conference()
            self._release_port(call)
            if call.direct is not None:
                self._emit(self._forget_leg, call.call_id, call.direct.leg)
                call.direct = None
            # Deleted after the callback returns (pjproject #3856: never let a stale
            # Call object be collected later).
            self._graveyard.append(call)
        else:
            return
        side = ("local" if call.hung_up_locally else "remote") if status == "disconnected" else ""
        self._emit(self._listener.on_leg, call.call_id, call.agent_id, status,
                   info.lastStatusCode, info.lastReason, side)

    def counts(self) -> tuple[int, int, int]:
        """(calls, accounts, audio ports), read without locking: only for health reports."""
        return len(self._calls), len(self._accounts), self._ports.created

    async def rtp_counters(self, call_id: str) -> RtpCounters | None:
        """The SIP leg's RTP/RTCP figures (pjmedia's stream statistics), or ``None``
        when the call has no active audio stream (gone, on hold, not yet answered)."""
        leg = self._legs.get(call_id)
        if leg is not None:
            return leg.counters()  # direct media: the worker counts its own packets

        def read() -> RtpCounters | None:
            call = self._calls.get(call_id)
            if call is None:
                return None
            try:
                # Kept in a name: the media vector dies with a temporary CallInfo.
                info = call.getInfo()
                media = info.media
                index = next((m.index for m in media if m.type == pj.PJMEDIA_TYPE_AUDIO
                              and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE), None)
                if index is None:
                    return None
                stat = call.getStreamStat(index)  # named for the same reason
            except pj.Error:
                return None
            rtcp = stat.rtcp
            rx, tx = rtcp.rxStat, rtcp.txStat
            # pjmedia counts in microseconds; n == 0 means no RTCP report yet.
            peer = tx.updateCount > 0
            return RtpCounters(
                received=rx.pkt,
                lost=rx.loss,
                jitter_ms=rx.jitterUsec.last / 1000,
                sent=tx.pkt,
                peer_lost=tx.loss if peer else None,
                peer_jitter_ms=tx.jitterUsec.last / 1000 if peer else None,
                rtt_ms=rtcp.rttUsec.last / 1000 if rtcp.rttUsec.n else None,
            )

        return await self._on_engine(read)
