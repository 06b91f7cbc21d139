"""Where callbacks are kept: the callback, its phones and links, and its log of events.

crm/callbacks.py decides (validation, transitions, permissions); this module writes a new
callback with its parts and its ``created`` event in one transaction, and applies an
action by re-reading the callback inside the transaction that changes it, so two people
completing and discarding at once cannot both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from crm import clock, ids, phone_numbers
from crm.callbacks import (
    EVENT_OF,
    Action,
    Callback,
    Event,
    EventKind,
    Link,
    NewCallback,
    State,
    apply,
)
from crm.contacts import fold
from crm.db import Database, Row, Transaction
from crm.errors import NotFound

MAX_LIST = 500


@dataclass(frozen=True)
class Query:
    """Which callbacks to list; text filters match folded substrings."""

    user_id: int | None = None       # None: everyone's
    since: datetime | None = None    # due at or after
    until: datetime | None = None    # due before
    queue: str = ""                  # free text (callbacks from before queues existed)
    queue_id: int | None = None      # one queue's callbacks
    campaign_id: int | None = None   # one campaign's callbacks
    phone: str = ""
    contact: str = ""                # a contact's name, or "#<id>"
    reason: str = ""
    pending_only: bool = False
    limit: int = MAX_LIST


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def _assemble(tx: Database | Transaction, rows: Sequence[Row]) -> list[Callback]:
    if not rows:
        return []
    ids = [int(r["id"]) for r in rows]
    marks = ", ".join("?" for _ in ids)
    phones: dict[int, list[str]] = {}
    for r in await tx.fetchall(f"SELECT callback_id, number FROM callback_phones WHERE"
                               f" callback_id IN ({marks}) ORDER BY callback_id, position", ids):
        phones.setdefault(int(r["callback_id"]), []).append(r["number"])
    links: dict[int, list[Link]] = {}
    for r in await tx.fetchall(f"SELECT callback_id, name, url FROM callback_links WHERE"
                               f" callback_id IN ({marks}) ORDER BY callback_id, position", ids):
        links.setdefault(int(r["callback_id"]), []).append(Link(r["name"], r["url"]))
    names = await _queue_names(tx, rows)
    return [Callback(
        id=int(r["id"]), user_id=int(r["user_id"]),
        queue=str(names.get((r["queue_id"], r["campaign_id"]), r["queue"])),
        queue_id=r["queue_id"], campaign_id=r["campaign_id"],
        contact_id=r["contact_id"], due_at=clock.from_db(r["due_at"]),
        expiry_seconds=int(r["expiry_seconds"]), phones=tuple(phones.get(int(r["id"]), ())),
        reason=r["reason"], links=tuple(links.get(int(r["id"]), ())), state=State(r["state"]),
        created_by=r["created_by"], created_at=clock.from_db(r["created_at"]),
        closed_at=clock.from_db_optional(r["closed_at"])) for r in rows]


async def _queue_names(tx: Database | Transaction,
                       rows: Sequence[Row]) -> dict[tuple[int | None, int | None], str]:
    """The current names of the queues and campaigns these callbacks refer to (renamed
    since: the new name), keyed by (queue_id, campaign_id)."""
    names: dict[tuple[int | None, int | None], str] = {}
    for table, column in (("queues", "queue_id"), ("campaigns", "campaign_id")):
        ids = sorted({int(r[column]) for r in rows if r[column] is not None})
        if ids:
            for found in await tx.fetchall(
                    f"SELECT id, name FROM {table} WHERE id IN ({', '.join('?' * len(ids))})",
                    ids):
                key = (int(found["id"]), None) if table == "queues" else (None, int(found["id"]))
                names[key] = found["name"]
    return names


async def create(db: Database, new: NewCallback, by_user_id: int, now: datetime,
                 source_call_id: str | None = None) -> Callback:
    """Store a validated callback; with ``source_call_id``, at most one per call (a
    second wrap-up of the same call returns the callback made the first time)."""
    when = clock.to_db(now)
    async with db.transaction() as tx:
        if source_call_id is not None:
            existing = await tx.fetchone("SELECT * FROM callbacks WHERE source_call_id = ?",
                                         (source_call_id,))
            if existing is not None:
                return (await _assemble(tx, [existing]))[0]
        row = await tx.fetchone(
            "INSERT INTO callbacks (user_id, queue, queue_key, contact_id, due_at,"
            " expiry_seconds, reason, reason_key, state, created_by, created_at,"
            " source_call_id, queue_id, campaign_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?) RETURNING *",
            (new.user_id, new.queue, fold(new.queue), new.contact_id, clock.to_db(new.due_at),
             new.expiry_seconds, new.reason, fold(new.reason), by_user_id, when,
             source_call_id, new.queue_id, new.campaign_id))
        assert row is not None
        callback_id = int(row["id"])
        for position, number in enumerate(new.phones):
            await tx.execute("INSERT INTO callback_phones (callback_id, position, number)"
                             " VALUES (?, ?, ?)", (callback_id, position, number))
        for position, link in enumerate(new.links):
            await tx.execute("INSERT INTO callback_links (callback_id, position, name, url)"
                             " VALUES (?, ?, ?, ?)", (callback_id, position, link.name, link.url))
        await tx.execute(
            "INSERT INTO callback_events (callback_id, kind, by_user_id, at, user_id, due_at)"
            " VALUES (?, 'created', ?, ?, ?, ?)",
            (callback_id, by_user_id, when, new.user_id, clock.to_db(new.due_at)))
        return (await _assemble(tx, [row]))[0]


async def get(db: Database, callback_id: int) -> Callback | None:
    row = await db.fetchone("SELECT * FROM callbacks WHERE id = ?", (callback_id,))
    return None if row is None else (await _assemble(db, [row]))[0]


async def act(db: Database, callback_id: int, action: Action, by_user_id: int, now: datetime,
              *, due_at: datetime | None = None, user_id: int | None = None) -> Callback:
    """Apply a person's action (postpone needs ``due_at``, assign ``user_id``); raises
    ``NotFound`` or ``IllegalAction`` (closed or expired meanwhile) and changes nothing."""
    when = clock.to_db(now)
    async with db.transaction() as tx:
        row = await tx.fetchone("SELECT * FROM callbacks WHERE id = ?", (callback_id,))
        if row is None:
            raise NotFound(f"callback {callback_id}")
        current = (await _assemble(tx, [row]))[0]
        after = apply(current, action, now)
        if action is Action.POSTPONE:
            assert due_at is not None
            await tx.execute("UPDATE callbacks SET due_at = ? WHERE id = ?",
                             (clock.to_db(due_at), callback_id))
        elif action is Action.ASSIGN:
            assert user_id is not None
            await tx.execute("UPDATE callbacks SET user_id = ? WHERE id = ?",
                             (user_id, callback_id))
        else:
            await tx.execute("UPDATE callbacks SET state = ?, closed_at = ? WHERE id = ?",
                             (after.value, when, callback_id))
        await tx.execute(
            "INSERT INTO callback_events (callback_id, kind, by_user_id, at, user_id, due_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (callback_id, EVENT_OF[action].value, by_user_id, when, user_id,
             None if due_at is None else clock.to_db(due_at)))
        fresh = await tx.fetchone("SELECT * FROM callbacks WHERE id = ?", (callback_id,))
        assert fresh is not None
        return (await _assemble(tx, [fresh]))[0]


async def events(db: Database, callback_id: int) -> list[Event]:
    """The callback's log, oldest first."""
    rows = await db.fetchall("SELECT * FROM callback_events WHERE callback_id = ? ORDER BY id",
                             (callback_id,))
    return [Event(kind=EventKind(r["kind"]), by_user_id=r["by_user_id"],
                  at=clock.from_db(r["at"]), user_id=r["user_id"],
                  due_at=clock.from_db_optional(r["due_at"])) for r in rows]


async def events_of(db: Database, callback_ids: Sequence[int]) -> dict[int, list[Event]]:
    """The logs of several callbacks at once (a panel page), oldest first each."""
    found: dict[int, list[Event]] = {callback_id: [] for callback_id in callback_ids}
    if not callback_ids:
        return found
    marks = ", ".join("?" for _ in callback_ids)
    for r in await db.fetchall(f"SELECT * FROM callback_events WHERE callback_id IN ({marks})"
                               " ORDER BY callback_id, id", list(callback_ids)):
        found[int(r["callback_id"])].append(Event(
            kind=EventKind(r["kind"]), by_user_id=r["by_user_id"], at=clock.from_db(r["at"]),
            user_id=r["user_id"], due_at=clock.from_db_optional(r["due_at"])))
    return found


async def contact_names(db: Database, contact_ids: Sequence[int]) -> dict[int, str]:
    """Contact id -> name, for the contacts of a page of callbacks (one query)."""
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = await db.fetchall(f"SELECT id, name FROM contacts WHERE id IN ({marks})", ids)
    return {int(r["id"]): r["name"] for r in rows}


async def search(db: Database, query: Query) -> list[Callback]:
    """Callbacks matching ``query``, by due time (then id)."""
    where: list[str] = []
    params: list[object] = []
    if query.user_id is not None:
        where.append("cb.user_id = ?")
        params.append(query.user_id)
    if query.since is not None:
        where.append("cb.due_at >= ?")
        params.append(clock.to_db(query.since))
    if query.until is not None:
        where.append("cb.due_at < ?")
        params.append(clock.to_db(query.until))
    if query.pending_only:
        where.append("cb.state = 'pending'")
    if query.queue.strip():
        where.append("cb.queue_key LIKE ? ESCAPE '\\'")
        params.append(_like(fold(query.queue.strip())))
    if query.queue_id is not None:
        where.append("cb.queue_id = ?")
        params.append(query.queue_id)
    if query.campaign_id is not None:
        where.append("cb.campaign_id = ?")
        params.append(query.campaign_id)
    if query.reason.strip():
        where.append("cb.reason_key LIKE ? ESCAPE '\\'")
        params.append(_like(fold(query.reason.strip())))
    digits = phone_numbers.digits(query.phone)
    if query.phone.strip():
        # Digits anywhere in the stored E.164: "600 11" finds +34600111222.
        where.append("EXISTS (SELECT 1 FROM callback_phones p WHERE p.callback_id = cb.id"
                     " AND p.number LIKE ? ESCAPE '\\')")
        params.append(_like(digits) if digits else _like(query.phone.strip()))
    contact = query.contact.strip()
    contact_id = ids.row_id(contact[1:]) if contact.startswith("#") else None
    if contact_id is not None:
        where.append("cb.contact_id = ?")
        params.append(contact_id)
    elif contact:
        where.append("EXISTS (SELECT 1 FROM contacts c WHERE c.id = cb.contact_id"
                     " AND c.name_key LIKE ? ESCAPE '\\')")
        params.append(_like(fold(contact)))
    sql = "SELECT cb.* FROM callbacks cb"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY cb.due_at, cb.id LIMIT ?"
    params.append(max(1, min(query.limit, MAX_LIST)))
    return await _assemble(db, await db.fetchall(sql, params))
