"""A line worker's event loop that wakes at most once a tick while it is busy.

Why: each wake-up of a sleeping process is paid for in CPU, and with two calls a worker
is woken by ~200 RTP packets a second, mostly one at a time. Thirty-odd workers and the
load clients then switch the two cores between them thousands of times a second. Here,
once the loop has handled what woke it, it sleeps out the rest of the tick before it
looks again, and the packets that arrived meanwhile are handled in one wake-up. A/B in
the capacity benchmark (session 8, 4 load-client processes, 30 s): at 64 PCMU calls the
workers' loops used 108 % of a core with a 10 ms tick against 111 % without, and 0.25 %
against 2.5 % of frames were late; at 72 calls 121 % against 127 %, 18 % against 59 %
late (both over the limit there).

What it costs: a packet waits up to one tick before it is read (half a tick on
average), once per worker it crosses, and a timer fires up to a tick late. pjmedia's
conference bridge used to hold frames for its 20 ms clock in the same way. Nothing
waits when the loop has work ready (asyncio then polls without blocking), and an idle
loop still wakes on the first event.

Only workers on direct media (``sip_bridge/direct_media.py``) are paced: that is where
it was measured, and there every packet is handled on this loop. On pjmedia, the
clock thread hands frames to the loop on its own 20 ms clock.

``HEADSET_LOOP_TICK_MS`` sets the tick (``0``: no pacing, a plain selector loop).
"""

from __future__ import annotations

import asyncio
import os
import selectors
import time
from collections.abc import Callable
from typing import Any

TICK_ENV = "HEADSET_LOOP_TICK_MS"
DEFAULT_TICK_MS = 10.0
MAX_TICK_MS = 20.0


def tick_seconds(environ: dict[str, str] | None = None) -> float:
    """The tick from the environment (``TICK_ENV``), else the default; 0 turns it off.
    Anything unreadable means the default; more than ``MAX_TICK_MS`` means that."""
    raw = (os.environ if environ is None else environ).get(TICK_ENV, "")
    try:
        ms = float(raw) if raw.strip() else DEFAULT_TICK_MS
    except ValueError:
        ms = DEFAULT_TICK_MS
    if ms != ms:  # NaN
        ms = DEFAULT_TICK_MS
    return max(0.0, min(ms, MAX_TICK_MS)) / 1000


class PacedSelector(selectors.EpollSelector):
    """An epoll selector whose blocking polls start no sooner than one tick after the
    previous poll returned (see the module docstring)."""

    def __init__(self, tick: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self._tick = tick
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return super().select(timeout)  # work is ready: never held back
        wait = self._next - self._clock()
        if wait > 0:
            # A timer due sooner waits too: it fires up to a tick late, with the
            # packets, rather than costing a wake-up of its own.
            self._sleep(wait)
            events = super().select(0)
            if not events and (timeout is None or timeout > wait):
                events = super().select(None if timeout is None else timeout - wait)
        else:
            events = super().select(timeout)
        self._next = self._clock() + self._tick
        return events


def new_event_loop(tick: float) -> asyncio.AbstractEventLoop:
    """An event loop paced by ``tick`` seconds (a plain one for 0)."""
    if tick <= 0:
        return asyncio.new_event_loop()
    selector: Any = PacedSelector(tick)
    return asyncio.SelectorEventLoop(selector)
