"""Starting line worker processes (main-process side) and the handle kept for each.

Two ways, one handle (``WorkerHandle``): on Linux, workers are forked by the launcher
process (``gateway/launcher.py``) so they share its imported libraries; elsewhere, or if
the launcher cannot be started, each worker is a fresh ``python -m gateway.line_worker``.
Either way the supervisor gets the worker's PID, its stdio as asyncio streams, a way to
wait for its exit and a way to kill it.

A forked worker is the launcher's child, not ours, so its exit is watched through a
pidfd (``os.pidfd_open``), which also makes the kill safe against PID reuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from typing import Protocol

log = logging.getLogger(__name__)

STREAM_LIMIT = 1 << 20
LAUNCHER_START_TIMEOUT = 30.0


class SpawnError(Exception):
    """A worker process could not be started."""


class WorkerHandle(Protocol):
    """A running worker process as the supervisor uses it."""

    @property
    def pid(self) -> int: ...

    @property
    def stdin(self) -> asyncio.StreamWriter: ...

    @property
    def stdout(self) -> asyncio.StreamReader: ...

    @property
    def stderr(self) -> asyncio.StreamReader: ...

    @property
    def exited(self) -> bool: ...

    async def wait(self) -> None: ...

    def kill(self) -> None: ...

    @property
    def returncode(self) -> int | None:
        """The exit status once known (negative: the signal); None for a forked worker,
        whose status only its parent, the launcher, sees (and logs)."""


class _ExecutedWorker:
    """A worker started with exec: a plain asyncio child process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        assert process.stdin and process.stdout and process.stderr
        self.stdin: asyncio.StreamWriter = process.stdin
        self.stdout: asyncio.StreamReader = process.stdout
        self.stderr: asyncio.StreamReader = process.stderr

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def exited(self) -> bool:
        return self._process.returncode is not None

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> None:
        await self._process.wait()

    def kill(self) -> None:
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()


class _ForkedWorker:
    """A worker forked by the launcher: our pipes, its PID, watched through a pidfd."""

    def __init__(self, pid: int, stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader,
                 stderr: asyncio.StreamReader) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._gone = asyncio.get_running_loop().create_future()
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:  # it already left
            self._gone.set_result(None)
            return
        asyncio.get_running_loop().add_reader(self._pidfd, self._on_exit)

    def _on_exit(self) -> None:
        self._close_pidfd()
        if not self._gone.done():
            self._gone.set_result(None)

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    @property
    def exited(self) -> bool:
        return self._gone.done()

    @property
    def returncode(self) -> int | None:
        return None

    async def wait(self) -> None:
        await asyncio.shield(self._gone)
        self.stdin.close()

    def kill(self) -> None:
        if self._pidfd is not None and not self._gone.done():
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)


async def _pipe_reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=STREAM_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                 os.fdopen(fd, "rb", buffering=0))
    return reader


async def _pipe_writer(fd: int) -> asyncio.StreamWriter:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(fd, "wb", buffering=0))
    return asyncio.StreamWriter(transport, protocol, None, loop)


class _Launcher:
    """The launcher process and our end of its control socket."""

    def __init__(self, process: asyncio.subprocess.Process, control: socket.socket) -> None:
        self.process = process
        self.control = control
        self._stderr_task = asyncio.get_running_loop().create_task(self._log_stderr())

    @classmethod
    async def start(cls) -> _Launcher:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway.launcher", str(theirs.fileno()),
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        finally:
            theirs.close()
        launcher = cls(process, ours)
        try:
            hello = await asyncio.wait_for(launcher._receive(), LAUNCHER_START_TIMEOUT)
        except (TimeoutError, OSError) as exc:
            await launcher.close()
            raise SpawnError("the worker launcher did not start") from exc
        if hello != b"ready":
            await launcher.close()
            raise SpawnError("the worker launcher did not start")
        log.info("worker launcher started: pid %d", process.pid)
        return launcher

    async def _receive(self) -> bytes:
        return await asyncio.to_thread(self.control.recv, 4096)

    async def _log_stderr(self) -> None:
        assert self.process.stderr is not None
        llog = logging.getLogger("headset.launcher")
        while line := await self.process.stderr.readline():
            llog.warning("%s", line.decode(errors="replace").rstrip())

    async def fork(self, config_json: str) -> tuple[int, tuple[int, int, int]]:
        """Ask for one worker; its PID and our ends of its stdin, stdout and stderr."""
        fds = (os.pipe(), os.pipe(), os.pipe())
        child_ends = [fds[0][0], fds[1][1], fds[2][1]]
        try:
            await asyncio.to_thread(socket.send_fds, self.control, [config_json.encode()],
                                    child_ends)
            answer = await self._receive()
        except OSError as exc:
            for read_end, write_end in fds:
                os.close(read_end)
                os.close(write_end)
            raise SpawnError(f"the worker launcher is gone: {exc}") from exc
        for fd in child_ends:
            os.close(fd)
        try:
            reply = json.loads(answer) if answer else {}
            pid = int(reply["pid"])
        except (ValueError, KeyError, TypeError) as exc:
            for fd in (fds[0][1], fds[1][0], fds[2][0]):
                os.close(fd)
            raise SpawnError(f"the worker launcher answered {answer!r}") from exc
        return pid, (fds[0][1], fds[1][0], fds[2][0])

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def close(self) -> None:
        self.control.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        await asyncio.gather(self._stderr_task, return_exceptions=True)


class WorkerSpawner:
    """Starts workers, through the launcher when this system can fork and watch them."""

    def __init__(self, use_launcher: bool | None = None) -> None:
        if use_launcher is None:
            use_launcher = hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")
        self._use_launcher = use_launcher
        self._launcher: _Launcher | None = None
        self._lock = asyncio.Lock()

    @property
    def launcher_pid(self) -> int | None:
        """The launcher's PID while it runs (for benchmarks: it holds the shared pages)."""
        return self._launcher.process.pid if self._launcher and self._launcher.alive else None

    async def spawn(self, config_json: str) -> WorkerHandle:
        """A new worker running ``config_json``."""
        if self._use_launcher:
            async with self._lock:
                try:
                    return await self._fork(config_json)
                except SpawnError as exc:
                    # Once more with a fresh launcher, then fall back to exec: a worker
                    # that costs more memory beats an agent who cannot go online.
                    log.error("%s; starting a new launcher", exc)
                    await self._drop_launcher()
                    try:
                        return await self._fork(config_json)
                    except SpawnError as again:
                        log.error("%s; starting the worker with exec", again)
                        await self._drop_launcher()
        return await self._exec(config_json)

    async def _fork(self, config_json: str) -> WorkerHandle:
        if self._launcher is None or not self._launcher.alive:
            await self._drop_launcher()
            self._launcher = await _Launcher.start()
        pid, (stdin_fd, stdout_fd, stderr_fd) = await self._launcher.fork(config_json)
        return _ForkedWorker(pid, await _pipe_writer(stdin_fd), await _pipe_reader(stdout_fd),
                             await _pipe_reader(stderr_fd))

    @staticmethod
    async def _exec(config_json: str) -> WorkerHandle:
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway.line_worker", config_json,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, limit=STREAM_LIMIT)
        except OSError as exc:
            raise SpawnError(f"cannot start a worker: {exc}") from exc
        return _ExecutedWorker(process)

    async def _drop_launcher(self) -> None:
        if self._launcher is not None:
            launcher, self._launcher = self._launcher, None
            await launcher.close()

    async def close(self) -> None:
        """Stop the launcher (the workers are stopped by the supervisor first)."""
        async with self._lock:
            await self._drop_launcher()
