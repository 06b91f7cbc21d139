"""SIPp peers for the lab: lines that answer (UAS) and customers that call (UAC).

Each helper runs one `sipp` child process for exactly one call (-m 1), bound to its own
free 127.0.0.1 port, with a scenario from tests/lab/scenarios/:

    uas_echo      answers 200 and echoes RTP until the caller's BYE
    uas_hangup    answers 200, echoes RTP, sends BYE itself after `hold_ms`
    uas_busy      answers 486
    uas_noanswer  rings (180) until CANCEL
    uac_call      calls `target` through the proxy as `from_user`, plays a tone,
                  keeps the call `hold_ms`, sends BYE
    uac_cancel    calls, waits for 180, rings `hold_ms`, cancels

A UAS is ready when its SIP socket is bound (it must not be probed: an OPTIONS would
count as a failed call). `wait()` returns SIPp's exit code and the call counters from
its final statistics.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tests.lab.peer import LabPeer
from tests.lab.ports import HOST, free_udp_port, free_udp_port_range
from tests.lab.tone import tone_samples

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
TRUNK_CALLER = "34911234567"


@dataclass(frozen=True)
class SippResult:
    """How a SIPp run ended: exit code (0 = all calls passed) and its call counters."""

    returncode: int
    successful: int
    failed: int
    log: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.successful >= 1 and self.failed == 0


def ulaw_encode(samples: npt.NDArray[np.int16]) -> bytes:
    """G.711 mu-law bytes from 16-bit samples (SIPp's rtp_stream plays raw PCMU)."""
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), 32635) + 0x84  # clip, then add the mu-law bias
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def ulaw_decode_table() -> npt.NDArray[np.float64]:
    """The value in [-1, 1) of each of the 256 mu-law bytes (index the table by byte)."""
    u = ~np.arange(256) & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = ((((u & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.float64) / 32768


def write_ulaw_tone(path: Path, freq_hz: float, seconds: float = 1.0) -> Path:
    """A raw PCMU file at 8 kHz, a whole number of periods so SIPp's loop is seamless."""
    path.write_bytes(ulaw_encode(tone_samples(freq_hz, seconds, 8000, 0.3)))
    return path


def udp_port_bound(port: int, host: str = HOST) -> bool:
    """Whether some socket is bound to host:port, read from /proc/net/udp.

    Polling the kernel's table tells us SIPp has opened its socket without sending it
    anything it would count as a call.
    """
    want = f"{''.join(f'{int(b):02X}' for b in reversed(host.split('.')))}:{port:04X}"
    with open("/proc/net/udp") as table:
        return any(line.split()[1] == want for line in list(table)[1:])


class Sipp(LabPeer):
    """One sipp process running one scenario for one call; use the factory functions."""

    def __init__(
        self,
        scenario: str,
        remote: str | None = None,
        service: str | None = None,
        from_user: str = TRUNK_CALLER,
        hold_ms: int = 2000,
        rtp_echo: bool = False,
        tone_hz: float | None = None,
        timeout_s: int = 30,
        host: str = HOST,
    ) -> None:
        self.scenario = scenario
        self.remote = remote
        self.service = service
        self.from_user = from_user
        self.hold_ms = hold_ms
        self.rtp_echo = rtp_echo
        self.tone_hz = tone_hz
        self.timeout_s = timeout_s
        # Another loopback address (127.0.0.2) makes a caller that is not the PBX.
        self.host = host
        self.port = free_udp_port()
        self.media_port = free_udp_port_range(4)
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._result: SippResult | None = None

    @property
    def hostport(self) -> str:
        """Where this peer listens, as a Kamailio route target ("127.0.0.1:PORT")."""
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        self.terminate()

    def command(self, work: Path) -> list[str]:
        cmd = [SIPP]
        if self.remote:
            cmd.append(self.remote)
        cmd += [
            "-sf", str(SCENARIOS / f"{self.scenario}.xml"),
            "-i", self.host, "-p", str(self.port),
            "-mi", self.host, "-mp", str(self.media_port),
            "-m", "1", "-l", "1",
            "-d", str(self.hold_ms),
            "-key", "from_user", self.from_user,
            "-nostdin",
            "-timeout", f"{self.timeout_s}s", "-timeout_error",
            "-trace_stat", "-stf", str(work / "stat.csv"),
            "-trace_err", "-error_file", str(work / "errors.log"),
            "-trace_msg", "-message_file", str(work / "messages.log"),
        ]  # fmt: skip
        if self.service:
            cmd += ["-s", self.service]
        if self.rtp_echo:
            cmd.append("-rtp_echo")
        return cmd

    def start(self, ready_timeout: float = 5.0) -> None:
        """Start sipp; return once its SIP socket is bound."""
        self._dir = tempfile.TemporaryDirectory(prefix=f"lab-sipp-{self.scenario}-")
        work = Path(self._dir.name)
        # uac_call streams tone.ulaw from its working directory; silence if no tone asked.
        write_ulaw_tone(work / "tone.ulaw", self.tone_hz or 0.0)
        with open(work / "stdout.log", "wb") as out:
            self._proc = subprocess.Popen(
                self.command(work), cwd=work, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + ready_timeout
        while not udp_port_bound(self.port, self.host):
            if self._proc.poll() is not None:
                break  # a UAC may already be done; wait() reports how it went
            if time.monotonic() > deadline:
                log = self.log_text()
                self.terminate()
                raise TimeoutError(f"sipp did not bind {self.hostport}:\n{log}")
            time.sleep(0.01)  # polling interval for the kernel's socket table

    def log_text(self) -> str:
        """SIPp's errors and the SIP messages it sent and received."""
        if self._dir is None:
            return self._result.log if self._result else ""
        work = Path(self._dir.name)
        parts = []
        for name in ("errors.log", "messages.log"):
            path = work / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    def _counters(self) -> tuple[int, int]:
        assert self._dir is not None
        path = Path(self._dir.name) / "stat.csv"
        if not path.exists():
            return 0, 0
        rows = list(csv.DictReader(path.read_text().splitlines(), delimiter=";"))
        if not rows:
            return 0, 0
        last = rows[-1]
        return int(last.get("SuccessfulCall(C)", 0)), int(last.get("FailedCall(C)", 0))

    def wait(self, timeout: float = 30.0) -> SippResult:
        """Wait for sipp to finish its one call; exit code and call counters."""
        if self._result is not None:
            return self._result
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"sipp {self.scenario} still running:\n{self.log_text()}") from exc
        ok, failed = self._counters()
        self._result = SippResult(code, ok, failed, self.log_text())
        return self._result

    def terminate(self) -> None:
        """Stop sipp by PID if it is still running and remove its files."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
            if self._result is None:
                ok, failed = self._counters()
                self._result = SippResult(proc.returncode, ok, failed, self.log_text())
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


def uas_echo() -> Sipp:
    """A line that answers and echoes audio until the caller hangs up."""
    return Sipp("uas_echo", rtp_echo=True)


def uas_hangup(after_ms: int = 2000) -> Sipp:
    """A line that answers, echoes audio and hangs up itself after `after_ms`."""
    return Sipp("uas_hangup", rtp_echo=True, hold_ms=after_ms)


def uas_busy() -> Sipp:
    """A line that answers 486 Busy Here."""
    return Sipp("uas_busy")


def uas_noanswer() -> Sipp:
    """A line that rings until CANCEL."""
    return Sipp("uas_noanswer")


def uac_call(
    proxy: str,
    target: str,
    from_user: str = TRUNK_CALLER,
    hold_ms: int = 3000,
    tone_hz: float | None = 1000,
    source: str = HOST,
) -> Sipp:
    """A customer calling `target` via `proxy` ("host:port"), playing `tone_hz` (PCMU),
    sending from the loopback address `source`."""
    return Sipp("uac_call", remote=proxy, service=target, from_user=from_user,
                hold_ms=hold_ms, tone_hz=tone_hz, host=source)  # fmt: skip


def uac_cancel(proxy: str, target: str, from_user: str = TRUNK_CALLER, ring_ms: int = 1000) -> Sipp:
    """A customer who hangs up while `target` is still ringing."""
    return Sipp("uac_cancel", remote=proxy, service=target, from_user=from_user,
                hold_ms=ring_ms)  # fmt: skip
