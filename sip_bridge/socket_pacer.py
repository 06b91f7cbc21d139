"""How fast the engine may do what opens and closes media sockets (pure).

Why: pjsua opens two media sockets for every call, outgoing or incoming (an incoming one
before the application sees it), and pjsip keeps a closed socket's ioqueue key reserved
for 500 ms (``PJ_IOQUEUE_KEY_FREE_DELAY``). The ioqueue has 64 keys and pjsua *aborts
the process* when it runs out (``pj_ioqueue_register_sock2`` asserting). Two ways got
there:

- **refusals**: a flood of INVITEs through the PBX (a scanner sweep the PBX relays) was
  refused as fast as it came, every refusal freeing a slot for the next INVITE and its
  two sockets: the worker died within seconds. Refused calls keep their slots until the
  pacer allows the refusal, so while a flood lasts pjsua answers the rest 486 by itself,
  without opening anything.
- **dials**: once a queued command no longer waited for the engine's 10 ms poll
  (sip_bridge/wake.py), dials answered busy at once came back to back, about 30 in
  0.5 s, and the setup benchmark's worker aborted the same way. A dial past its budget
  waits its turn (tens of ms) instead.

Budgets, per 0.5 s: 10 refusals and 8 dials, at most 36 closed sockets waiting for their
keys, beside the 8 of four live calls and the SIP transports.
"""

from __future__ import annotations

from collections import deque

WINDOW = 0.5
REFUSALS = 10
DIALS = 8


class SocketPacer:
    """At most ``limit`` turns in any ``window`` seconds."""

    def __init__(self, limit: int, window: float = WINDOW) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("SocketPacer needs limit >= 1 and window > 0")
        self._limit = limit
        self._window = window
        self._recent: deque[float] = deque()

    def wait(self, now: float) -> float:
        """0 if a turn may be taken at ``now`` (monotonic seconds), and counts it; else
        the seconds until one may (nothing counted)."""
        recent = self._recent
        while recent and now - recent[0] >= self._window:
            recent.popleft()
        if len(recent) >= self._limit:
            return recent[0] + self._window - now
        recent.append(now)
        return 0.0

    def allow(self, now: float) -> bool:
        """Whether a turn may be taken at ``now``; counts it if so."""
        return self.wait(now) == 0.0
