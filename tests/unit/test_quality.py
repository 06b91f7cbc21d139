"""The simplified E-model (gateway/quality.py): MOS estimates, grades, interval loss."""

from __future__ import annotations

import pytest

from gateway.quality import (
    LegAccumulator,
    LegMeter,
    LegSample,
    LossMeter,
    RtpCounters,
    estimate_mos,
    grade,
    mos_from_r,
    r_factor,
)


def test_a_clean_lan_call_scores_the_g711_ceiling() -> None:
    sample = LegSample(jitter_ms=0, loss_pct=0, rtt_ms=0)
    # R = 93.2 - 0.024 * 10 ms codec delay
    assert r_factor(sample) == pytest.approx(92.96)
    assert estimate_mos(sample) == pytest.approx(4.41, abs=0.01)
    assert grade(estimate_mos(sample)) == "good"


def test_mos_mapping_matches_g107_at_known_points() -> None:
    assert mos_from_r(-5) == 1.0
    assert mos_from_r(120) == 4.5
    assert mos_from_r(50) == pytest.approx(2.58, abs=0.01)
    assert mos_from_r(80) == pytest.approx(4.02, abs=0.01)
    assert mos_from_r(70) == pytest.approx(3.60, abs=0.01)


def test_loss_lowers_the_score_monotonically() -> None:
    scores = [estimate_mos(LegSample(jitter_ms=5, loss_pct=p, rtt_ms=40))
              for p in (0, 1, 3, 5, 10, 20)]
    assert scores == sorted(scores, reverse=True)
    assert grade(scores[0]) == "good"
    assert grade(scores[-1]) == "poor"
    # 5 % random loss with concealment: Ie,eff = 95 * 5 / 30.1 = 15.8
    assert r_factor(LegSample(0, 5, None)) == pytest.approx(92.96 - 95 * 5 / 30.1, abs=0.01)


def test_delay_above_177_ms_costs_much_more() -> None:
    short = r_factor(LegSample(jitter_ms=0, loss_pct=0, rtt_ms=300))  # d = 160 ms
    long = r_factor(LegSample(jitter_ms=0, loss_pct=0, rtt_ms=500))  # d = 260 ms
    assert 93.2 - short == pytest.approx(0.024 * 160)
    assert 93.2 - long == pytest.approx(0.024 * 260 + 0.11 * (260 - 177.3))
    assert grade(estimate_mos(LegSample(jitter_ms=100, loss_pct=2, rtt_ms=600))) == "poor"


def test_unknown_rtt_and_hostile_figures_stay_in_range() -> None:
    assert estimate_mos(LegSample(jitter_ms=-3, loss_pct=-1, rtt_ms=None)) == pytest.approx(4.41,
                                                                                           abs=0.01)
    assert estimate_mos(LegSample(jitter_ms=1e9, loss_pct=400, rtt_ms=1e9)) == 1.0


def test_loss_meter_counts_each_interval_and_survives_a_reset() -> None:
    meter = LossMeter()
    assert meter.interval(0, 0) == 0.0
    assert meter.interval(98, 2) == pytest.approx(2.0)
    assert meter.interval(198, 2) == 0.0
    # Counters restarted (a new line after a reload): no negative loss.
    assert meter.interval(10, 0) == 0.0


def test_leg_meter_takes_the_worse_direction() -> None:
    meter = LegMeter.new()
    sample = meter.sample(RtpCounters(received=100, lost=0, jitter_ms=3, sent=100,
                                      peer_lost=10, peer_jitter_ms=8.04, rtt_ms=20.06))
    assert sample == LegSample(jitter_ms=8.0, loss_pct=pytest.approx(9.09, abs=0.01),
                               rtt_ms=20.1)
    only_ours = meter.sample(RtpCounters(received=200, lost=0, jitter_ms=2))
    assert only_ours == LegSample(jitter_ms=2, loss_pct=0.0, rtt_ms=None)


def test_accumulator_keeps_average_and_worst() -> None:
    acc = LegAccumulator()
    assert acc.summary() is None
    acc.add(LegSample(jitter_ms=2, loss_pct=0, rtt_ms=None), 4.4)
    acc.add(LegSample(jitter_ms=6, loss_pct=4, rtt_ms=30), 3.8)
    summary = acc.summary()
    assert summary is not None
    assert summary.samples == 2
    assert (summary.jitter_avg_ms, summary.jitter_max_ms) == (4.0, 6.0)
    assert (summary.loss_avg_pct, summary.loss_max_pct) == (2.0, 4.0)
    assert (summary.rtt_avg_ms, summary.rtt_max_ms) == (30.0, 30.0)
    assert (summary.mos_avg, summary.mos_min) == (4.1, 3.8)
