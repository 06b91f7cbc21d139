"""Whether a line worker that has not answered its health pings is hung or only slow.

Theory of operation. The supervisor pings every worker each second. A worker can be
silent for two reasons: it is *hung* (deadlocked, stopped, spinning inside one
callback) or the *host is busy* and its event loop, or the supervisor's own, has not
had a core for a while. Restarting a worker ends every call it carries; leaving a hung
one leaves its agents deaf. A session-3 capacity run at load > 15 on two cores had
workers killed for silence while they were carrying calls, so silence alone is not
enough evidence once the host is busy.

The evidence, read by thin adapters in ``gateway/supervisor.py``:

- ``cpu_used``: CPU seconds the worker used while silent. A worker blocked in a
  deadlock or stopped by a signal uses (next to) none; a starved one runs whenever it
  gets a core. ``None`` when it cannot be read (no /proc).
- ``stopped``: the kernel says the process is stopped (SIGSTOP, a debugger) or a zombie.
- ``busy``: the host is busy: the 1-minute load average per CPU is at least
  ``BUSY_LOAD``, or the supervisor's own timer ran ``LATE_TICK`` s late (then the pongs
  it has not read yet may be sitting in the pipe).

Decisions, in order (first match wins):

    ====================================  =========
    silent < timeout                      ALIVE
    stopped                               HUNG
    silent >= timeout * BUSY_GRACE        HUNG      a busy host gets a longer wait, not forever
    not busy                              HUNG      as before: silent for ``timeout``
    cpu_used known and < IDLE_CPU         HUNG      busy host, but the worker is not running
    otherwise                             SLOW      busy host, worker running: wait
    ====================================  =========

So on a quiet host nothing changes (silent for ``ping_timeout`` -> restarted). On a busy
host a worker that is running gets up to ``BUSY_GRACE`` x ``ping_timeout`` (20 s with
the default 5 s), and one that is blocked or stopped is still restarted at
``ping_timeout``. A worker spinning in a loop on a busy host is the case that waits the
longest (until the grace runs out). Pure: ``tests/unit/test_worker_health.py``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

BUSY_LOAD = 1.5  # runnable processes per CPU (1-minute load average)
LATE_TICK = 1.0  # seconds the supervisor's own 1 s timer may be late
BUSY_GRACE = 4.0  # a busy host's worker may be silent this many ping_timeouts
IDLE_CPU = 0.02  # CPU seconds over the silence below which a worker is not running


class Verdict(enum.Enum):
    ALIVE = "alive"
    SLOW = "slow"  # silent, but the host is busy and the worker is running: wait
    HUNG = "hung"  # restart it


@dataclass(frozen=True)
class Reading:
    silent_for: float  # seconds since its last answer was read
    cpu_used: float | None  # CPU seconds it used during the silence (None: unknown)
    stopped: bool  # stopped by a signal, or a zombie
    load_per_cpu: float  # 1-minute load average / CPUs
    supervisor_late: float  # how late the supervisor's own tick ran, s

    @property
    def busy(self) -> bool:
        return self.load_per_cpu >= BUSY_LOAD or self.supervisor_late >= LATE_TICK


def judge(reading: Reading, timeout: float) -> Verdict:
    """The verdict on a worker (see the table in the module docstring)."""
    if reading.silent_for < timeout:
        return Verdict.ALIVE
    if reading.stopped or reading.silent_for >= timeout * BUSY_GRACE or not reading.busy:
        return Verdict.HUNG
    if reading.cpu_used is not None and reading.cpu_used < IDLE_CPU:
        return Verdict.HUNG
    return Verdict.SLOW


def parse_proc_stat(text: str, ticks_per_second: int) -> tuple[float, bool]:
    """(CPU seconds used, stopped or zombie) from the text of ``/proc/<pid>/stat``."""
    # The command name (field 2) is in parentheses and may hold spaces or ")".
    fields = text[text.rindex(")") + 2:].split()
    state = fields[0]
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / ticks_per_second, state in ("T", "t", "Z", "X")
