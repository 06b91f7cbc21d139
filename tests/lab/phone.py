"""A real pjsua2 soft phone for tests, in its own OS process (tests/lab/phone_main.py).

Each phone is a separate process because pjsua2 allows one Endpoint per process and
caps calls and accounts per process; it also keeps a pjsip crash out of pytest.

    with Phone(tone_hz=1000) as a, Phone(tone_hz=1500) as b:
        assert a.register("alice", "pw", kam.hostport) == 200
        ...
        a.call(f"sip:bob@{kam.hostport}")
        a.wait_state("CONFIRMED")
        assert a.wait_hears(1500)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.lab.peer import LabPeer
from tests.lab.ports import free_udp_port_range

REPO_ROOT = Path(__file__).resolve().parents[2]

Event = dict[str, Any]


class PhoneError(RuntimeError):
    """A command failed inside the phone process, or the phone did not answer in time."""


class Phone(LabPeer):
    """Parent-side handle of one phone process; see the module docstring."""

    def __init__(
        self,
        name: str = "phone",
        tone_hz: float = 1000,
        auto_answer: bool = True,
        start_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.tone_hz = tone_hz
        self.auto_answer = auto_answer
        self.sip_port = 0
        self._start_timeout = start_timeout
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._events: list[Event] = []
        self._replies: dict[int, Event] = {}
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._log_path: Path | None = None
        self.last_call: int | None = None

    # --- lifecycle ----------------------------------------------------------------

    def stop(self) -> None:
        self.close()

    def start(self) -> None:
        """Start the process and wait for its "ready" line."""
        self._dir = tempfile.TemporaryDirectory(prefix=f"lab-{self.name}-")
        self._log_path = Path(self._dir.name) / "pjsua.log"
        cmd = [
            sys.executable, "-m", "tests.lab.phone_main",
            "--media-port", str(free_udp_port_range(16)),
            "--tone", str(self.tone_hz),
        ]  # fmt: skip
        if not self.auto_answer:
            cmd.append("--ring-only")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        with open(self._log_path, "w") as log:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                text=True, bufsize=1, env=env, cwd=REPO_ROOT,
            )  # fmt: skip
        self._reader = threading.Thread(target=self._read, name=f"{self.name}-reader", daemon=True)
        self._reader.start()
        try:
            ready = self.wait_event(lambda e: e.get("event") == "ready", self._start_timeout)
        except PhoneError:
            self.close()
            raise
        self.sip_port = int(ready["sip_port"])

    def close(self, timeout: float = 5.0) -> None:
        """Ask the phone to hang up and quit; kill it by PID if it does not."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None and proc.stdin is not None:
                try:
                    proc.stdin.write(json.dumps({"id": 0, "cmd": "quit"}) + "\n")
                    proc.stdin.flush()
                    proc.stdin.close()
                except OSError:
                    pass  # already gone: nothing to ask
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            # Both pipes, even when the phone had already left (its stdin was then never
            # written to): a pipe left to the garbage collector is a ResourceWarning.
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None and not pipe.closed:
                    with contextlib.suppress(OSError):
                        pipe.close()
        if self._reader is not None:
            self._reader.join(timeout=2)
            self._reader = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def log_text(self) -> str:
        """pjsip's log (the phone's stderr), for failure messages."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")

    # --- protocol -----------------------------------------------------------------

    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue  # the phone only prints JSON on this stream; be lenient anyway
            with self._cond:
                if "id" in msg:
                    self._replies[msg["id"]] = msg
                else:
                    self._events.append(msg)
                    if msg.get("event") == "incoming":
                        self.last_call = msg["call"]
                self._cond.notify_all()
        with self._cond:
            self._events.append({"event": "exit"})
            self._cond.notify_all()

    def request(self, cmd: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
        """Send one command and return its result; PhoneError if it failed."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise PhoneError(f"{self.name} is not running")
        rid = next(self._ids)
        proc.stdin.write(json.dumps({"id": rid, "cmd": cmd, **args}) + "\n")
        proc.stdin.flush()
        deadline = time.monotonic() + timeout
        with self._cond:
            while rid not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PhoneError(f"{self.name}: no reply to {cmd} in {timeout}s")
                self._cond.wait(left)
            reply = self._replies.pop(rid)
        if not reply["ok"]:
            raise PhoneError(f"{self.name}: {cmd} failed: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        return result

    def events(self) -> list[Event]:
        """A copy of every event so far."""
        with self._cond:
            return list(self._events)

    def wait_event(self, match: Callable[[Event], bool], timeout: float = 5.0) -> Event:
        """The first event (past or future) for which `match` is true."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for event in self._events[seen:]:
                    if match(event):
                        return event
                seen = len(self._events)
                if self._events and self._events[-1].get("event") == "exit":
                    raise PhoneError(f"{self.name} exited:\n{self.log_text()[-3000:]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PhoneError(
                        f"{self.name}: no matching event in {timeout}s: {self._events}"
                    )
                self._cond.wait(left)

    # --- phone actions --------------------------------------------------------------

    def register(self, user: str, password: str, registrar: str, timeout: float = 5.0) -> int:
        """Register at `registrar` ("host:port"); the final status code (200, 403, ...)."""
        self.request("register", user=user, password=password, registrar=registrar)
        event = self.wait_event(
            lambda e: e.get("event") == "reg" and e.get("code", 0) >= 200, timeout
        )
        return int(event["code"])

    def call(self, uri: str) -> int:
        """Start a call to `uri`; returns the phone's number for it."""
        number = int(self.request("call", uri=uri)["call"])
        self.last_call = number
        return number

    def wait_incoming(self, timeout: float = 5.0) -> Event:
        return self.wait_event(lambda e: e.get("event") == "incoming", timeout)

    def wait_state(self, state: str, timeout: float = 5.0, call: int | None = None) -> Event:
        """Wait for call `call` (default: the latest) to reach `state`, e.g. "CONFIRMED".

        Returns the event, with the last SIP status `code` (486 for busy, ...).
        """
        number = call if call is not None else self.last_call

        def match(e: Event) -> bool:
            return (
                e.get("event") == "call_state"
                and e.get("state") == state
                and (number is None or e.get("call") == number)
            )

        return self.wait_event(match, timeout)

    def answer(self, code: int = 200, call: int | None = None) -> None:
        self.request("answer", code=code, call=call)

    def hangup(self, call: int | None = None) -> None:
        self.request("hangup", call=call)

    def set_tone(self, freq_hz: float) -> None:
        """Change the tone this phone plays into calls (0 = silence)."""
        self.request("tone", freq=freq_hz)

    def hears(self, freq_hz: float, min_ratio: float = 0.5) -> bool:
        """Whether the last second of received audio is a tone at `freq_hz` (holding at
        least `min_ratio` of the energy: lower it to find one voice in a mix)."""
        return bool(self.request("hears", freq=freq_hz, min_ratio=min_ratio)["heard"])

    def wait_hears(self, freq_hz: float, timeout: float = 5.0, min_ratio: float = 0.5) -> bool:
        """Poll `hears` until it is true or `timeout` passes (audio takes a moment)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.hears(freq_hz, min_ratio):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)  # a polling interval, not a wait for readiness

    def tone_gaps(self, freq_hz: float, since: float, until: float) -> dict[str, Any]:
        """How continuously the tone at ``freq_hz`` was heard between ``since`` and
        ``until`` (``time.monotonic()`` values of this machine): ``longest_gap_ms`` (the
        longest stretch with no 20 ms frame holding it), ``frames``, ``heard``."""
        return self.request("tone_gaps", timeout=15, freq=freq_hz, since=since, until=until)

    def dtmf_received(self) -> str:
        """Every RFC 4733 digit this phone has received, in order."""
        return str(self.request("dtmf")["digits"])

    def wait_remote_hold(self, held: bool, timeout: float = 5.0) -> Event:
        """Wait until the far end has put this phone on hold (``held``) or taken it off."""
        return self.wait_event(
            lambda e: e.get("event") == "media_status" and e.get("remote_hold") is held,
            timeout)

    def live_calls(self) -> list[int]:
        return list(self.request("status")["calls"])
