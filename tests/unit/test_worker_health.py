"""gateway.worker_health: a silent worker is restarted unless the host is busy and it runs."""

from __future__ import annotations

import os

import pytest

from gateway.worker_health import (
    BUSY_GRACE,
    BUSY_LOAD,
    IDLE_CPU,
    LATE_TICK,
    Reading,
    Verdict,
    judge,
    parse_proc_stat,
)

T = 5.0  # ping_timeout


def reading(silent: float, cpu: float | None = 1.0, stopped: bool = False,
            load: float = 0.2, late: float = 0.0) -> Reading:
    return Reading(silent_for=silent, cpu_used=cpu, stopped=stopped, load_per_cpu=load,
                   supervisor_late=late)


@pytest.mark.parametrize(("r", "verdict"), [
    # Answering in time: alive whatever else is true.
    (reading(T - 0.1, cpu=0.0, stopped=True, load=9), Verdict.ALIVE),
    # Quiet host: silent for ping_timeout is hung, as it always was.
    (reading(T), Verdict.HUNG),
    (reading(T, cpu=3.0), Verdict.HUNG),
    # Busy host (by load or by the supervisor's own lateness), worker running: wait...
    (reading(T, load=BUSY_LOAD), Verdict.SLOW),
    (reading(T, late=LATE_TICK), Verdict.SLOW),
    (reading(T, cpu=None, load=BUSY_LOAD * 2), Verdict.SLOW),
    (reading(T * BUSY_GRACE - 0.1, load=BUSY_LOAD * 2), Verdict.SLOW),
    # ...but not forever,
    (reading(T * BUSY_GRACE, load=BUSY_LOAD * 2), Verdict.HUNG),
    # and not when it is not running at all: blocked, or stopped by a signal.
    (reading(T, cpu=IDLE_CPU / 2, load=BUSY_LOAD * 2), Verdict.HUNG),
    (reading(T, stopped=True, load=BUSY_LOAD * 2, late=3), Verdict.HUNG),
])
def test_verdicts(r: Reading, verdict: Verdict) -> None:
    assert judge(r, T) is verdict


def test_proc_stat_with_an_awkward_command_name() -> None:
    text = ("1234 (python -m x) (y)) T 1 1234 1234 0 -1 4194560 500 0 0 0 "
            "250 50 0 0 20 0 5 0 100 0 0")
    assert parse_proc_stat(text, 100) == (3.0, True)


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="no /proc")
def test_this_process_reads_as_running_with_some_cpu() -> None:
    with open("/proc/self/stat") as stat:
        cpu, stopped = parse_proc_stat(stat.read(), os.sysconf("SC_CLK_TCK"))
    assert cpu > 0 and not stopped
