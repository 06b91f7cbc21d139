"""Where a line's media delay goes: per-stage delay histograms, recorded only on request.

Set ``HEADSET_MEDIA_TIMING=/path/file.jsonl`` in a line worker's environment and each
line appends, every ``DUMP_EVERY`` seconds while it carries audio, one JSON line:
``{"t": <monotonic s>, "agent": id, "stages": {stage: {bin: count}}}`` (bins of
``BIN_MS``), then starts afresh. ``bench/latency.py`` sums those lines per phase and
prints where each millisecond goes. Unset (production), lines record nothing.

Stages, each a delay in ms measured per 20 ms frame inside the worker:

    up.decode    RTP packet in (our receive buffer) -> its 16 kHz audio pushed to the
                 call's queue (webrtc/decoding.py decodes on release: this is the decode)
    up.resample  only for a codec left to aiortc's decoder: decoded frame read -> pushed
    up.queue     pushed -> taken by the pjmedia conference clock (onFrameRequested)
    down.queue   handed over by the clock (onFrameReceived) -> taken by the line's track
    down.send    taken by the track -> the next frame asked for (encode + SRTP + send)

What no stage covers (pjmedia's jitter buffer, bridge and codec, aiortc on the other
side, the network) is what the benchmark's end-to-end figure has left over.

``record`` runs on pjmedia's clock thread too: one index computation and one list item
increment, no allocation; a lost increment under a thread switch is acceptable in a
statistic.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV = "HEADSET_MEDIA_TIMING"
STAGES = ("up.decode", "up.resample", "up.queue", "down.queue", "down.send")
BIN_MS = 0.5
BINS = 800  # up to 400 ms; the last bin also holds everything longer
DUMP_EVERY = 2.0


class StageTimes:
    """Delay histograms, one per stage (see module docstring)."""

    def __init__(self) -> None:
        self._bins = {stage: [0] * BINS for stage in STAGES}

    def record(self, stage: str, seconds: float) -> None:
        index = int(seconds * 1000 / BIN_MS)
        bins = self._bins[stage]
        bins[min(max(index, 0), BINS - 1)] += 1

    def take(self) -> dict[str, dict[int, int]]:
        """The counts so far (non-empty bins only), and start afresh."""
        taken, self._bins = self._bins, {stage: [0] * BINS for stage in STAGES}
        return {stage: {i: n for i, n in enumerate(bins) if n}
                for stage, bins in taken.items()}


def merge(into: dict[str, dict[int, int]], more: Mapping[str, Mapping[Any, int]]) -> None:
    """Add ``more``'s counts to ``into`` (bins as read back from JSON, keys may be str)."""
    for stage, bins in more.items():
        target = into.setdefault(stage, {})
        for key, n in bins.items():
            target[int(key)] = target.get(int(key), 0) + n


def summary(bins: dict[int, int]) -> dict[str, float | int]:
    """n, mean, p50 and p95 in ms of one stage's histogram (bin centres)."""
    n = sum(bins.values())
    if not n:
        return {"n": 0}
    ordered = sorted(bins.items())
    mean = sum((i + 0.5) * BIN_MS * c for i, c in ordered) / n

    def quantile(q: float) -> float:
        seen = 0
        for i, c in ordered:
            seen += c
            if seen >= q * n:
                return round((i + 0.5) * BIN_MS, 2)
        return round((ordered[-1][0] + 0.5) * BIN_MS, 2)

    return {"n": n, "mean": round(mean, 2), "p50": quantile(0.5), "p95": quantile(0.95)}


class TimingLog:
    """Appends a line's histograms to the file named by ``HEADSET_MEDIA_TIMING``."""

    def __init__(self, path: Path, agent_id: int) -> None:
        self.path = path
        self.agent_id = agent_id
        self.times = StageTimes()

    def dump(self) -> None:
        stages = self.times.take()
        if not any(stages.values()):
            return
        line = json.dumps({"t": time.monotonic(), "agent": self.agent_id, "stages": stages})
        with self.path.open("a") as out:
            out.write(line + "\n")


def from_env(agent_id: int) -> TimingLog | None:
    """A ``TimingLog`` if timing was asked for in the environment, else ``None``."""
    path = os.environ.get(ENV)
    return TimingLog(Path(path), agent_id) if path else None
