"""The capacity benchmark's definition of late and lost frames (bench/frame_meter.py)."""

from __future__ import annotations

from bench.frame_meter import FrameMeter


def _stream(meter: FrameMeter, frames: int, seq0: int = 0, ts0: int = 0,
            delays: dict[int, float] | None = None, silent: frozenset[int] = frozenset(),
            missing: frozenset[int] = frozenset()) -> None:
    for i in range(frames):
        if i in missing:
            continue
        arrival = 100.0 + 0.020 * i + (delays or {}).get(i, 0.0)
        meter.add(arrival, (seq0 + i) % 65536, (ts0 + 160 * i) % (1 << 32), i not in silent)


def test_a_steady_stream_has_nothing_late_or_lost() -> None:
    meter = FrameMeter(8000)
    _stream(meter, 500, delays={i: 0.005 * (i % 3) for i in range(500)})
    stats = meter.take()
    assert (stats.expected, stats.received, stats.bad) == (500, 500, 0)


def test_late_silent_and_missing_frames_are_counted_once_each() -> None:
    meter = FrameMeter(8000, late_s=0.060)
    _stream(meter, 100, delays={10: 0.061, 11: 0.059, 20: 0.2}, silent=frozenset({20, 30}),
            missing=frozenset({40, 41}))
    stats = meter.take()
    assert stats.expected == 100 and stats.received == 98
    assert (stats.late, stats.silent, stats.missing) == (1, 2, 2)
    assert abs(stats.bad_fraction - 0.05) < 1e-9


def test_sequence_and_timestamp_wrap_around() -> None:
    meter = FrameMeter(48000)
    for i in range(50):
        meter.add(0.02 * i, (65530 + i) % 65536, ((1 << 32) - 960 * 3 + 960 * i) % (1 << 32),
                  True)
    stats = meter.take()
    assert (stats.expected, stats.missing, stats.late) == (50, 0, 0)


def test_each_window_starts_afresh() -> None:
    meter = FrameMeter(8000)
    _stream(meter, 10, missing=frozenset({5}))
    assert meter.take().missing == 1
    _stream(meter, 10, seq0=1000, ts0=99)
    assert meter.take().bad == 0
    assert meter.take().expected == 0


def test_a_pause_between_calls_starts_a_new_anchor() -> None:
    meter = FrameMeter(8000)
    for i in range(50):  # one call, then two seconds of nothing, then the next call
        meter.add(100.0 + 0.02 * i, i, 160 * i, True)
    for i in range(50, 100):  # its timestamps continue, its arrivals 0.3 s behind them
        meter.add(102.3 + 0.02 * i, i, 160 * i, True)
    stats = meter.take()
    assert (stats.expected, stats.late, stats.bad) == (100, 0, 0)


def test_a_call_that_heard_nothing_or_stopped_early_is_not_clean() -> None:
    from bench.capacity import with_unheard

    clean = {"expected": 499, "received": 499, "missing": 0, "silent": 0, "late": 0}
    assert with_unheard(clean, 10.0) == clean  # a full window (edges forgiven)
    nothing = with_unheard(clean | {"expected": 0, "received": 0}, 10.0)
    assert nothing["missing"] == nothing["expected"] == 498
    early = with_unheard(clean | {"expected": 250, "received": 250}, 10.0)
    assert early["missing"] == 248 and early["expected"] == 498


def test_the_worst_calls_come_first_and_say_whether_they_were_just_set_up() -> None:
    from bench.capacity import worst_calls, worst_text

    def window(late: int, missing: int = 0) -> dict[str, int]:
        return {"expected": 500, "received": 500 - missing, "missing": missing,
                "silent": 0, "late": late}

    frames = {1: window(0), 2: window(100), 3: window(5, missing=5), 4: window(1)}
    worst = worst_calls(frames, added={3}, count=2)
    assert worst == [{"agent": 2, "bad_fraction": 0.2, "added_now": False},
                     {"agent": 3, "bad_fraction": 0.02, "added_now": True}]
    assert worst_text(worst) == "20.0 % #2, 2.0 % #3*"
    assert worst_calls({1: window(0)}, added=set()) == []  # clean calls are not listed
    assert worst_text([]) == "none"
