"""Call records in the database: one row per call an agent was part of.

The server writes the row when the call starts and updates it at every change, so a
closed tab loses nothing. What may change and how is decided in crm/call_flow.py; this
module loads, asks it, and stores the answer. Rows a crash left open are closed as
``interrupted`` at start-up by ``close_interrupted``.

The remote number is also kept as an E.164 key (``remote_e164``) with the one contact
caller-ID finds for it (``contact_id``), which the call history filters on. ``create``
reads it at once when given the deployment's ``region``; rows written without it (the
gateway) are read later by ``link_pending``, which the history pages run before a query.
Each write that can change a missed-call row (a record created, answered or ended) refolds
that caller's kept rows in the same transaction (crm/missed_row_store.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from crm import callerid, clock, contact_activity, missed_row_store
from crm.call_flow import (
    DIRECTIONS,
    Answered,
    CallProgress,
    CallState,
    Dialed,
    Direction,
    Ended,
    Event,
    IllegalTransition,
    Incoming,
    Outcome,
    Progress,
    Side,
    advance,
    begin,
)
from crm.db import Database, Row, Transaction
from crm.errors import NotFound

__all__ = [
    "Answered",
    "CallRecord",
    "CallState",
    "Dialed",
    "Ended",
    "IllegalTransition",
    "Incoming",
    "Outcome",
    "Progress",
    "apply_event",
    "close_interrupted",
    "create",
    "get",
    "link_pending",
    "list_for_user",
]


@dataclass(frozen=True)
class CallRecord:
    id: str
    user_id: int
    direction: Direction
    local_number: str
    remote_number: str
    remote_name: str
    state: CallState
    outcome: Outcome | None
    sip_code: int | None
    hangup_side: Side | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # None: not read yet; "": not a public number (extension, withheld); else E.164.
    remote_e164: str | None = None
    contact_id: int | None = None

    @property
    def progress(self) -> CallProgress:
        return CallProgress(
            direction=self.direction,
            state=self.state,
            started_at=self.started_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            outcome=self.outcome,
            sip_code=self.sip_code,
            hangup_side=self.hangup_side,
        )

    @property
    def talk_seconds(self) -> float | None:
        """Seconds from answer to end; None if never answered or still going."""
        if self.answered_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.answered_at).total_seconds()


_COLUMNS = (
    "id, user_id, direction, local_number, remote_number, remote_name, state, outcome,"
    " sip_code, hangup_side, started_at, answered_at, ended_at, created_at, updated_at,"
    " remote_e164, contact_id"
)


def _from_row(row: Row) -> CallRecord:
    return CallRecord(
        id=row["id"],
        user_id=int(row["user_id"]),
        direction=cast(Direction, row["direction"]),
        local_number=row["local_number"],
        remote_number=row["remote_number"],
        remote_name=row["remote_name"],
        state=CallState(row["state"]),
        outcome=None if row["outcome"] is None else Outcome(row["outcome"]),
        sip_code=row["sip_code"],
        hangup_side=cast(Side | None, row["hangup_side"]),
        started_at=clock.from_db(row["started_at"]),
        answered_at=clock.from_db_optional(row["answered_at"]),
        ended_at=clock.from_db_optional(row["ended_at"]),
        created_at=clock.from_db(row["created_at"]),
        updated_at=clock.from_db(row["updated_at"]),
        remote_e164=row["remote_e164"],
        contact_id=row["contact_id"],
    )


async def create(
    db: Database,
    id: str,
    user_id: int,
    direction: Direction,
    local_number: str,
    remote_number: str,
    remote_name: str,
    at: datetime,
    *,
    region: str | None = None,
    area_code: str = "",
) -> CallRecord:
    """Record a call as it starts (outbound: dialing; inbound: ringing).

    With ``region`` (and ``area_code``) the remote number is read and linked to its
    contact now; without, ``link_pending`` does it later.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r}: use inbound or outbound")
    progress = begin(Dialed() if direction == "outbound" else Incoming(), at)
    stamp = clock.to_db(at)
    e164: str | None = None
    contact_id: int | None = None
    if region is not None:
        e164, contact_id = _link(await callerid.match(db, remote_number, region, area_code))
    async with db.transaction() as tx:
        row = await tx.fetchone(
            f"INSERT INTO call_records ({_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, NULL, NULL, ?, ?, ?, ?)"
            f" RETURNING {_COLUMNS}",
            (id, user_id, direction, local_number, remote_number, remote_name,
             progress.state.value, stamp, stamp, stamp, e164, contact_id),
        )
        # A ringing leg can hold back a missed attempt it joins: the caller's rows change.
        await missed_row_store.note_call(tx, remote_number, at)
    assert row is not None
    await contact_activity.refresh(db, [contact_id])
    return _from_row(row)


def _link(found: callerid.CallerMatch) -> tuple[str, int | None]:
    """The stored key and contact for a caller-ID answer: a contact only when exactly one
    has the number, since a shared switchboard number names nobody in particular."""
    if found.outcome in (callerid.Outcome.EXTENSION, callerid.Outcome.UNREADABLE):
        return "", None
    contact = found.matches[0].id if found.outcome is callerid.Outcome.ONE else None
    return found.number, contact


async def link_pending(db: Database, region: str, area_code: str = "",
                       limit: int = 1000) -> int:
    """Read the remote numbers of records not read yet (up to ``limit`` distinct ones)
    and link each record to its contact; return how many numbers were read. One
    caller-ID lookup per distinct number."""
    rows = await db.fetchall(
        "SELECT DISTINCT remote_number FROM call_records WHERE remote_e164 IS NULL LIMIT ?",
        (limit,),
    )
    for row in rows:
        e164, contact_id = _link(await callerid.match(db, row["remote_number"], region,
                                                      area_code))
        await db.execute(
            "UPDATE call_records SET remote_e164 = ?, contact_id = ?"
            " WHERE remote_e164 IS NULL AND remote_number = ?",
            (e164, contact_id, row["remote_number"]),
        )
        await contact_activity.refresh(db, [contact_id])
    return len(rows)


async def _write(tx: Transaction, id: str, progress: CallProgress, at: datetime) -> None:
    await tx.execute(
        "UPDATE call_records SET state = ?, outcome = ?, sip_code = ?, hangup_side = ?,"
        " answered_at = ?, ended_at = ?, updated_at = ? WHERE id = ?",
        (
            progress.state.value,
            None if progress.outcome is None else progress.outcome.value,
            progress.sip_code,
            progress.hangup_side,
            None if progress.answered_at is None else clock.to_db(progress.answered_at),
            None if progress.ended_at is None else clock.to_db(progress.ended_at),
            clock.to_db(at),
            id,
        ),
    )


def _folds_differently(before: CallProgress, after: CallProgress) -> bool:
    """Whether the change can move a missed-call row (crm/missed_calls.py reads these)."""
    return (before.answered_at, before.ended_at, before.outcome) != (
        after.answered_at, after.ended_at, after.outcome)


async def apply_event(db: Database, id: str, event: Event, at: datetime) -> CallRecord:
    """Apply one event to a stored call; raises ``NotFound`` or ``IllegalTransition``."""
    async with db.transaction() as tx:
        row = await tx.fetchone(f"SELECT {_COLUMNS} FROM call_records WHERE id = ?", (id,))
        if row is None:
            raise NotFound(f"call record {id} does not exist")
        record = _from_row(row)
        progress = advance(record.progress, event, at)
        await _write(tx, id, progress, at)
        if _folds_differently(record.progress, progress):
            await missed_row_store.note_call(tx, record.remote_number, record.started_at)
        updated = await tx.fetchone(f"SELECT {_COLUMNS} FROM call_records WHERE id = ?", (id,))
    assert updated is not None
    return _from_row(updated)


async def close_interrupted(db: Database, at: datetime) -> int:
    """End every record not yet ended as ``interrupted``; return how many.

    Run at start-up, before any line worker exists, when no call can really be live.
    """
    crash = Ended(reason="interrupted", side="system")
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            f"SELECT {_COLUMNS} FROM call_records WHERE state <> ?", (CallState.ENDED.value,)
        )
        for row in rows:
            record = _from_row(row)
            await _write(tx, record.id, advance(record.progress, crash, at), at)
            await missed_row_store.note_call(tx, record.remote_number, record.started_at)
    return len(rows)


async def get(db: Database, id: str) -> CallRecord | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM call_records WHERE id = ?", (id,))
    return None if row is None else _from_row(row)


async def list_for_user(db: Database, user_id: int, limit: int = 50) -> list[CallRecord]:
    """The user's most recent calls, newest first."""
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM call_records WHERE user_id = ?"
        " ORDER BY started_at DESC LIMIT ?",
        (user_id, limit),
    )
    return [_from_row(row) for row in rows]
