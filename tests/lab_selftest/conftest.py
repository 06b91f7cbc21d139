"""Fixtures for the lab's own tests: a Kamailio with two users, and phones on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.kamailio import Kamailio
from tests.lab.phone import Phone

USERS = {"alice": "alice-secret", "bob": "bob-secret"}


@pytest.fixture
def kamailio() -> Iterator[Kamailio]:
    with Kamailio(USERS) as kam:
        yield kam


@pytest.fixture
def alice(kamailio: Kamailio) -> Iterator[Phone]:
    """Registered as alice, plays 1000 Hz, answers calls at once."""
    with Phone("alice", tone_hz=1000) as phone:
        assert phone.register("alice", USERS["alice"], kamailio.hostport) == 200
        yield phone
        assert phone.live_calls() == [], "a call outlived its test"


@pytest.fixture
def bob(kamailio: Kamailio) -> Iterator[Phone]:
    """Registered as bob, plays 1500 Hz, answers calls at once."""
    with Phone("bob", tone_hz=1500) as phone:
        assert phone.register("bob", USERS["bob"], kamailio.hostport) == 200
        yield phone
        assert phone.live_calls() == [], "a call outlived its test"
