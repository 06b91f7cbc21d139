"""The load clients' dozing loop (bench/doze.py): every turn of the loop ends asleep
until the next tick boundary, and stops when asked."""

from __future__ import annotations

import asyncio

import pytest

from bench.doze import Doze, next_boundary


@pytest.mark.parametrize(("now", "boundary"), [(0.0, 0.01), (0.004, 0.01), (0.01, 0.02),
                                               (12.3456, 12.35)])
def test_the_next_boundary_is_the_first_multiple_of_the_tick_after_now(
        now: float, boundary: float) -> None:
    assert next_boundary(now, 0.01) == pytest.approx(boundary)


@pytest.mark.parametrize(("now", "boundary"), [(0.0, 0.003), (0.004, 0.013), (0.0131, 0.023),
                                               (0.0125, 0.013)])
def test_a_phase_shifts_the_boundaries(now: float, boundary: float) -> None:
    assert next_boundary(now, 0.01, phase=0.003) == pytest.approx(boundary)


def test_a_tick_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Doze(0)


async def test_each_turn_sleeps_to_the_next_boundary_until_stopped() -> None:
    now = [1.003]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds + 0.002  # the loop's own work after waking

    doze = Doze(0.01, phase=0.004, clock=lambda: now[0], sleep=sleep)
    doze.start()
    for _ in range(4):
        await asyncio.sleep(0)
    doze.stop()
    turns = len(slept)
    for _ in range(3):
        await asyncio.sleep(0)
    assert turns >= 3 and len(slept) == turns  # nothing after stop
    assert slept[0] == pytest.approx(0.001)  # to 1.004
    assert all(s == pytest.approx(0.008) for s in slept[1:])  # 2 ms of work each turn
