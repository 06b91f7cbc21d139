"""How many failed logins we accept, per account and per network address.

A sliding window of failure times per key. An account gets few tries (guessing one
person's password); an address gets more (a call centre's agents share one public
address), and IPv6 addresses count per /64, because one host owns a whole /64.
A success clears the account's failures, not the address's. Pure: the clock is injected,
nothing here touches the network. Memory is bounded: the least recently used keys go.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True)
class Limit:
    failures: int
    window: float  # seconds


class SlidingWindow:
    """Failure times per key, at most ``limit.failures`` within ``limit.window``."""

    def __init__(self, limit: Limit, clock: Clock, max_keys: int = 10_000) -> None:
        self.limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        times = self._prune(key)
        if times is None or len(times) < self.limit.failures:
            return 0.0
        return max(0.0, times[0] + self.limit.window - self._clock())

    def record(self, key: str) -> None:
        times = self._prune(key)
        if times is None:
            times = self._failures[key] = deque()
        times.append(self._clock())
        self._failures.move_to_end(key)
        # Keep only what can still matter for the decision.
        while len(times) > self.limit.failures:
            times.popleft()
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _prune(self, key: str) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        horizon = self._clock() - self.limit.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times


def address_key(address: str | None) -> str:
    """The key an address counts under: itself for IPv4, its /64 for IPv6."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class LoginRateLimiter:
    """Decides whether a login attempt may be checked at all."""

    def __init__(
        self,
        clock: Clock = time.monotonic,
        per_account: Limit = Limit(failures=5, window=300.0),
        per_address: Limit = Limit(failures=30, window=300.0),
    ) -> None:
        self._accounts = SlidingWindow(per_account, clock)
        self._addresses = SlidingWindow(per_address, clock)

    def retry_after(self, username: str, address: str | None) -> float:
        """Seconds to wait before this attempt may be checked; 0 means go ahead."""
        return max(self._accounts.retry_after(_account_key(username)),
                   self._addresses.retry_after(address_key(address)))

    def record_failure(self, username: str, address: str | None) -> None:
        self._accounts.record(_account_key(username))
        self._addresses.record(address_key(address))

    def record_success(self, username: str, address: str | None) -> None:
        self._accounts.clear(_account_key(username))


def _account_key(username: str) -> str:
    return username.strip().casefold()


def minutes(seconds: float) -> int:
    """Seconds to wait, as whole minutes for a person to read (at least 1)."""
    return max(1, math.ceil(seconds / 60))
