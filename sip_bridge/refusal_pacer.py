"""How fast the engine may refuse INVITEs (pure).

Why refusals are paced: pjsua opens two media sockets for every INVITE it takes into a
call slot, before the application sees the call, and pjsip keeps a closed socket's
ioqueue key reserved for 500 ms (``PJ_IOQUEUE_KEY_FREE_DELAY``). The ioqueue has 64 keys
and pjsua *aborts the process* when it runs out (``pj_ioqueue_register_sock2``
asserting). A flood of INVITEs through the PBX (a scanner sweep the PBX relays) was
refused as fast as it came, every refusal freeing a slot for the next INVITE and its two
sockets: the worker died within seconds. Refused calls keep their slots until the pacer
allows the refusal, so while a flood lasts pjsua answers the rest 486 by itself, without
opening anything.
"""

from __future__ import annotations

from collections import deque

# 10 refusals per 0.5 s: at most 20 closed media sockets waiting for their keys, beside
# the 8 of four live calls and the SIP transports.
LIMIT = 10
WINDOW = 0.5


class RefusalPacer:
    """At most ``limit`` refusals in any ``window`` seconds."""

    def __init__(self, limit: int = LIMIT, window: float = WINDOW) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("RefusalPacer needs limit >= 1 and window > 0")
        self._limit = limit
        self._window = window
        self._recent: deque[float] = deque()

    def allow(self, now: float) -> bool:
        """Whether a refusal may go out at ``now`` (monotonic seconds); counts it if so."""
        while self._recent and now - self._recent[0] >= self._window:
            self._recent.popleft()
        if len(self._recent) >= self._limit:
            return False
        self._recent.append(now)
        return True
