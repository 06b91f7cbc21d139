"""A line worker process: a few agents' SIP accounts, calls and WebRTC lines.

Forked by the launcher (``gateway/launcher.py``), or started as ``python -m
gateway.line_worker CONFIG_JSON`` where fork is not available. Commands
arrive as JSON lines on stdin, reports leave as JSON lines on stdout (``gateway/ipc.py``);
logs go to stderr. pjsua2 runs on its own engine thread (``sip_bridge/engine.py``);
aiortc and this dispatcher run on the asyncio loop. When stdin closes (the main process
died) the worker hangs up its calls and exits, so no SIP leg outlives its control plane.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import sys
import uuid
from dataclasses import dataclass, field

from aiortc import RTCIceServer

from gateway import ipc, loop_pacing, music_on_hold, quality
from gateway.conference_mix import ConferenceMix
from gateway.echo_leg import EchoLeg
from gateway.settings import WIDEBAND_SIP_CODECS
from sip_bridge import direct_media
from sip_bridge.engine import EngineConfig, EngineError, SipEngine
from webrtc.ice import restrict_host_addresses
from webrtc.line import Line, MediaLeg

log = logging.getLogger("headset.worker")

# Seconds between quality samples of a connected call: often enough to watch a link go
# bad during a call, rare enough to cost nothing (two stats reads per call).
QUALITY_INTERVAL = 2.0


@dataclass
class _Agent:
    config: ipc.AddAgent
    line: Line | None = None
    registered: bool = False
    watchdog: asyncio.TimerHandle | None = None
    calls: set[str] = field(default_factory=set)


class Worker:
    """Carries out commands for the agents placed on this process."""

    def __init__(self, config: ipc.WorkerConfig, out: asyncio.StreamWriter | None,
                 direct: bool) -> None:
        """``direct``: this worker's calls use direct media (``direct_media.chosen``)."""
        self._config = config
        self._out = out
        self._agents: dict[int, _Agent] = {}
        self._legs: dict[str, tuple[int, MediaLeg]] = {}
        # Calls joined in a 3-way conference, each to the other.
        self._joined: dict[str, str] = {}
        # Under direct media the worker mixes a conference itself, keyed by both calls.
        self._mixes: dict[str, ConferenceMix] = {}
        # Calls on hold, with the task playing music into them.
        self._held: dict[str, asyncio.Task[None]] = {}
        # Connected calls, with the task sampling their quality.
        self._sampling: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[int, asyncio.Lock] = {}
        self._stopping = asyncio.Event()
        self._engine = SipEngine(
            EngineConfig(
                bind=config.bind,
                sip_port=config.sip_port,
                rtp_port=config.rtp_port,
                rtp_range=config.rtp_range,
                codecs=tuple(config.sip_codecs),
                transport=config.sip_transport,
                trusted_sources=frozenset(config.trusted_sources),
                direct_media=direct,
            ),
            self,
            asyncio.get_running_loop(),
            lambda: str(uuid.uuid4()),
        )
        servers = [RTCIceServer(urls=url) for url in config.stun]
        servers += [
            RTCIceServer(urls=url, username=config.turn_username,
                         credential=config.turn_password)
            for url in config.turn
        ]
        self._ice_servers = servers

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self, commands: asyncio.StreamReader) -> None:
        restrict_host_addresses(self._config.ice_host_addresses)
        await self._engine.start()
        self._send(ipc.Ready(sip_port=self._config.sip_port, pid=os.getpid()))
        try:
            while not self._stopping.is_set():
                line = await commands.readline()
                if not line:
                    break  # the main process is gone
                try:
                    command = ipc.decode_command(line)
                except Exception:
                    log.error("undecodable command (%d bytes) ignored", len(line))
                    continue
                if isinstance(command, ipc.Shutdown):
                    break
                task = asyncio.get_running_loop().create_task(self._dispatch(command))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        for agent in self._agents.values():
            if agent.line is not None:
                await agent.line.close()
        self._agents.clear()
        await self._engine.stop()

    def _send(self, report: ipc.Report) -> None:
        if self._out is not None:
            self._out.write(ipc.encode(report))

    # -- commands -----------------------------------------------------------------------

    async def _dispatch(self, command: ipc.Command) -> None:
        # One agent's commands run in order (a RemoveAgent must finish before the next
        # AddAgent for the same agent starts); different agents' run side by side.
        agent_id = self._agent_of(command)
        lock = self._locks.setdefault(agent_id, asyncio.Lock()) if agent_id else None
        try:
            if lock is None:
                await self._handle(command)
            else:
                async with lock:
                    await self._handle(command)
        except EngineError as exc:
            self._fail(command, exc.code)
        except Exception:
            log.exception("command %s failed", type(command).__name__)
            self._fail(command, "internal_error")

    def _agent_of(self, command: ipc.Command) -> int:
        agent_id = getattr(command, "agent_id", 0)
        if agent_id:
            return int(agent_id)
        call_id = getattr(command, "call_id", "")
        for candidate_id, agent in self._agents.items():
            if call_id in agent.calls:
                return candidate_id
        return 0

    def _fail(self, command: ipc.Command, code: str) -> None:
        self._send(ipc.Failed(
            command=type(command).__name__,
            error=code,
            agent_id=getattr(command, "agent_id", 0),
            call_id=getattr(command, "call_id", ""),
        ))

    async def _handle(self, command: ipc.Command) -> None:
        match command:
            case ipc.AddAgent():
                await self._add_agent(command)
            case ipc.RemoveAgent(agent_id=agent_id):
                await self._remove_agent(agent_id)
            case ipc.OpenLine(agent_id=agent_id, sdp=sdp):
                await self._open_line(agent_id, sdp)
            case ipc.CloseLine(agent_id=agent_id):
                agent = self._agent(agent_id)
                if agent.line is not None:
                    line, agent.line = agent.line, None
                    await line.close()
            case ipc.MakeCall():
                await self._make_call(command)
            case ipc.AnswerCall(call_id=call_id):
                port = await self._engine.answer(call_id)
                self._attach(call_id, port)
            case ipc.RejectCall(call_id=call_id, code=code):
                await self._engine.hangup(call_id, code)
            case ipc.HangupCall(call_id=call_id):
                await self._hangup(call_id)
            case ipc.SendDtmf(call_id=call_id, digits=digits):
                if not isinstance(self._leg(call_id), EchoLeg):
                    await self._engine.send_dtmf(call_id, digits)
            case ipc.HoldCall(call_id=call_id, hold=hold):
                await self._hold(call_id, hold)
            case ipc.TransferCall(call_id=call_id, target=target):
                if isinstance(self._leg(call_id), EchoLeg):
                    raise EngineError("call_not_connected")
                await self._engine.transfer(call_id, target)
            case ipc.ConferenceCalls(call_id=call_id, other_call_id=other):
                await self._conference(call_id, other)
            case ipc.TransferReplaces(call_id=call_id, dest_call_id=dest):
                if isinstance(self._leg(call_id), EchoLeg) or isinstance(self._leg(dest), EchoLeg):
                    raise EngineError("call_not_connected")
                await self._engine.transfer_replaces(call_id, dest)
            case ipc.Ping(seq=seq):
                calls, accounts, ports = self._engine.counts()
                lines = sum(1 for a in self._agents.values() if a.line is not None)
                self._send(ipc.Pong(seq=seq, calls=calls, accounts=accounts, lines=lines,
                                    ports=ports))

    def _agent(self, agent_id: int) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise EngineError("not_online")
        return agent

    async def _add_agent(self, config: ipc.AddAgent) -> None:
        if config.agent_id in self._agents:
            return
        agent = _Agent(config)
        self._agents[config.agent_id] = agent
        if config.registrar:
            # Said before the account exists: on loopback the registrar's answer can be
            # reported before add_account() returns, and must not be overtaken.
            self._send(ipc.Registration(agent_id=config.agent_id, status="registering"))
            # pjsip's own timeout for an unanswered REGISTER over UDP is 32 s; the agent
            # should hear much sooner that the registrar is not answering.
            agent.watchdog = asyncio.get_running_loop().call_later(
                self._config.register_timeout, self._registration_timed_out, config.agent_id
            )
        try:
            await self._engine.add_account(config)
        except EngineError:
            if agent.watchdog is not None:
                agent.watchdog.cancel()
            del self._agents[config.agent_id]
            raise
        if not config.registrar:
            self._send(ipc.Registration(agent_id=config.agent_id, status="registered",
                                        reason="no_registrar"))

    def _registration_timed_out(self, agent_id: int) -> None:
        agent = self._agents.get(agent_id)
        if agent is not None and not agent.registered:
            self._send(ipc.Registration(agent_id=agent_id, status="failed", code=408,
                                        reason="registrar not answering"))

    async def _remove_agent(self, agent_id: int) -> None:
        agent = self._agents.pop(agent_id, None)
        if agent is None:
            return
        if agent.watchdog is not None:
            agent.watchdog.cancel()
        for call_id in list(agent.calls):
            if isinstance(self._legs.get(call_id, (0, None))[1], EchoLeg):
                self._end_echo(call_id, "local")
        if agent.line is not None:
            await agent.line.close()
        await self._engine.remove_account(agent_id)

    async def _open_line(self, agent_id: int, sdp: str) -> None:
        agent = self._agent(agent_id)
        line = Line(agent_id, tuple(self._config.browser_codecs), self._ice_servers,
                    self._line_state_changed,
                    far_end_wideband=any(c in WIDEBAND_SIP_CODECS
                                         for c in self._config.sip_codecs))
        try:
            answer = await line.accept_offer(sdp)
        except Exception as exc:
            # aiortc raises ValueError (and friends) on SDP it cannot use. The line the
            # tab already has stays as it is; the browser gets "invalid_sdp".
            log.info("agent %d: offer refused: %s", agent_id, exc)
            await line.close()
            raise EngineError("invalid_sdp") from None
        # A new offer replaces the tab's line (a reload); a call in progress moves to it.
        old, agent.line = agent.line, line
        if old is not None:
            await old.close()
        for call_id in agent.calls:
            if call_id in self._legs and call_id not in self._held:
                line.attach(self._mixes.get(call_id) or self._legs[call_id][1])
        self._send(ipc.LineAnswer(agent_id=agent_id, sdp=answer))

    def _line_state_changed(self, agent_id: int, state: str) -> None:
        self._send(ipc.LineStatus(agent_id=agent_id, status=state))

    async def _make_call(self, command: ipc.MakeCall) -> None:
        agent = self._agent(command.agent_id)
        agent.calls.add(command.call_id)
        if command.target == "echo":
            leg = EchoLeg()
            self._attach_leg(command.call_id, command.agent_id, leg)
            self._send(ipc.Leg(call_id=command.call_id, agent_id=command.agent_id,
                               status="connected", code=200))
            self._start_sampling(command.call_id, command.agent_id)
            return
        try:
            port = await self._engine.make_call(command.agent_id, command.call_id,
                                                command.target, command.from_number)
        except EngineError:
            agent.calls.discard(command.call_id)
            raise
        # Attached at once so early media (ringback from the PBX) is heard.
        self._attach_leg(command.call_id, command.agent_id, port)

    def _attach(self, call_id: str, leg: MediaLeg) -> None:
        for agent_id, agent in self._agents.items():
            if call_id in agent.calls:
                self._attach_leg(call_id, agent_id, leg)

    def _attach_leg(self, call_id: str, agent_id: int, leg: MediaLeg) -> None:
        self._legs[call_id] = (agent_id, leg)
        agent = self._agents.get(agent_id)
        if agent is not None and agent.line is not None:
            agent.line.attach(leg)

    def _leg(self, call_id: str) -> MediaLeg:
        entry = self._legs.get(call_id)
        if entry is None:
            raise EngineError("no_such_call")
        return entry[1]

    async def _hold(self, call_id: str, hold: bool) -> None:
        agent_id, leg = self._legs.get(call_id, (0, None))
        if leg is None:
            raise EngineError("no_such_call")
        if isinstance(leg, EchoLeg):
            raise EngineError("call_not_connected")
        if hold == (call_id in self._held):
            self._send(ipc.HoldState(call_id=call_id, agent_id=agent_id, held=hold))
            return
        await self._engine.hold(call_id, hold)
        line = self._agents[agent_id].line if agent_id in self._agents else None
        if hold:
            # The caller hears music instead of the agent; the agent hears nothing.
            if line is not None:
                line.detach(leg)
            self._held[call_id] = asyncio.get_running_loop().create_task(
                music_on_hold.play(leg))
        else:
            await self._stop_music(call_id)
            if line is not None:
                line.attach(leg)
        self._send(ipc.HoldState(call_id=call_id, agent_id=agent_id, held=hold))

    async def _conference(self, call_id: str, other: str) -> None:
        agent_id, leg = self._legs.get(call_id, (0, None))
        other_leg = self._legs.get(other, (0, None))[1]
        if leg is None or other_leg is None:
            raise EngineError("no_such_call")
        if isinstance(leg, EchoLeg) or isinstance(other_leg, EchoLeg):
            raise EngineError("call_not_connected")
        for held in (call_id, other):
            if held in self._held:
                await self._engine.hold(held, False)
                await self._stop_music(held)
        await self._engine.conference(call_id, other)
        self._joined[call_id], self._joined[other] = other, call_id
        if not self._engine.mixes_conferences:
            mix = ConferenceMix(leg, other_leg)
            mix.start()
            self._mixes[call_id] = self._mixes[other] = mix
            line = self._agents[agent_id].line if agent_id in self._agents else None
            if line is not None:
                line.attach(mix)
        # The line stays on the call it carries (the consult call): its port now hears
        # both far ends and is heard by both.
        self._send(ipc.HoldState(call_id=call_id, agent_id=agent_id, held=False))

    async def _stop_music(self, call_id: str) -> None:
        task = self._held.pop(call_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _hangup(self, call_id: str) -> None:
        entry = self._legs.get(call_id)
        if entry is not None and isinstance(entry[1], EchoLeg):
            self._end_echo(call_id, "local")
            return
        await self._engine.hangup(call_id)

    def _end_echo(self, call_id: str, side: str) -> None:
        agent_id, _ = self._legs.get(call_id, (0, None))
        self._forget_call(call_id)
        self._send(ipc.Leg(call_id=call_id, agent_id=agent_id, status="disconnected",
                           code=200, side=side))

    def _forget_call(self, call_id: str) -> None:
        music = self._held.pop(call_id, None)
        if music is not None:
            music.cancel()
        sampler = self._sampling.pop(call_id, None)
        if sampler is not None:
            sampler.cancel()
        entry = self._legs.pop(call_id, None)
        partner = self._joined.pop(call_id, None)
        if partner is not None:
            self._joined.pop(partner, None)
        mix = self._mixes.pop(call_id, None)
        if mix is not None:
            mix.stop()
            self._mixes.pop(partner or "", None)
        for agent in self._agents.values():
            agent.calls.discard(call_id)
            if entry is not None and agent.line is not None:
                agent.line.detach(entry[1])
                if mix is not None:
                    agent.line.detach(mix)
                # One side left the conference: the agent carries on with the other.
                if partner in agent.calls and partner in self._legs:
                    agent.line.attach(self._legs[partner][1])

    # -- call quality -------------------------------------------------------------------

    def _start_sampling(self, call_id: str, agent_id: int) -> None:
        if call_id not in self._sampling:
            self._sampling[call_id] = asyncio.get_running_loop().create_task(
                self._sample_quality(call_id, agent_id))

    async def _sample_quality(self, call_id: str, agent_id: int) -> None:
        """Report both legs' figures every ``QUALITY_INTERVAL`` until the call ends."""
        browser, sip = quality.LegMeter.new(), quality.LegMeter.new()
        while True:
            await asyncio.sleep(QUALITY_INTERVAL)
            entry = self._legs.get(call_id)
            if entry is None:
                return
            agent = self._agents.get(agent_id)
            line = agent.line if agent is not None else None
            try:
                # On hold the browser leg carries nothing and the SIP stream is paused.
                on_line = line is not None and call_id not in self._held
                browser_counters = await line.rtp_counters() if on_line and line else None
                sip_counters = (None if isinstance(entry[1], EchoLeg)
                                else await self._engine.rtp_counters(call_id))
            except EngineError:
                return  # the engine is stopping
            except Exception:
                log.exception("call %s: quality sample failed", call_id)
                continue
            report = ipc.Quality(call_id=call_id, agent_id=agent_id,
                                 browser=_figures(browser, browser_counters),
                                 sip=_figures(sip, sip_counters))
            if report.browser is not None or report.sip is not None:
                self._send(report)

    # -- engine listener (on the asyncio loop) ------------------------------------------

    def on_registration(self, agent_id: int, status: str, code: int, reason: str) -> None:
        agent = self._agents.get(agent_id)
        if agent is None:
            return
        agent.registered = status == "registered"
        if agent.watchdog is not None and status in ("registered", "failed"):
            agent.watchdog.cancel()
            agent.watchdog = None
        report_status = status if status in ("registered", "failed", "unregistered") else (
            "failed")
        self._send(ipc.Registration(agent_id=agent_id, status=report_status,  # type: ignore[arg-type]
                                    code=code, reason=reason))

    def on_incoming(self, agent_id: int, call_id: str, number: str, name: str,
                    called: str) -> None:
        agent = self._agents.get(agent_id)
        if agent is not None:
            agent.calls.add(call_id)
        self._send(ipc.Incoming(agent_id=agent_id, call_id=call_id, remote_number=number,
                                remote_name=name, called=called))

    def on_transfer(self, call_id: str, agent_id: int, code: int) -> None:
        self._send(ipc.Transferred(call_id=call_id, agent_id=agent_id,
                                   ok=code // 100 == 2, code=code))

    def on_leg(self, call_id: str, agent_id: int, status: str, code: int, reason: str,
               side: str) -> None:
        if status == "disconnected":
            self._forget_call(call_id)
        elif status == "connected":
            self._start_sampling(call_id, agent_id)
        self._send(ipc.Leg(call_id=call_id, agent_id=agent_id, status=status,  # type: ignore[arg-type]
                           code=code, reason=reason, side=side))


def _figures(meter: quality.LegMeter,
             counters: quality.RtpCounters | None) -> ipc.LegFigures | None:
    if counters is None:
        return None
    sample = meter.sample(counters)
    return ipc.LegFigures(jitter_ms=sample.jitter_ms, loss_pct=sample.loss_pct,
                          rtt_ms=sample.rtt_ms, mos=quality.estimate_mos(sample))


async def _main(config: ipc.WorkerConfig, report_fd: int, direct: bool) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(report_fd, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    worker = Worker(config, writer, direct)
    await worker.run(reader)


def run(config_json: str) -> None:
    """Run one worker on this process's stdio until stdin closes or Shutdown arrives."""
    # A crash inside pjsip or ffmpeg leaves a Python traceback of every thread in the log.
    faulthandler.enable(all_threads=True)
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("HEADSET_WORKER_LOG", "INFO"),
        format="%(asctime)s worker %(process)d %(levelname)s %(name)s: %(message)s",
    )
    config = ipc.decode_config(config_json)
    # pjsip writes its console log to fd 1: keep the real stdout for reports only and
    # send anything else written to fd 1 to stderr.
    report_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # Chosen once, for the engine and the loop. The loop is paced only on direct media,
    # where that was measured: pjmedia's clock thread hands its frames over on a 20 ms
    # clock of its own.
    direct = direct_media.chosen(config.sip_codecs, config.browser_codecs)
    tick = loop_pacing.tick_seconds() if direct else 0.0
    with asyncio.Runner(loop_factory=lambda: loop_pacing.new_event_loop(tick)) as runner:
        runner.run(_main(config, report_fd, direct))


def main() -> None:
    run(sys.argv[1])


if __name__ == "__main__":
    main()
