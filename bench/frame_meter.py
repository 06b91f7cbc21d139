"""Counting late and lost 20 ms frames in one received audio stream (pure logic).

Used by the capacity benchmark's load clients (``bench/load_client.py``) on the audio
that comes back to each stand-in browser after crossing the gateway twice
(browser -> worker -> SIP echo -> worker -> browser).

Definitions, over one measuring window:

- **due time** of a frame: its RTP timestamp converted to seconds on the arrival clock,
  anchored so that the frame with the smallest transit (arrival - timestamp) is exactly
  on time. A stream the gateway paces perfectly has every frame due when it arrives.
- **late frame**: one that arrives more than ``late_s`` (60 ms by default: three frame
  times, more than a browser's usual 40-60 ms jitter buffer holds) after its due time.
- **lost frame**: a sequence number that never arrives within the window, or a frame
  that arrives without the echoed tone (the gateway had nothing from the SIP leg in
  time and sent silence instead).
- **expected**: every sequence number from the first to the last one of the window.
- A pause in the stream (nothing for more than ``PAUSE_S``: the line between two calls
  sends nothing) starts a new anchor, since the next call's timestamps restart from it.

A frame both late and silent counts once (as lost). The rate is (late + lost) / expected.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

LATE_S = 0.060
PAUSE_S = 0.5
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32


@dataclass
class WindowStats:
    """What one window of a stream looked like."""

    expected: int
    received: int
    missing: int
    silent: int
    late: int
    max_late_ms: float
    # Median lateness of the last fifth of the window minus that of the first fifth:
    # a delay that keeps growing (a queue filling somewhere) rather than jitter.
    drift_ms: float = 0.0

    @property
    def bad(self) -> int:
        return self.missing + self.silent + self.late

    @property
    def bad_fraction(self) -> float:
        return self.bad / self.expected if self.expected else 0.0

    def as_json(self) -> dict[str, float | int]:
        return {"expected": self.expected, "received": self.received,
                "missing": self.missing, "silent": self.silent, "late": self.late,
                "max_late_ms": round(self.max_late_ms, 1), "drift_ms": round(self.drift_ms, 1)}


@dataclass
class FrameMeter:
    """Takes (arrival, sequence number, RTP timestamp, tone heard) per packet."""

    clock_rate: int
    late_s: float = LATE_S
    _seq0: int | None = None
    _ts0: int = 0
    _seq_ext: int = 0  # last extended sequence number (wraps unrolled)
    _ts_ext: int = 0
    # Per received frame of the window: extended seq -> (transit s, tone heard, arrival).
    _frames: dict[int, tuple[float, bool, float]] = field(default_factory=dict)

    def add(self, arrival: float, seq: int, timestamp: int, tone: bool) -> None:
        if self._seq0 is None:
            self._seq0, self._ts0 = seq, timestamp
            self._seq_ext, self._ts_ext = 0, 0
            ext_seq, ext_ts = 0, 0
        else:
            ext_seq = self._unwrap(self._seq_ext, (seq - self._seq0) % SEQ_MOD, SEQ_MOD)
            ext_ts = self._unwrap(self._ts_ext, (timestamp - self._ts0) % TS_MOD, TS_MOD)
            if ext_seq > self._seq_ext:
                self._seq_ext, self._ts_ext = ext_seq, ext_ts
        if ext_seq in self._frames:
            return  # a duplicate
        self._frames[ext_seq] = (arrival - ext_ts / self.clock_rate, tone, arrival)

    @staticmethod
    def _unwrap(last: int, value: int, mod: int) -> int:
        """The extended value closest to ``last`` whose residue is ``value``."""
        # The signed distance from last's residue to value, folded into [-mod/2, mod/2):
        # plain arithmetic, run for every packet of every load client.
        delta = (value - last) % mod
        if delta >= mod // 2:
            delta -= mod
        return last + delta

    def take(self) -> WindowStats:
        """The window so far; the next window starts empty."""
        frames, self._frames = self._frames, {}
        self._seq0 = None
        if not frames:
            return WindowStats(0, 0, 0, 0, 0, 0.0)
        first, last = min(frames), max(frames)
        expected = last - first + 1
        segments: list[list[tuple[float, bool]]] = []
        previous: float | None = None
        for seq in sorted(frames):
            transit, tone, arrival = frames[seq]
            if previous is None or arrival - previous > PAUSE_S:
                segments.append([])
            segments[-1].append((transit, tone))
            previous = arrival
        late = silent = 0
        worst = 0.0
        ordered: list[float] = []
        for segment in segments:
            base = min(transit for transit, _ in segment)
            for transit, tone in segment:
                lateness = transit - base
                ordered.append(lateness)
                worst = max(worst, lateness)
                if not tone:
                    silent += 1
                elif lateness > self.late_s:
                    late += 1
        fifth = max(1, len(ordered) // 5)
        drift = statistics.median(ordered[-fifth:]) - statistics.median(ordered[:fifth])
        return WindowStats(expected, len(frames), expected - len(frames), silent, late,
                           1000 * worst, 1000 * drift)
