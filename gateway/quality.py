"""Call quality: an estimated MOS from jitter, loss and round-trip time, and its summary.

Pure code: the line worker feeds it figures read from aiortc (the browser leg) and from
pjsua2's RTCP statistics (the SIP leg); the main process folds the samples of a call
into the averages and worst values stored with the call record.

The estimate is the simplified E-model of ITU-T G.107 as Cole and Rosenbluth (2001)
apply it to VoIP, with every impairment left at its G.107 default except delay and loss:

    d      = one-way delay + 2 x jitter + 10 ms           (jitter buffer and codec frame)
    Id     = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)      (H: 1 when positive, else 0)
    Ie,eff = Ie + (95 - Ie) Ppl / (Ppl + Bpl)             (G.107 with random loss, BurstR=1)
    R      = 93.2 - Id - Ie,eff
    MOS    = 1 + 0.035 R + 7e-6 R (R - 60) (100 - R)      (1 for R < 0, 4.5 for R > 100)

with Ie = 0 and Bpl = 25.1 (G.711 with packet-loss concealment, G.113 Appendix I).

Limits, on purpose: the one-way delay is half the RTCP round-trip time (0 when RTCP has
given none yet), so it leaves out the jitter buffers and the bridge itself; Opus is
scored like G.711 (G.113 lists no Ie/Bpl for it, and it conceals loss at least as well);
loss is taken as random, not bursty; echo and noise are not measured. So the figure is
a *network* health estimate to compare calls and spot a bad link, not a listening test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Grade = Literal["good", "fair", "poor"]

R_DEFAULT = 93.2
CODEC_DELAY_MS = 10.0
IE_G711 = 0.0
BPL_G711_PLC = 25.1
GOOD_MOS = 4.0  # "satisfied" users (G.107 Annex B: R >= 80)
FAIR_MOS = 3.6  # "some users dissatisfied" (R >= 70)


@dataclass(frozen=True)
class LegSample:
    """One leg's figures over the last sampling interval."""

    jitter_ms: float
    loss_pct: float  # 0..100, packets lost in the interval
    rtt_ms: float | None  # None until RTCP has measured one


def r_factor(sample: LegSample, ie: float = IE_G711, bpl: float = BPL_G711_PLC) -> float:
    """The transmission rating R of the simplified E-model (module docstring)."""
    one_way = (sample.rtt_ms or 0.0) / 2
    d = one_way + 2 * max(sample.jitter_ms, 0.0) + CODEC_DELAY_MS
    i_d = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    ppl = min(max(sample.loss_pct, 0.0), 100.0)
    ie_eff = ie + (95 - ie) * ppl / (ppl + bpl)
    return R_DEFAULT - i_d - ie_eff


def mos_from_r(r: float) -> float:
    """G.107's mapping from R to the estimated mean opinion score (1 to 4.5)."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)


def estimate_mos(sample: LegSample) -> float:
    """Estimated MOS of one leg, rounded to two decimals."""
    return round(mos_from_r(r_factor(sample)), 2)


def grade(mos: float) -> Grade:
    """The word the agent sees: good, fair or poor."""
    if mos >= GOOD_MOS:
        return "good"
    if mos >= FAIR_MOS:
        return "fair"
    return "poor"


@dataclass
class LossMeter:
    """Turns cumulative RTP counters (received, lost) into each interval's loss in %."""

    received: int = 0
    lost: int = 0

    def interval(self, received: int, lost: int) -> float:
        d_received = max(received - self.received, 0)
        # RTCP's cumulative loss can go down (duplicates count as negative loss).
        d_lost = max(lost - self.lost, 0)
        self.received, self.lost = received, lost
        expected = d_received + d_lost
        return 100.0 * d_lost / expected if expected else 0.0


@dataclass(frozen=True)
class LegSummary:
    """A leg's averages and worst figures over a call (what the call record keeps)."""

    samples: int
    jitter_avg_ms: float
    jitter_max_ms: float
    loss_avg_pct: float
    loss_max_pct: float
    rtt_avg_ms: float | None
    rtt_max_ms: float | None
    mos_avg: float
    mos_min: float


@dataclass
class LegAccumulator:
    """Collects one leg's samples during a call."""

    samples: int = 0
    jitter_sum: float = 0.0
    jitter_max: float = 0.0
    loss_sum: float = 0.0
    loss_max: float = 0.0
    rtt_sum: float = 0.0
    rtt_count: int = 0
    rtt_max: float = 0.0
    mos_sum: float = 0.0
    mos_min: float = 5.0

    def add(self, sample: LegSample, mos: float) -> None:
        self.samples += 1
        self.jitter_sum += sample.jitter_ms
        self.jitter_max = max(self.jitter_max, sample.jitter_ms)
        self.loss_sum += sample.loss_pct
        self.loss_max = max(self.loss_max, sample.loss_pct)
        if sample.rtt_ms is not None:
            self.rtt_sum += sample.rtt_ms
            self.rtt_count += 1
            self.rtt_max = max(self.rtt_max, sample.rtt_ms)
        self.mos_sum += mos
        self.mos_min = min(self.mos_min, mos)

    def summary(self) -> LegSummary | None:
        """None when the leg was never sampled (a call shorter than one interval)."""
        if not self.samples:
            return None
        n = self.samples
        return LegSummary(
            samples=n,
            jitter_avg_ms=round(self.jitter_sum / n, 1),
            jitter_max_ms=round(self.jitter_max, 1),
            loss_avg_pct=round(self.loss_sum / n, 2),
            loss_max_pct=round(self.loss_max, 2),
            rtt_avg_ms=round(self.rtt_sum / self.rtt_count, 1) if self.rtt_count else None,
            rtt_max_ms=round(self.rtt_max, 1) if self.rtt_count else None,
            mos_avg=round(self.mos_sum / n, 2),
            mos_min=round(self.mos_min, 2),
        )


@dataclass(frozen=True)
class RtpCounters:
    """One leg's raw RTP/RTCP figures as its stack reports them (cumulative counts).

    ``received``/``lost``/``jitter_ms``: what we receive. ``sent``/``peer_lost``/
    ``peer_jitter_ms``: what the far end says, in its RTCP receiver reports, about what
    we send (``None`` until it has sent one).
    """

    received: int
    lost: int
    jitter_ms: float
    sent: int = 0
    peer_lost: int | None = None
    peer_jitter_ms: float | None = None
    rtt_ms: float | None = None


@dataclass
class LegMeter:
    """Makes interval samples of one leg from its cumulative counters.

    A leg carries audio both ways; the sample takes the worse direction, since either
    is heard by someone on the call.
    """

    inbound: LossMeter
    outbound: LossMeter

    @classmethod
    def new(cls) -> LegMeter:
        return cls(LossMeter(), LossMeter())

    def sample(self, counters: RtpCounters) -> LegSample:
        loss = self.inbound.interval(counters.received, counters.lost)
        jitter = counters.jitter_ms
        if counters.peer_lost is not None:
            loss = max(loss, self.outbound.interval(counters.sent, counters.peer_lost))
        if counters.peer_jitter_ms is not None:
            jitter = max(jitter, counters.peer_jitter_ms)
        return LegSample(jitter_ms=round(jitter, 1), loss_pct=round(loss, 2),
                         rtt_ms=None if counters.rtt_ms is None else round(counters.rtt_ms, 1))
