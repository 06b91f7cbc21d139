"""Where agents' states are kept: the current status of each and the log of changes.

The decision is crm/agent_states.py's; this module reads the current state, applies the
event and, when something changed, writes the new state and closes/opens log rows in one
transaction, so the log never has two open rows for an agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from crm import clock
from crm.agent_states import AgentState, Change, Event, Status, apply, initial_state
from crm.db import Database, Row, Transaction

Source = Literal["page", "keypad", "system"]


@dataclass(frozen=True)
class LogEntry:
    user_id: int
    status: Status
    pause_code_id: int | None
    source: Source
    started_at: datetime
    ended_at: datetime | None


def _state(row: Row | None) -> AgentState:
    if row is None:
        return initial_state()
    return AgentState(Status(row["status"]), clock.from_db(row["since"]),
                      row["pause_code_id"])


async def _read(tx: Transaction, user_id: int) -> AgentState:
    return _state(await tx.fetchone(
        "SELECT status, pause_code_id, since FROM agent_states WHERE user_id = ?",
        (user_id,)))


async def get(db: Database, user_id: int) -> AgentState:
    """The agent's current state (logged out if they never logged in)."""
    return _state(await db.fetchone(
        "SELECT status, pause_code_id, since FROM agent_states WHERE user_id = ?",
        (user_id,)))


async def all_current(db: Database) -> dict[int, AgentState]:
    """Every agent's current state, by user id (agents never logged in are absent)."""
    rows = await db.fetchall("SELECT user_id, status, pause_code_id, since FROM agent_states")
    return {int(r["user_id"]): _state(r) for r in rows}


async def change(db: Database, user_id: int, event: Event, source: Source,
                 at: datetime | None = None, pause_code_id: int | None = None) -> Change:
    """Apply ``event`` to the agent's state; raises ``IllegalChange`` if it does not fit."""
    at = at or clock.utc_now()
    async with db.transaction() as tx:
        result = apply(await _read(tx, user_id), event, at, pause_code_id)
        if not result.changed:
            return result
        new = result.state
        when = clock.to_db(at)
        await tx.execute(
            "INSERT INTO agent_states (user_id, status, pause_code_id, since)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
            " status = excluded.status, pause_code_id = excluded.pause_code_id,"
            " since = excluded.since", (user_id, new.status, new.pause_code_id, when))
        await tx.execute(
            "UPDATE agent_state_log SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL",
            (when, user_id))
        await tx.execute(
            "INSERT INTO agent_state_log (user_id, status, pause_code_id, source, started_at)"
            " VALUES (?, ?, ?, ?, ?)", (user_id, new.status, new.pause_code_id, source, when))
    return result


async def log(db: Database, user_id: int, start: datetime, end: datetime) -> list[LogEntry]:
    """The agent's states that overlap [start, end), oldest first (for reports)."""
    rows = await db.fetchall(
        "SELECT * FROM agent_state_log WHERE user_id = ? AND started_at < ?"
        " AND (ended_at IS NULL OR ended_at > ?) ORDER BY started_at, id",
        (user_id, clock.to_db(end), clock.to_db(start)))
    return [LogEntry(user_id=int(r["user_id"]), status=Status(r["status"]),
                     pause_code_id=r["pause_code_id"], source=r["source"],
                     started_at=clock.from_db(r["started_at"]),
                     ended_at=clock.from_db_optional(r["ended_at"])) for r in rows]
