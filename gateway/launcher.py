"""The worker launcher: one process that has already imported what a line worker needs
and forks a new worker on request.

Why: importing aiortc, av, cryptography, dnspython and pjsua2 costs ~85 MiB per process,
most of it written once at import and never again. Forked from a process that holds those
pages, every worker shares them copy-on-write, so an online agent costs its own calls and
buffers rather than a private copy of the libraries (``bench/call_cost.py`` reports the
proportional set size). Nothing here starts a thread or creates a pjsua2 Endpoint before
forking: a fork only copies the calling thread, and pjsua2 state must not be shared.

Protocol, over the ``SOCK_SEQPACKET`` socket the main process passes as argv[1]: the
launcher says ``ready`` once its imports are done; each request is a worker's config
JSON with three file descriptors attached (the worker's stdin, stdout and stderr); each
answer is ``{"pid": N}``. When the main process goes away the socket closes and the
launcher leaves; its workers notice their own stdin closing and leave too.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import sys
import traceback

from gateway import line_worker

MAX_REQUEST = 1 << 20
STDIO = 3


def _become_worker(control: socket.socket, fds: list[int], config_json: str) -> None:
    """In the forked child: take the given pipes as stdio and run the worker. Never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        control.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd >= STDIO:
                os.close(fd)
        line_worker.run(config_json)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _reap(_signum: int, _frame: object) -> None:
    """Collect finished workers; say how one ended if it did not end well.

    The main process watches each worker through a pidfd, which cannot tell an exit code;
    this is where a crash (a signal, a non-zero exit) gets written down.
    """
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if os.WIFSIGNALED(status):
            print(f"worker {pid} was ended by signal {os.WTERMSIG(status)}", file=sys.stderr)
        elif os.WEXITSTATUS(status) != 0:
            print(f"worker {pid} exited with status {os.WEXITSTATUS(status)}",
                  file=sys.stderr)


def serve(control: socket.socket) -> None:
    """Answer fork requests until the main process closes the socket."""
    signal.signal(signal.SIGCHLD, _reap)
    control.send(b"ready")
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(control, MAX_REQUEST, STDIO)
        except OSError:
            return
        if not message:
            for fd in fds:
                os.close(fd)
            return
        if len(fds) != STDIO:
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"error": "expected three file descriptors"}).encode())
            continue
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _become_worker(control, fds, message.decode())
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"pid": pid}).encode())


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    # What is imported now is shared by every worker; freezing keeps the collector from
    # touching (and so un-sharing) those objects' pages in the children.
    gc.collect()
    gc.freeze()
    serve(control)


if __name__ == "__main__":
    main()
