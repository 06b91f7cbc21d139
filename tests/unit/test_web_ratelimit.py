"""web.ratelimit: pure decisions with a fake clock."""

from __future__ import annotations

import pytest

from web.ratelimit import Limit, LoginRateLimiter, SlidingWindow, address_key, minutes


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_account_limited_after_failures(clock: FakeClock) -> None:
    limiter = LoginRateLimiter(clock, per_account=Limit(3, 60), per_address=Limit(100, 60))
    for _ in range(3):
        assert limiter.retry_after("Ana", "10.0.0.1") == 0
        limiter.record_failure("Ana", "10.0.0.1")
    assert limiter.retry_after("ana", "10.0.0.2") == pytest.approx(60)
    assert limiter.retry_after("bob", "10.0.0.1") == 0
    clock.now += 30
    assert limiter.retry_after("ANA", "10.0.0.9") == pytest.approx(30)
    clock.now += 30
    assert limiter.retry_after("ana", "10.0.0.1") == 0


def test_address_limited_across_accounts(clock: FakeClock) -> None:
    limiter = LoginRateLimiter(clock, per_account=Limit(100, 60), per_address=Limit(4, 60))
    for name in "abcd":
        limiter.record_failure(name, "192.0.2.7")
    assert limiter.retry_after("e", "192.0.2.7") > 0
    assert limiter.retry_after("e", "192.0.2.8") == 0


def test_success_clears_account_only(clock: FakeClock) -> None:
    limiter = LoginRateLimiter(clock, per_account=Limit(2, 60), per_address=Limit(3, 60))
    limiter.record_failure("ana", "10.0.0.1")
    limiter.record_failure("ana", "10.0.0.1")
    limiter.record_success("ana", "10.0.0.1")
    assert limiter.retry_after("ana", "10.0.0.2") == 0
    limiter.record_failure("bob", "10.0.0.1")
    assert limiter.retry_after("carl", "10.0.0.1") > 0


def test_window_slides(clock: FakeClock) -> None:
    window = SlidingWindow(Limit(2, 10), clock)
    window.record("k")
    clock.now += 6
    window.record("k")
    assert window.retry_after("k") == pytest.approx(4)
    clock.now += 4
    assert window.retry_after("k") == 0


def test_memory_bounded(clock: FakeClock) -> None:
    window = SlidingWindow(Limit(1, 60), clock, max_keys=10)
    for i in range(100):
        window.record(str(i))
    assert window.retry_after("0") == 0
    assert window.retry_after("99") > 0


@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.5", "203.0.113.5"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.5", "203.0.113.5"),
    (None, "unknown"),
    ("not-an-ip", "not-an-ip"),
])
def test_address_key(address: str | None, key: str) -> None:
    assert address_key(address) == key


def test_minutes() -> None:
    assert minutes(0.5) == 1 and minutes(60) == 1 and minutes(61) == 2
