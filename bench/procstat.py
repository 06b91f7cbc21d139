"""CPU time and memory (RSS, PSS) of processes, read from /proc (Linux only)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
from dataclasses import dataclass, field

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU time of a process (or one of its threads), in seconds."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path) as f:
        text = f.read()
    # The command name may hold spaces and parentheses: split after the last ")".
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def rss_mib(pid: int) -> float:
    """Resident set size (VmRSS) in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pss_mib(pid: int) -> float:
    """Proportional set size in MiB: private pages plus a fair share of shared ones.

    The honest per-process cost when workers share pages forked from one launcher;
    RSS would count those shared pages once per worker.
    """
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


def machine_seconds() -> tuple[float, float]:
    """CPU seconds since boot, all cores: busy (not idle or waiting on I/O; steal
    included), and of it steal (time the hypervisor gave this VM's CPUs to others)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK, values[7] / CLK_TCK


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of a process (thread id -> seconds)."""
    out: dict[int, float] = {}
    for name in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            out[int(name)] = cpu_seconds(pid, int(name))
    return out


@dataclass
class Usage:
    """What one process used over a window."""

    cpu_s: float
    wall_s: float
    rss_mean_mib: float
    rss_max_mib: float
    # CPU seconds per thread; the thread whose id is the pid is the main thread.
    threads_s: dict[int, float] = field(default_factory=dict)

    @property
    def cpu_pct(self) -> float:
        """Percent of one core."""
        return 100.0 * self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


class Window:
    """Samples a set of processes from ``start()`` to ``stop()``.

    CPU comes from the difference of utime+stime at both ends (10 ms ticks); RSS is
    sampled every ``interval`` seconds in between.
    """

    def __init__(self, pids: dict[str, int], interval: float = 0.5) -> None:
        self.pids = dict(pids)
        self._interval = interval
        self._cpu0: dict[str, float] = {}
        self._threads0: dict[str, dict[int, float]] = {}
        self._rss: dict[str, list[float]] = {name: [] for name in pids}
        self._t0 = 0.0
        self._machine0 = 0.0
        self._steal0 = 0.0
        # Whole machine busy over the window, % of one core (other processes included).
        self.machine_pct = 0.0
        # Of which taken by the hypervisor for other VMs (steal), % of one core.
        self.steal_pct = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._t0 = loop.time()
        self._machine0, self._steal0 = machine_seconds()
        for name, pid in self.pids.items():
            self._cpu0[name] = cpu_seconds(pid)
            self._threads0[name] = thread_cpu(pid)
            self._rss[name].append(rss_mib(pid))
        self._task = loop.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(self._interval)  # a sampling period, not a readiness wait
            for name, pid in self.pids.items():
                with contextlib.suppress(OSError):
                    self._rss[name].append(rss_mib(pid))

    async def stop(self) -> dict[str, Usage]:
        wall = asyncio.get_running_loop().time() - self._t0
        busy, steal = machine_seconds()
        self.machine_pct = 100 * (busy - self._machine0) / wall
        self.steal_pct = 100 * (steal - self._steal0) / wall
        out: dict[str, Usage] = {}
        for name, pid in self.pids.items():
            cpu = cpu_seconds(pid) - self._cpu0[name]
            before = self._threads0[name]
            threads = {tid: s - before.get(tid, 0.0) for tid, s in thread_cpu(pid).items()}
            rss = self._rss[name] + [rss_mib(pid)]
            out[name] = Usage(cpu, wall, statistics.fmean(rss), max(rss), threads)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return out
