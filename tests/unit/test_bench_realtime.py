"""The benchmark's stand-ins on the real-time class (bench/realtime.py)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.realtime import PEER_PRIORITY, make_realtime, priority, realtime_allowed

needs_permission = pytest.mark.skipif(not realtime_allowed(),
                                      reason="the real-time class needs root or CAP_SYS_NICE")

# A child with threads of its own: every one of them must change class.
THREADED_CHILD = """
import threading, time, sys
stop = threading.Event()
for _ in range(3):
    threading.Thread(target=stop.wait, daemon=True).start()
print("ready", flush=True)
sys.stdin.readline()
"""


@pytest.mark.parametrize("text", ["100", "-1", "ten", "", "1.5"])
def test_a_priority_out_of_range_is_refused_with_the_range(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="0 \\(the normal class\\) or 1-99"):
        priority(text)


def test_priorities_in_range_are_taken() -> None:
    assert [priority(t) for t in ("0", "1", "99", str(PEER_PRIORITY))] == [0, 1, 99,
                                                                          PEER_PRIORITY]


@needs_permission
def test_the_probe_leaves_this_process_on_the_normal_class() -> None:
    assert realtime_allowed()
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


@needs_permission
def test_every_thread_of_another_process_goes_real_time() -> None:
    with subprocess.Popen([sys.executable, "-c", THREADED_CHILD], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            assert child.stdout.readline().strip() == "ready"
            tasks = [int(t.name) for t in Path(f"/proc/{child.pid}/task").iterdir()]
            assert len(tasks) == 4
            assert all(os.sched_getscheduler(t) == os.SCHED_OTHER for t in tasks)
            make_realtime(PEER_PRIORITY, child.pid)
            assert all(os.sched_getscheduler(t) == os.SCHED_FIFO for t in tasks)
            assert {os.sched_getparam(t).sched_priority for t in tasks} == {PEER_PRIORITY}
        finally:
            child.stdin.close()  # the child's cue to end
            child.wait(timeout=10)
