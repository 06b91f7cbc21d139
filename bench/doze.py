"""Pacing for any event loop, uvloop included: each turn of the loop ends asleep until
the next tick, never blocked on its sockets.

Why: a process blocked in ``epoll_wait`` is woken by every datagram that reaches one of
its sockets, and the sender pays for that wake-up inside its ``sendto`` (on this VM a
cross-CPU wake-up is the dearest thing a process does). The capacity benchmark's load
clients, on uvloop, slept in ``epoll_wait`` between packets, so nearly every packet a
gateway worker sent them woke one. A process asleep in ``nanosleep`` is not waiting on
its sockets: packets pile up in them for free and are read together on the next turn.

The gateway's workers get the same effect from their selector
(``gateway/loop_pacing.py``), which uvloop cannot take; here one callback does it from
the ready queue: it sleeps to the next tick boundary (``phase`` plus a multiple of
``tick`` on the monotonic clock) and queues itself again, so every turn of the loop polls
without blocking and then sleeps. Timers fire up to a tick late; a timer due on a
boundary (a load client's 20 ms sends) fires right after the sleep. Each load-client
process takes a random phase, so their bursts do not all land on the same instant.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable


def next_boundary(now: float, tick: float, phase: float = 0.0) -> float:
    """The first ``phase`` plus a multiple of ``tick`` after ``now`` (pure)."""
    return (math.floor((now - phase) / tick) + 1) * tick + phase


class Doze:
    """Put the running loop on ticks of ``tick`` seconds until ``stop``."""

    def __init__(self, tick: float, phase: float = 0.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if tick <= 0:
            raise ValueError("Doze needs a tick > 0")
        self.tick = tick
        self.phase = phase
        self._clock = clock
        self._sleep = sleep
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.Handle | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_soon(self._turn)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _turn(self) -> None:
        now = self._clock()
        wait = next_boundary(now, self.tick, self.phase) - now
        if wait > 0:
            self._sleep(wait)
        assert self._loop is not None
        self._handle = self._loop.call_soon(self._turn)
