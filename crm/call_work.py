"""An agent's work on a call, in the database: the contact it is about, notes, tags, the
disposition and "Save and finish".

A call *needs work* (appears in the agent's unfinished list, and can block the next
call when its campaign says "must disposition") when it was answered, or when the agent
dialled it, whatever came of it; inbound calls the agent never answered are missed
calls, not work. Calls to the headset test number never need work. The list keeps a call
for ``UNFINISHED_WINDOW`` after it started; after that it no longer blocks either.

Checks are in crm/call_notes.py and crm/dispositions.py; this module stores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm import call_notes, clock
from crm.contact_activity import refresh as refresh_activity
from crm.db import Database, Row
from crm.dispositions import Submission, WrapUp

UNFINISHED_WINDOW = timedelta(hours=24)
# The SQL form of "needs work" (see the module docstring); r is call_records.
_NEEDS_WORK = "(r.direction = 'outbound' OR r.answered_at IS NOT NULL) AND r.remote_number <> ?"


@dataclass(frozen=True)
class CallWork:
    call_id: str
    user_id: int
    contact_id: int | None
    campaign_id: int | None
    disposition_id: int | None
    wrap_up: WrapUp | None
    callback_at: datetime | None
    values: dict[str, str]
    finished_at: datetime | None
    queue_id: int | None = None  # the queue an inbound call came through


@dataclass(frozen=True)
class Note:
    call_id: str
    user_id: int
    body: str
    revision: int
    updated_at: datetime


@dataclass(frozen=True)
class Activity:
    """One earlier call with a contact, with its note and how it was closed."""

    call_id: str
    direction: str
    outcome: str | None
    started_at: datetime
    agent: str
    disposition: str | None
    wrap_up: str | None
    note: str


def _work(row: Row) -> CallWork:
    return CallWork(
        call_id=row["call_id"], user_id=int(row["user_id"]),
        contact_id=None if row["contact_id"] is None else int(row["contact_id"]),
        campaign_id=None if row["campaign_id"] is None else int(row["campaign_id"]),
        disposition_id=None if row["disposition_id"] is None else int(row["disposition_id"]),
        wrap_up=WrapUp(row["wrap_up"]) if row["wrap_up"] else None,
        callback_at=clock.from_db_optional(row["callback_at"]),
        values=json.loads(row["field_values"]),
        finished_at=clock.from_db_optional(row["finished_at"]),
        queue_id=None if row["queue_id"] is None else int(row["queue_id"]),
    )


_WORK_COLUMNS = ("call_id, user_id, contact_id, campaign_id, disposition_id, wrap_up,"
                 " callback_at, field_values, finished_at, queue_id")


async def start(db: Database, call_id: str, user_id: int, contact_id: int | None,
                at: datetime, *, campaign_id: int | None = None,
                queue_id: int | None = None) -> None:
    """Open the work row of a new call (the gateway, when the record is created), with
    the campaign it belongs to (outbound: the agent's pick; its "must disposition" and
    dispositions apply) and the queue it came through (inbound)."""
    stamp = clock.to_db(at)
    await db.execute(
        "INSERT INTO call_work (call_id, user_id, contact_id, campaign_id, queue_id,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_id) DO NOTHING",
        (call_id, user_id, contact_id, campaign_id, queue_id, stamp, stamp))
    await refresh_activity(db, [contact_id])


async def _contact_of(db: Database, call_id: str) -> int | None:
    """The contact a call belongs to: the one picked in the call window, else the one
    caller-ID linked."""
    row = await db.fetchone(
        "SELECT COALESCE(w.contact_id, r.contact_id) AS contact_id FROM call_records r"
        " LEFT JOIN call_work w ON w.call_id = r.id WHERE r.id = ?", (call_id,))
    return None if row is None or row["contact_id"] is None else int(row["contact_id"])


async def get(db: Database, call_id: str) -> CallWork | None:
    row = await db.fetchone(f"SELECT {_WORK_COLUMNS} FROM call_work WHERE call_id = ?",
                            (call_id,))
    return None if row is None else _work(row)


async def ensure(db: Database, call_id: str, user_id: int) -> CallWork:
    """The call's work row, created empty if the gateway did not (older calls)."""
    await start(db, call_id, user_id, None, clock.utc_now())
    work = await get(db, call_id)
    assert work is not None
    return work


async def set_contact(db: Database, call_id: str, contact_id: int | None) -> None:
    before = await _contact_of(db, call_id)
    await db.execute("UPDATE call_work SET contact_id = ?, updated_at = ? WHERE call_id = ?",
                     (contact_id, clock.to_db(clock.utc_now()), call_id))
    # The call leaves one contact's activity and joins another's.
    await refresh_activity(db, [before, await _contact_of(db, call_id)])


# -- notes and tags -----------------------------------------------------------------------

async def get_note(db: Database, call_id: str, user_id: int) -> Note | None:
    row = await db.fetchone(
        "SELECT call_id, user_id, body, revision, updated_at FROM call_notes"
        " WHERE call_id = ? AND user_id = ?", (call_id, user_id))
    if row is None:
        return None
    return Note(row["call_id"], int(row["user_id"]), row["body"], int(row["revision"]),
                clock.from_db(row["updated_at"]))


async def save_note(db: Database, call_id: str, user_id: int, body: str, revision: int,
                    at: datetime) -> Note:
    """Store the note unless a newer revision is already there; return what is stored."""
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT revision FROM call_notes WHERE call_id = ? AND user_id = ?",
            (call_id, user_id))
        if call_notes.accepts(None if row is None else int(row["revision"]), revision):
            await tx.execute(
                "INSERT INTO call_notes (call_id, user_id, body, revision, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (call_id, user_id) DO UPDATE SET"
                " body = excluded.body, revision = excluded.revision,"
                " updated_at = excluded.updated_at",
                (call_id, user_id, body, revision, clock.to_db(at)))
    note = await get_note(db, call_id, user_id)
    assert note is not None
    return note


async def get_tags(db: Database, call_id: str) -> list[str]:
    rows = await db.fetchall("SELECT tag FROM call_tags WHERE call_id = ? ORDER BY rowid",
                             (call_id,))
    return [r["tag"] for r in rows]


async def set_tags(db: Database, call_id: str, tags: tuple[str, ...]) -> None:
    """Replace the call's tags (already cleaned by ``call_notes.clean_tags``)."""
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM call_tags WHERE call_id = ?", (call_id,))
        for tag in tags:
            await tx.execute("INSERT INTO call_tags (call_id, tag, tag_key) VALUES (?, ?, ?)",
                             (call_id, tag, call_notes.tag_key(tag)))


# -- finishing ----------------------------------------------------------------------------

async def finish(db: Database, call_id: str, submission: Submission, at: datetime) -> None:
    """Store the disposition (or shortcut) and mark the call finished."""
    await db.execute(
        "UPDATE call_work SET disposition_id = ?, wrap_up = ?, callback_at = ?,"
        " field_values = ?, finished_at = ?, updated_at = ? WHERE call_id = ?",
        (submission.disposition_id,
         submission.wrap_up.value if submission.wrap_up else "",
         None if submission.callback_at is None else clock.to_db(submission.callback_at),
         json.dumps(submission.values, ensure_ascii=False), clock.to_db(at), clock.to_db(at),
         call_id))
    await refresh_activity(db, [await _contact_of(db, call_id)])


async def unfinished(db: Database, user_id: int, now: datetime,
                     echo_number: str) -> list[Row]:
    """The user's calls of the last 24 h that need work and are not finished, newest first
    (rows of call_records columns plus contact_id and contact_name)."""
    return await db.fetchall(
        "SELECT r.id, r.direction, r.remote_number, r.remote_name, r.state, r.outcome,"
        " r.started_at, r.answered_at, r.ended_at, w.contact_id, c.name AS contact_name"
        " FROM call_records r LEFT JOIN call_work w ON w.call_id = r.id"
        " LEFT JOIN contacts c ON c.id = COALESCE(w.contact_id, r.contact_id)"
        f" WHERE r.user_id = ? AND r.started_at >= ? AND {_NEEDS_WORK}"
        " AND w.finished_at IS NULL ORDER BY r.started_at DESC LIMIT 100",
        (user_id, clock.to_db(now - UNFINISHED_WINDOW), echo_number))


async def blocking_call(db: Database, user_id: int, now: datetime,
                        echo_number: str) -> str | None:
    """The id of an ended call the user must disposition before another one, or None.

    A call blocks when its policy says "must disposition" (its campaign's; else its
    queue's, or the default while the queue has none; else the default:
    crm/dispositions.policy_scopes), it needs work, it has ended and it is not finished.
    """
    row = await db.fetchone(
        "SELECT r.id FROM call_records r LEFT JOIN call_work w ON w.call_id = r.id"
        f" WHERE r.user_id = ? AND r.started_at >= ? AND {_NEEDS_WORK}"
        " AND r.state = 'ended' AND w.finished_at IS NULL AND CASE"
        "  WHEN w.campaign_id IS NOT NULL THEN (SELECT must_disposition"
        "   FROM disposition_policies WHERE campaign_id = w.campaign_id)"
        "  ELSE COALESCE((SELECT must_disposition FROM disposition_policies"
        "   WHERE campaign_id IS NULL AND queue_id = w.queue_id),"
        "   (SELECT must_disposition FROM disposition_policies"
        "   WHERE campaign_id IS NULL AND queue_id IS NULL)) END = 1"
        " ORDER BY r.started_at LIMIT 1",
        (user_id, clock.to_db(now - UNFINISHED_WINDOW), echo_number))
    return None if row is None else str(row["id"])


# -- the contact's history ----------------------------------------------------------------

async def contact_activity(db: Database, contact_id: int, exclude_call: str,
                           limit: int = 10) -> list[Activity]:
    """The contact's last ``limit`` calls before this one, each with its notes.

    A call is the contact's when the agent said so in the call window, else when
    caller ID linked its record to the contact (crm/call_records.py).
    """
    rows = await db.fetchall(
        "SELECT r.id, r.direction, r.outcome, r.started_at, u.display_name AS agent,"
        " d.name AS disposition, w.wrap_up,"
        " (SELECT group_concat(n.body, char(10) || char(10)) FROM call_notes n"
        "   WHERE n.call_id = r.id AND n.body <> '') AS note"
        " FROM call_records r LEFT JOIN call_work w ON w.call_id = r.id"
        " JOIN users u ON u.id = r.user_id"
        " LEFT JOIN dispositions d ON d.id = w.disposition_id"
        " WHERE r.id IN (SELECT call_id FROM call_work WHERE contact_id = ?"
        "                UNION SELECT id FROM call_records WHERE contact_id = ?)"
        " AND COALESCE(w.contact_id, r.contact_id) = ? AND r.id <> ?"
        " ORDER BY r.started_at DESC LIMIT ?",
        (contact_id, contact_id, contact_id, exclude_call, limit))
    return [Activity(call_id=r["id"], direction=r["direction"], outcome=r["outcome"],
                     started_at=clock.from_db(r["started_at"]), agent=r["agent"],
                     disposition=r["disposition"], wrap_up=r["wrap_up"] or None,
                     note=r["note"] or "") for r in rows]


# -- per-user settings --------------------------------------------------------------------

async def auto_open(db: Database, user_id: int) -> bool:
    """Whether the call window opens by itself when a call rings (default: yes)."""
    row = await db.fetchone("SELECT auto_open FROM call_window_settings WHERE user_id = ?",
                            (user_id,))
    return True if row is None else bool(row["auto_open"])


async def set_auto_open(db: Database, user_id: int, value: bool) -> None:
    await db.execute(
        "INSERT INTO call_window_settings (user_id, auto_open, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET auto_open = excluded.auto_open,"
        " updated_at = excluded.updated_at",
        (user_id, int(value), clock.to_db(clock.utc_now())))


async def auto_open_all(db: Database) -> dict[int, bool]:
    rows = await db.fetchall("SELECT user_id, auto_open FROM call_window_settings")
    return {int(r["user_id"]): bool(r["auto_open"]) for r in rows}
