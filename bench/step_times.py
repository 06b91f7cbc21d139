"""Step timings of the recovery benchmarks (``bench.reattach``, ``bench.worker_restart``):
seconds per round summed up as p50/p95 in ms, printed as a table, saved as JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.call_cost import percentiles

Json = dict[str, Any]
RESULTS = Path(__file__).resolve().parent / "results"


def ms(values: list[float | None]) -> Json:
    """Percentiles in ms of the seconds measured; a round that measured nothing (None)
    is left out, so ``n`` says how many did."""
    return percentiles([1000 * v for v in values if v is not None])


def print_steps(heading: str, summary: Json, labels: dict[str, str]) -> None:
    """One row per step of ``summary`` (keys of ``labels``, in that order): p50, p95, max, n."""
    print(f"  {heading:48}{'p50':>8}{'p95':>8}{'max':>8}{'n':>5}")
    for key, label in labels.items():
        r = summary[key]
        print(f"  {label:48}{r.get('p50', '-')!s:>8}{r.get('p95', '-')!s:>8}"
              f"{r.get('max', '-')!s:>8}{r['n']:>5}")


def save(results: Json, path: Path | None, name: str) -> None:
    """Write the results to ``path``, by default bench/results/NAME-TIME.json, and say where."""
    path = path or RESULTS / time.strftime(f"{name}-%Y%m%d-%H%M%S.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"\nresults written to {path}")
