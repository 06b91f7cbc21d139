"""Putting a benchmark's stand-ins for other machines on the real-time scheduling class.

Why: the capacity benchmark runs the gateway and its peers (the stand-in browsers,
``bench/load_client.py``, and SIPp as the far end) on the same two cores, but in a
deployment each of them has a machine of its own. On the normal class a peer kept
waiting by the workers sends late and reads late, and its delay is counted as the
gateway's. On the real-time class (``SCHED_FIFO``) a peer runs as soon as it is due;
its CPU still comes out of the same two cores, first, so the gateway gets only what is
left, and a frame that arrives late was held up inside the gateway (or the kernel),
not in a peer waiting for a core. A/B in session 11 (PCMU, 15 s windows at 72, 76 and
80 calls, two runs each): bad frames 0.01-2.56 / 0.05-0.07 / 0.12-0.73 % with real-time
clients, 0.07-0.81 / 0.72-3.40 / 2.22-11.48 % without.

SIPp is left on the normal class by default: on the real-time class its echo thread is
woken for every packet instead of finding several waiting, and it used 15-17 % of a
core instead of 7 %, which the gateway lost (76 and 80 calls failed, 1.8 and 2.5 % bad,
against 0.3 and 0.0 % with SIPp on the normal class, same run order).

The kernel caps the class at 95 % of each core (``/proc/sys/kernel/sched_rt_runtime_us``),
so a peer gone wrong cannot take the machine. Needs root (or ``CAP_SYS_NICE``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

# Low among real-time priorities: above every normal process, below the kernel's own
# real-time threads (which run at 50 and up).
PEER_PRIORITY = 10
NEEDS_PERMISSION = ("the real-time class needs root (or CAP_SYS_NICE): "
                    "--client-realtime 0 --far-end-realtime 0 runs without it")


def priority(text: str) -> int:
    """A command line's real-time priority: 0 (the normal class) or 1-99."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 99:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a real-time priority: 0 (the normal class) or 1-99")
    return value


def make_realtime(priority: int, pid: int = 0) -> None:
    """Put every thread of process ``pid`` (0: this one) on ``SCHED_FIFO`` at
    ``priority`` (1-99). Threads it starts later inherit the class from their creator."""
    param = os.sched_param(priority)
    tasks = Path(f"/proc/{pid or os.getpid()}/task")
    for task in tasks.iterdir():
        try:
            os.sched_setscheduler(int(task.name), os.SCHED_FIFO, param)
        except ProcessLookupError:
            continue  # a thread that ended meanwhile


def realtime_allowed() -> bool:
    """Whether this process may use the real-time class (tried on itself, then undone)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except PermissionError:
        return False
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return True
