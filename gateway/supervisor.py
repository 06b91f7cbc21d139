"""Starts, watches and restarts the line worker processes (main-process side).

Each worker is a process (forked by the launcher, see ``gateway/worker_spawn.py``) with
a fixed slot number; the slot fixes its SIP port and RTP range, so a restarted worker comes back on
the same addresses. The supervisor pings every worker; one that exits, or is judged hung
after ``workers.ping_timeout`` without an answer (``gateway/worker_health.py``: a busy
host gives a running worker longer), is killed (by its PID, which we started) and
started again, and the owner is told which agents were on it so it can register them
again and tell their browsers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway import ipc, worker_health
from gateway.placement import choose_worker, next_worker_id
from gateway.settings import Settings
from gateway.worker_spawn import SpawnError, WorkerHandle, WorkerSpawner
from sip_bridge import source_filter

log = logging.getLogger(__name__)

PING_INTERVAL = 1.0
RTP_PORTS_PER_WORKER = 200  # 4 calls need 8 ports (RTP + RTCP); room for retries


def trusted_sources(settings: Settings) -> list[str]:
    """The IP addresses allowed to send INVITEs to the workers: the registrar's (its name
    resolved once, when a worker starts) and ``sip.trusted_addresses``."""
    hosts = list(settings.sip.trusted_addresses)
    if settings.sip.registrar:
        hosts.append(settings.sip.registrar.rsplit(":", 1)[0].strip("[]"))
    addresses: set[str] = set()
    for host in hosts:
        try:
            for info in socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM):
                addresses.add(str(info[4][0]))
        except OSError:
            log.error("cannot resolve %r: INVITEs from it will be refused", host)
    return sorted(addresses)


class WorkerUnavailable(Exception):
    """No worker could be started or reached for an agent."""


@dataclass
class WorkerProcess:
    """One running line worker as the main process sees it."""

    worker_id: int
    process: WorkerHandle
    agents: set[int] = field(default_factory=set)
    ready: asyncio.Future[ipc.Ready] | None = None
    last_pong: float = 0.0
    reader: asyncio.Task[None] | None = None
    stderr_reader: asyncio.Task[None] | None = None
    stopping: bool = False
    # From the last health answer: pjsua2 calls, accounts and WebRTC lines it holds.
    sip_calls: int = 0
    accounts: int = 0
    lines: int = 0
    ports: int = 0
    # CPU seconds it had used when it was first seen silent (see worker_health.py).
    cpu_when_silent: float | None = None
    slow_logged: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, command: ipc.Command) -> None:
        stdin = self.process.stdin
        if stdin.is_closing():
            raise WorkerUnavailable(f"worker {self.worker_id} is not running")
        stdin.write(ipc.encode(command))


ReportHandler = Callable[[WorkerProcess, ipc.Report], None]
LossHandler = Callable[[WorkerProcess, set[int]], None]


class Supervisor:
    """Places agents on workers and keeps the workers alive."""

    def __init__(self, settings: Settings, on_report: ReportHandler,
                 on_lost: LossHandler, on_restarted: LossHandler) -> None:
        self._settings = settings
        self._on_report = on_report
        self._on_lost = on_lost
        self._on_restarted = on_restarted
        self._workers: dict[int, WorkerProcess] = {}
        self._placement: dict[int, int] = {}  # agent id -> worker id
        self._lock = asyncio.Lock()
        self._health: asyncio.Task[None] | None = None
        self._closing = False
        self._ping_seq = 0
        self._restarts: set[asyncio.Task[None]] = set()
        self._spawner = WorkerSpawner()

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        # Once, at start: whether strangers' SIP can reach the workers on this platform.
        filtered, line = source_filter.availability()
        log.log(logging.INFO if filtered else logging.WARNING, "%s", line)
        self._health = asyncio.get_running_loop().create_task(self._watch())

    async def close(self) -> None:
        self._closing = True
        if self._health is not None:
            self._health.cancel()
            await asyncio.gather(self._health, return_exceptions=True)
        for task in list(self._restarts):
            task.cancel()
        await asyncio.gather(*self._restarts, return_exceptions=True)
        await asyncio.gather(*(self._stop(w) for w in list(self._workers.values())))
        self._workers.clear()
        self._placement.clear()
        await self._spawner.close()

    @property
    def workers(self) -> dict[int, WorkerProcess]:
        return self._workers

    @property
    def launcher_pid(self) -> int | None:
        """The worker launcher's PID, if workers are forked from one."""
        return self._spawner.launcher_pid

    # -- placement ----------------------------------------------------------------------

    async def place(self, agent_id: int) -> WorkerProcess:
        """The worker that holds ``agent_id``, starting one if every worker is full."""
        async with self._lock:
            if agent_id in self._placement:
                return self._workers[self._placement[agent_id]]
            loads = {wid: len(w.agents) for wid, w in self._workers.items() if not w.stopping}
            wid = choose_worker(loads, self._settings.workers.agents_per_worker)
            if wid is None:
                wid = next_worker_id(set(self._workers), self._slot_limit())
                if wid is None:
                    raise WorkerUnavailable("all worker slots are in use")
                self._workers[wid] = await self._spawn(wid)
            worker = self._workers[wid]
            worker.agents.add(agent_id)
            self._placement[agent_id] = wid
            return worker

    def release(self, agent_id: int) -> None:
        wid = self._placement.pop(agent_id, None)
        if wid is not None and wid in self._workers:
            self._workers[wid].agents.discard(agent_id)

    def worker_of(self, agent_id: int) -> WorkerProcess | None:
        wid = self._placement.get(agent_id)
        return self._workers.get(wid) if wid is not None else None

    def _slot_limit(self) -> int:
        low, high = self._settings.workers.sip_ports
        rtp_low, rtp_high = self._settings.workers.rtp_ports
        return min(high - low + 1, (rtp_high - rtp_low + 1) // RTP_PORTS_PER_WORKER)

    # -- processes ----------------------------------------------------------------------

    def _config(self, wid: int) -> ipc.WorkerConfig:
        s = self._settings
        return ipc.WorkerConfig(
            worker_id=wid,
            bind=s.workers.bind,
            sip_port=s.workers.sip_ports[0] + wid,
            rtp_port=s.workers.rtp_ports[0] + wid * RTP_PORTS_PER_WORKER,
            rtp_range=RTP_PORTS_PER_WORKER,
            sip_codecs=list(s.codecs.sip),
            sip_transport=s.sip.transport,
            browser_codecs=list(s.codecs.browser),
            ice_host_addresses=list(s.ice.host_addresses),
            stun=list(s.ice.stun),
            turn=list(s.ice.turn),
            turn_username=s.ice.turn_username,
            turn_password=s.ice.turn_password,
            register_timeout=s.sip.register_timeout,
            trusted_sources=trusted_sources(s),
        )

    async def _spawn(self, wid: int) -> WorkerProcess:
        loop = asyncio.get_running_loop()
        try:
            process = await self._spawner.spawn(ipc.encode_config(self._config(wid)))
        except SpawnError as exc:
            raise WorkerUnavailable(f"worker {wid} did not start: {exc}") from exc
        worker = WorkerProcess(worker_id=wid, process=process, ready=loop.create_future(),
                               last_pong=loop.time())
        worker.reader = loop.create_task(self._read(worker))
        worker.stderr_reader = loop.create_task(self._read_stderr(worker))
        try:
            assert worker.ready is not None
            ready = await asyncio.wait_for(asyncio.shield(worker.ready), 20)
        except (TimeoutError, EOFError) as exc:
            await self._stop(worker)
            raise WorkerUnavailable(f"worker {wid} did not start") from exc
        log.info("worker %d started: pid %d, SIP port %d", wid, ready.pid, ready.sip_port)
        return worker

    async def _read(self, worker: WorkerProcess) -> None:
        stdout = worker.process.stdout
        while True:
            line = await stdout.readline()
            if not line:
                break
            try:
                report = ipc.decode_report(line)
            except Exception:
                log.error("worker %d sent an undecodable report", worker.worker_id)
                continue
            if isinstance(report, ipc.Ready):
                if worker.ready is not None and not worker.ready.done():
                    worker.ready.set_result(report)
                continue
            if isinstance(report, ipc.Pong):
                worker.last_pong = asyncio.get_running_loop().time()
                worker.cpu_when_silent = None
                worker.slow_logged = False
                worker.sip_calls, worker.accounts, worker.lines, worker.ports = (
                    report.calls, report.accounts, report.lines, report.ports)
                continue
            try:
                self._on_report(worker, report)
            except Exception:
                log.exception("handling %s from worker %d", type(report).__name__,
                              worker.worker_id)
        if worker.ready is not None and not worker.ready.done():
            worker.ready.set_exception(EOFError())
        await worker.process.wait()
        if worker.process.returncode:
            log.warning("worker %d (pid %d) ended with status %d", worker.worker_id,
                        worker.pid, worker.process.returncode)
        if not worker.stopping and not self._closing:
            self._restart_later(worker, "exited")

    async def _read_stderr(self, worker: WorkerProcess) -> None:
        stderr = worker.process.stderr
        wlog = logging.getLogger(f"headset.worker.{worker.worker_id}")
        while line := await stderr.readline():
            wlog.debug("%s", line.decode(errors="replace").rstrip())

    async def _stop(self, worker: WorkerProcess) -> None:
        worker.stopping = True
        with contextlib.suppress(WorkerUnavailable, ConnectionError):
            worker.send(ipc.Shutdown())
        try:
            await asyncio.wait_for(worker.process.wait(), 5)
        except TimeoutError:
            worker.process.kill()
            await worker.process.wait()
        for task in (worker.reader, worker.stderr_reader):
            if task is not None and task is not asyncio.current_task():
                await asyncio.gather(task, return_exceptions=True)

    def _restart_later(self, worker: WorkerProcess, why: str) -> None:
        task = asyncio.get_running_loop().create_task(self._replace(worker, why))
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _replace(self, worker: WorkerProcess, why: str) -> None:
        """Restart a dead or stuck worker in the same slot; its agents come back too."""
        if self._workers.get(worker.worker_id) is not worker or self._closing:
            return
        worker.stopping = True
        worker.process.kill()
        agents = set(worker.agents)
        log.warning("worker %d (pid %d) %s; restarting with %d agents", worker.worker_id,
                    worker.pid, why, len(agents))
        self._on_lost(worker, agents)
        async with self._lock:
            try:
                replacement = await self._spawn(worker.worker_id)
            except WorkerUnavailable:
                log.error("worker %d could not be restarted", worker.worker_id)
                del self._workers[worker.worker_id]
                for agent_id in agents:
                    self._placement.pop(agent_id, None)
                self._on_restarted(worker, set())
                return
            replacement.agents = {a for a in agents if self._placement.get(a) == worker.worker_id}
            self._workers[worker.worker_id] = replacement
        self._on_restarted(replacement, set(replacement.agents))

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        timeout = self._settings.workers.ping_timeout
        while True:
            due = loop.time() + PING_INTERVAL
            await asyncio.sleep(PING_INTERVAL)
            late = loop.time() - due
            self._ping_seq += 1
            for worker in list(self._workers.values()):
                if worker.stopping:
                    continue
                silent = loop.time() - worker.last_pong
                if silent > 1.5 * PING_INTERVAL:
                    verdict = self._judge(worker, silent, late, timeout)
                    if verdict is worker_health.Verdict.HUNG:
                        self._restart_later(worker, f"stopped answering for {silent:.1f} s")
                        continue
                    if verdict is worker_health.Verdict.SLOW and not worker.slow_logged:
                        worker.slow_logged = True
                        log.warning("worker %d silent for %.1f s on a busy host but running:"
                                    " waiting", worker.worker_id, silent)
                with contextlib.suppress(WorkerUnavailable, ConnectionError):
                    worker.send(ipc.Ping(seq=self._ping_seq))

    def _judge(self, worker: WorkerProcess, silent: float, late: float,
               timeout: float) -> worker_health.Verdict:
        """Read the evidence on a silent worker (adapter for worker_health.judge)."""
        cpu, stopped = _cpu_and_state(worker.pid)
        if worker.cpu_when_silent is None:
            worker.cpu_when_silent = cpu
        used = (cpu - worker.cpu_when_silent
                if cpu is not None and worker.cpu_when_silent is not None else None)
        try:
            load = os.getloadavg()[0] / (os.cpu_count() or 1)
        except OSError:
            load = 0.0
        reading = worker_health.Reading(silent_for=silent, cpu_used=used, stopped=stopped,
                                        load_per_cpu=load, supervisor_late=max(late, 0.0))
        return worker_health.judge(reading, timeout)


def _cpu_and_state(pid: int) -> tuple[float | None, bool]:
    """A process's CPU seconds and whether it is stopped; (None, False) without /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
        return worker_health.parse_proc_stat(text, os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None, False
