"""Storage of a call's quality figures: per leg, averages and worst (migration 0013).

The main process folds the worker's samples (``gateway/quality.py``) during the call and
writes them here once, when the call ends; a call never sampled has no rows.
"""

from __future__ import annotations

from typing import Literal

from crm.db import Database
from gateway.quality import LegSummary

LegName = Literal["browser", "sip"]
_COLUMNS = ("samples, jitter_avg_ms, jitter_max_ms, loss_avg_pct, loss_max_pct,"
            " rtt_avg_ms, rtt_max_ms, mos_avg, mos_min")


async def save(db: Database, call_id: str, leg: LegName, summary: LegSummary) -> None:
    """Store one leg's summary for a call (a second save for the same leg is ignored)."""
    await db.execute(
        f"INSERT INTO call_quality (call_id, leg, {_COLUMNS})"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_id, leg) DO NOTHING",
        (call_id, leg, summary.samples, summary.jitter_avg_ms, summary.jitter_max_ms,
         summary.loss_avg_pct, summary.loss_max_pct, summary.rtt_avg_ms, summary.rtt_max_ms,
         summary.mos_avg, summary.mos_min),
    )


async def get(db: Database, call_id: str) -> dict[str, LegSummary]:
    """The call's stored summaries by leg name (empty when it was never sampled)."""
    rows = await db.fetchall(
        f"SELECT leg, {_COLUMNS} FROM call_quality WHERE call_id = ? ORDER BY leg", (call_id,))
    return {
        row["leg"]: LegSummary(
            samples=row["samples"], jitter_avg_ms=row["jitter_avg_ms"],
            jitter_max_ms=row["jitter_max_ms"], loss_avg_pct=row["loss_avg_pct"],
            loss_max_pct=row["loss_max_pct"], rtt_avg_ms=row["rtt_avg_ms"],
            rtt_max_ms=row["rtt_max_ms"], mos_avg=row["mos_avg"], mos_min=row["mos_min"])
        for row in rows
    }
