"""The depth policy of the PCM queues, driven by simulated clocks (gateway/playout.py).

Time is counted in frames (20 ms). The consumer pulls at ``k + phase``; frame ``n`` is
due at ``n`` and ready at ``n + lateness[n]``, pushed in order (a producer that stalls
holds back everything behind it, as a starved asyncio loop does), unless lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.pcm import PcmQueue
from gateway.playout import DepthPolicy, Pull

CAPACITY = 3
RECOVERY = (DepthPolicy.MAX_TARGET + 1) * DepthPolicy.CALM + (CAPACITY + 1) * DepthPolicy.TRIM_AFTER


@dataclass
class Run:
    played: list[tuple[int, int]] = field(default_factory=list)  # (pull, frame)
    concealed: list[int] = field(default_factory=list)  # pulls
    pushed: int = 0
    overflow: int = 0
    queue: PcmQueue = field(default_factory=lambda: PcmQueue(CAPACITY))

    def delay(self, pull: int, frame: int, phase: float) -> float:
        return pull + phase - frame


def simulate(lateness: list[float], lost: set[int] = frozenset(), phase: float = 0.5,  # type: ignore[assignment]
             pulls: int | None = None) -> Run:
    run = Run()
    ready: list[tuple[float, int]] = []
    latest = 0.0
    for n, late in enumerate(lateness):
        latest = max(latest, n + late)
        if n not in lost:
            ready.append((latest, n))
    total = pulls if pulls is not None else len(lateness) + 8
    i = 0
    for k in range(total):
        now = k + phase
        while i < len(ready) and ready[i][0] <= now:
            if run.queue.waiting == CAPACITY:
                run.overflow += 1
            run.queue.push(ready[i][1].to_bytes(4, "little"))
            run.pushed += 1
            i += 1
        before = run.queue.policy.concealed
        frame = run.queue.pop()
        if run.queue.policy.concealed > before:
            run.concealed.append(k)
        elif frame is not None:
            run.played.append((k, int.from_bytes(frame, "little")))
    return run


def steady_delay(c: float, phase: float) -> float:
    """Pull time minus due time of a frame that arrives ``c`` late and waits for no one."""
    return math.ceil(c - phase) + phase


phases = st.floats(min_value=0.01, max_value=0.99)
offsets = st.floats(min_value=0.0, max_value=0.98)


@settings(max_examples=40, deadline=None)
@given(offsets, phases, st.integers(min_value=50, max_value=400))
def test_steady_arrivals_play_every_frame_at_the_least_delay(c: float, phase: float,
                                                              n: int) -> None:
    run = simulate([c] * n, phase=phase)
    assert [f for _, f in run.played] == list(range(n))
    assert run.queue.trimmed == 0 and run.overflow == 0
    first = run.played[0][0]
    assert not [k for k in run.concealed if first < k < run.played[-1][0]]
    assert {round(run.delay(k, f, phase), 6) for k, f in run.played} == {
        round(steady_delay(c, phase), 6)}


@settings(max_examples=40, deadline=None)
@given(offsets, phases, st.sets(st.integers(min_value=1, max_value=498), max_size=60))
def test_losses_cost_a_concealed_slot_each_and_never_delay_what_follows(
        c: float, phase: float, lost: set[int]) -> None:
    n = 500
    run = simulate([c] * n, lost=lost, phase=phase)
    assert [f for _, f in run.played] == [f for f in range(n) if f not in lost]
    assert {round(run.delay(k, f, phase), 6) for k, f in run.played} == {
        round(steady_delay(c, phase), 6)}
    inside = [k for k in run.concealed if run.played[0][0] < k < run.played[-1][0]]
    assert len(inside) == len(lost)
    assert run.queue.policy.target == 0  # loss alone never buys delay


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=4.0), min_size=1, max_size=300),
       offsets, phases, st.sets(st.integers(min_value=0, max_value=299), max_size=30))
def test_after_any_disturbance_the_delay_comes_back_to_the_least(
        jitter: list[float], c: float, phase: float, lost: set[int]) -> None:
    steady = RECOVERY + 100
    run = simulate(jitter + [c] * steady, lost=lost, phase=phase)
    settled = len(jitter) + RECOVERY
    late = [round(run.delay(k, f, phase), 6) for k, f in run.played if f >= settled]
    assert late and set(late) == {round(steady_delay(c, phase), 6)}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=6.0), min_size=1, max_size=400),
       phases, st.sets(st.integers(min_value=0, max_value=399), max_size=40))
def test_every_frame_is_played_dropped_or_waiting_in_order(
        lateness: list[float], phase: float, lost: set[int]) -> None:
    run = simulate(lateness, lost=lost, phase=phase)
    frames = [f for _, f in run.played]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    accounted = len(frames) + run.queue.trimmed + run.overflow + run.queue.waiting
    assert accounted == run.pushed
    assert run.queue.policy.target <= DepthPolicy.MAX_TARGET


def test_a_stray_late_frame_is_dropped_after_its_slot_was_concealed() -> None:
    lateness = [0.2] * 100
    lateness[50] = 0.9  # misses its pull; arrives with frame 51
    run = simulate(lateness, phase=0.5)
    assert 50 not in [f for _, f in run.played]
    assert run.queue.policy.dropped_late == 1
    assert {round(run.delay(k, f, 0.5), 6) for k, f in run.played} == {1.5 - 1.0}


def test_steady_jitter_raises_the_target_instead_of_concealing_every_other_frame() -> None:
    # Every other frame misses its pull: dropping them would conceal half the audio.
    lateness = [0.2 if n % 2 else 0.7 for n in range(2000)]
    run = simulate(lateness, phase=0.5)
    inside = [k for k in run.concealed if k < run.played[-1][0]]
    assert len(inside) <= DepthPolicy.RAISE_AFTER
    assert len(run.played) == 2000 - run.queue.policy.dropped_late


def test_decisions_for_a_fresh_policy() -> None:
    policy = DepthPolicy()
    assert policy.decide(0) is Pull.CONCEAL
    assert policy.decide(1) is Pull.PLAY
    assert policy.decide(0) is Pull.CONCEAL
    assert policy.decide(2) is Pull.DROP_THEN_PLAY
