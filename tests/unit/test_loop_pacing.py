"""The paced selector: blocking polls wait out the tick, ready work never waits."""

from __future__ import annotations

import asyncio
import selectors
import socket
from collections.abc import Iterator

import pytest

from gateway import loop_pacing
from gateway.loop_pacing import PacedSelector

Pair = tuple[socket.socket, socket.socket]


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def pair() -> Iterator[Pair]:
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def paced(pair: Pair) -> Iterator[tuple[PacedSelector, FakeTime, socket.socket]]:
    """A 10 ms paced selector on a fake clock, watching one end of ``pair``; the
    other end writes to it."""
    fake = FakeTime()
    selector = PacedSelector(0.01, clock=fake.clock, sleep=fake.sleep)
    selector.register(pair[0], selectors.EVENT_READ)
    yield selector, fake, pair[1]
    selector.close()


Paced = tuple[PacedSelector, FakeTime, socket.socket]


def test_a_blocking_poll_right_after_another_sleeps_out_the_tick(paced: Paced) -> None:
    selector, fake, writer = paced
    writer.send(b"x")
    assert len(selector.select(None)) == 1  # the first poll: nothing to wait for
    assert fake.slept == []
    fake.now += 0.003  # the loop worked for 3 ms
    assert len(selector.select(None)) == 1  # still readable: found after the tick
    assert fake.slept == [0.007]


def test_ready_work_is_never_held_back(paced: Paced) -> None:
    selector, fake, writer = paced
    writer.send(b"x")
    selector.select(None)
    assert len(selector.select(0)) == 1
    assert fake.slept == []


def test_a_poll_after_the_tick_has_passed_does_not_sleep(paced: Paced) -> None:
    selector, fake, writer = paced
    writer.send(b"x")
    selector.select(None)
    fake.now += 0.05
    assert len(selector.select(5)) == 1
    assert fake.slept == []


def test_a_timeout_shorter_than_the_tick_sleeps_the_tick_then_polls_once(paced: Paced) -> None:
    selector, fake, _writer = paced
    selector.select(0.001)  # returns on its timeout: nothing readable
    assert selector.select(0.002) == []  # slept the tick, then looked without waiting
    assert fake.slept == [0.01]


@pytest.mark.parametrize(("raw", "seconds"), [
    ("", 0.01), ("0", 0.0), ("5", 0.005), ("-3", 0.0), ("1000", 0.02),
    ("ten", 0.01), ("nan", 0.01), ("  ", 0.01),
])
def test_the_tick_comes_from_the_environment(raw: str, seconds: float) -> None:
    assert loop_pacing.tick_seconds({loop_pacing.TICK_ENV: raw}) == seconds


def test_a_paced_loop_runs_callbacks_and_reads_sockets(pair: Pair) -> None:
    a, b = pair
    loop = loop_pacing.new_event_loop(0.005)
    try:
        got = loop.create_future()
        loop.add_reader(a.fileno(), lambda: got.set_result(a.recv(10)))
        b.send(b"ping")
        assert loop.run_until_complete(asyncio.wait_for(got, 5)) == b"ping"
    finally:
        loop.remove_reader(a.fileno())
        loop.close()


def test_no_tick_means_a_plain_loop() -> None:
    loop = loop_pacing.new_event_loop(0)
    try:
        assert not isinstance(getattr(loop, "_selector", None), PacedSelector)
    finally:
        loop.close()
