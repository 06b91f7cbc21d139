"""What the agent-state report reads: the status log rows and the answered calls that
overlap a period, and which pause codes are productive. Read-only; the log is written by
crm/agent_state_store.py and the report is computed by crm/agent_state_report.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm import clock
from crm.agent_state_report import CallSpan, StateSpan
from crm.agent_states import Status
from crm.db import Database

# A call longer than this is not looked for before the period (it keeps the scan on the
# started_at index instead of every call ever made).
LONGEST_CALL = timedelta(days=1)
_CHUNK = 400
# The log rows overlapping [start, end): those that ended after the start (a range of the
# ended_at index, migration 0019: the lower bound) and those still open (the same index's
# NULLs). "ended_at IS NULL OR ended_at > ?" in one WHERE made SQLite walk started_at from
# the log's first row; the unary + keeps it off the started_at indexes here too, and the
# rows are put in order here rather than by an ORDER BY the planner would walk an index for.
LOG_QUERY = (
    "SELECT id, user_id, status, pause_code_id, started_at, ended_at FROM agent_state_log"
    " WHERE ended_at > ? AND +started_at < ? AND queue_id IS NULL AND campaign_id IS NULL{only}"
    " UNION ALL"
    " SELECT id, user_id, status, pause_code_id, started_at, ended_at FROM agent_state_log"
    " WHERE ended_at IS NULL AND started_at < ? AND queue_id IS NULL"
    " AND campaign_id IS NULL{only}")


@dataclass(frozen=True)
class Loaded:
    spans: list[StateSpan]
    calls: list[CallSpan]
    productive: dict[int, bool]
    pause_names: dict[int, str]


def _in(column: str, ids: Sequence[int]) -> str:
    return f" AND {column} IN ({', '.join('?' for _ in ids)})"


async def load(db: Database, start: datetime, end: datetime,
               user_ids: Sequence[int] | None = None) -> Loaded:
    """Rows overlapping ``[start, end)``, for ``user_ids`` (None: everyone)."""
    ids = list(user_ids) if user_ids is not None else None
    if ids is not None and len(ids) > _CHUNK:
        ids = ids[:_CHUNK]
    only = _in("user_id", ids) if ids else ""
    params = tuple(ids) if ids else ()
    if ids is not None and not ids:
        return Loaded([], [], {}, {})
    # The overall status only: rows a queue or campaign login keeps carry its id
    # (migration 0016) and are not states of the agent.
    log_rows = await db.fetchall(LOG_QUERY.format(only=only),
                                 (clock.to_db(start), clock.to_db(end), *params,
                                  clock.to_db(end), *params))
    log_rows.sort(key=lambda r: (r["user_id"], r["started_at"], r["id"]))
    spans = [StateSpan(int(r["user_id"]), Status(r["status"]), r["pause_code_id"],
                       clock.from_db(r["started_at"]), clock.from_db_optional(r["ended_at"]))
             for r in log_rows]
    call_rows = await db.fetchall(
        "SELECT user_id, answered_at, ended_at FROM call_records"
        " WHERE started_at >= ? AND started_at < ? AND answered_at IS NOT NULL"
        " AND answered_at < ? AND (ended_at IS NULL OR ended_at > ?)" + only,
        (clock.to_db(start - LONGEST_CALL), clock.to_db(end), clock.to_db(end),
         clock.to_db(start), *params))
    calls = [CallSpan(int(r["user_id"]), clock.from_db(r["answered_at"]),
                      clock.from_db_optional(r["ended_at"])) for r in call_rows]
    codes = await db.fetchall("SELECT id, name, productive FROM pause_codes")
    return Loaded(spans, calls, {int(r["id"]): bool(r["productive"]) for r in codes},
                  {int(r["id"]): r["name"] for r in codes})
