"""Where agents' states are kept: the current status of each and the log of changes.

The decision is crm/agent_states.py's; this module reads the current state, applies the
event and, when something changed, writes the new state and closes/opens log rows in one
transaction, so the log never has two open rows for an agent.

The queues and campaigns an agent is logged in to (the rules are crm/agent_queues.py's)
are kept here too, because they change with the status: logging in overall logs in to
all of them, logging out to none. Each queue or campaign keeps its own intervals in the
same log (rows carrying its ``queue_id`` or ``campaign_id``), one open row per agent and
queue; the overall status's rows carry neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from crm import clock, queue_store
from crm.agent_queues import Logins, check_choice, check_login, login_all, pick_campaign
from crm.agent_states import AgentState, Change, Event, Status, apply, initial_state
from crm.db import Database, Row, Transaction
from crm.queues import Kind

Source = Literal["page", "keypad", "system"]


@dataclass(frozen=True)
class LogEntry:
    user_id: int
    status: Status
    pause_code_id: int | None
    source: Source
    started_at: datetime
    ended_at: datetime | None
    queue_id: int | None = None
    campaign_id: int | None = None


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
                 at: datetime | None = None, pause_code_id: int | None = None,
                 today: date | None = None) -> Change:
    """Apply ``event`` to the agent's state; raises ``IllegalChange`` if it does not fit.

    A LOGIN asked for by the agent (page, keypad), or one that logs them in from logged
    out, also logs them in to all their queues and running campaigns; a LOGOUT out of
    all. ``today`` is the deployment's date, for campaigns' dates.
    """
    at = at or clock.utc_now()
    when = clock.to_db(at)
    async with db.transaction() as tx:
        result = apply(await _read(tx, user_id), event, at, pause_code_id)
        if result.changed:
            await _write_state(tx, user_id, result.state, source, when)
        moved = False
        if event is Event.LOGIN and (result.changed or source != "system"):
            queues, campaigns = await queue_store.memberships(tx, user_id)
            current = await _logins(tx, user_id)
            moved = await _set_logins(tx, user_id, current,
                                      login_all(queues, campaigns, today or at.date(),
                                                current.chosen_campaign), source, when)
        elif event is Event.LOGOUT:
            moved = await _set_logins(tx, user_id, await _logins(tx, user_id), Logins(),
                                      source, when)
    # A change of queues alone is a change too: the agent's tabs must hear of it.
    return Change(result.state, changed=True) if moved and not result.changed else result


async def _write_state(tx: Transaction, user_id: int, new: AgentState, source: Source,
                       when: str) -> None:
    await tx.execute(
        "INSERT INTO agent_states (user_id, status, pause_code_id, since)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
        " status = excluded.status, pause_code_id = excluded.pause_code_id,"
        " since = excluded.since", (user_id, new.status, new.pause_code_id, when))
    await _log_row(tx, user_id, new.status, new.pause_code_id, source, when)


async def _log_row(tx: Transaction, user_id: int, status: Status, pause_code_id: int | None,
                   source: Source, when: str, queue_id: int | None = None,
                   campaign_id: int | None = None) -> None:
    """Close the open row of this scope (overall, or one queue/campaign), open the next."""
    await tx.execute(
        "UPDATE agent_state_log SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL"
        " AND COALESCE(queue_id, 0) = ? AND COALESCE(campaign_id, 0) = ?",
        (when, user_id, queue_id or 0, campaign_id or 0))
    await tx.execute(
        "INSERT INTO agent_state_log (user_id, status, pause_code_id, source, started_at,"
        " queue_id, campaign_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (user_id, status, pause_code_id, source, when, queue_id, campaign_id))


# -- queues and campaigns -------------------------------------------------------------

async def _logins(tx: Database | Transaction, user_id: int) -> Logins:
    queues = await tx.fetchall("SELECT queue_id FROM agent_queue_logins WHERE user_id = ?",
                               (user_id,))
    campaigns = await tx.fetchall(
        "SELECT campaign_id FROM agent_campaign_logins WHERE user_id = ?", (user_id,))
    chosen = await tx.fetchone("SELECT campaign_id FROM agent_states WHERE user_id = ?",
                               (user_id,))
    return Logins(queues=frozenset(int(r["queue_id"]) for r in queues),
                  campaigns=frozenset(int(r["campaign_id"]) for r in campaigns),
                  chosen_campaign=None if chosen is None or chosen["campaign_id"] is None
                  else int(chosen["campaign_id"]))


async def _set_logins(tx: Transaction, user_id: int, old: Logins, new: Logins,
                      source: Source, when: str) -> bool:
    """Write the difference between two sets of logins, one log row per change; whether
    there was any."""
    for kind, before, after in ((Kind.QUEUE, old.queues, new.queues),
                                (Kind.CAMPAIGN, old.campaigns, new.campaigns)):
        table, column = (("agent_queue_logins", "queue_id") if kind is Kind.QUEUE
                         else ("agent_campaign_logins", "campaign_id"))
        for item in sorted(after - before):
            await tx.execute(f"INSERT INTO {table} (user_id, {column}, since) VALUES (?, ?, ?)",
                             (user_id, item, when))
        for item in sorted(before - after):
            await tx.execute(f"DELETE FROM {table} WHERE user_id = ? AND {column} = ?",
                             (user_id, item))
        for item in sorted(before ^ after):
            scope = {"queue_id": item} if kind is Kind.QUEUE else {"campaign_id": item}
            status = Status.AVAILABLE if item in after else Status.LOGGED_OUT
            await _log_row(tx, user_id, status, None, source, when, **scope)
    if new.chosen_campaign != old.chosen_campaign:
        await tx.execute("UPDATE agent_states SET campaign_id = ? WHERE user_id = ?",
                         (new.chosen_campaign, user_id))
    return new != old


async def logins(db: Database, user_id: int) -> Logins:
    """The queues and campaigns the agent is logged in to, and their outbound pick."""
    return await _logins(db, user_id)


async def all_logins(db: Database) -> dict[int, Logins]:
    """Every agent's logins, by user id (agents logged in to nothing are absent)."""
    found: dict[int, Logins] = {}
    for r in await db.fetchall("SELECT user_id, queue_id FROM agent_queue_logins"):
        old = found.get(int(r["user_id"]), Logins())
        found[int(r["user_id"])] = Logins(old.queues | {int(r["queue_id"])}, old.campaigns)
    for r in await db.fetchall("SELECT user_id, campaign_id FROM agent_campaign_logins"):
        old = found.get(int(r["user_id"]), Logins())
        found[int(r["user_id"])] = Logins(old.queues, old.campaigns | {int(r["campaign_id"])})
    return found


async def change_item(db: Database, user_id: int, kind: Kind, item_id: int, logged_in: bool,
                      source: Source, today: date, at: datetime | None = None) -> Change:
    """Log the agent in to / out of one queue or campaign they are a member of.

    Logging in while logged out overall logs them in overall too (to this one only).
    Refusals (crm/agent_queues.py) raise before anything is written. Returns the overall
    state, ``changed`` when anything changed.
    """
    at = at or clock.utc_now()
    when = clock.to_db(at)
    async with db.transaction() as tx:
        item = await queue_store.get_item(tx, kind, item_id)
        state = await _read(tx, user_id)
        current = await _logins(tx, user_id)
        if logged_in or item is None:
            check_login(item, user_id, today)
        new = current.with_item(kind, item_id, logged_in)
        result = Change(state, changed=False)
        if logged_in and state.status is Status.LOGGED_OUT:
            result = apply(state, Event.LOGIN, at)
            await _write_state(tx, user_id, result.state, source, when)
        if new != current:
            await _set_logins(tx, user_id, current, new, source, when)
            result = Change(result.state, changed=True)
    return result


async def choose_campaign(db: Database, user_id: int, campaign_id: int) -> Logins:
    """Send the agent's next outbound calls to ``campaign_id`` (one they are logged in to)."""
    async with db.transaction() as tx:
        current = await _logins(tx, user_id)
        check_choice(current, campaign_id)
        await tx.execute("UPDATE agent_states SET campaign_id = ? WHERE user_id = ?",
                         (campaign_id, user_id))
    return Logins(current.queues, current.campaigns, campaign_id)


async def outbound_campaign(db: Database, user_id: int) -> int | None:
    """The campaign a call the agent dials now belongs to (None: no campaign)."""
    current = await _logins(db, user_id)
    return pick_campaign(current.campaigns, current.chosen_campaign)


async def log(db: Database, user_id: int, start: datetime, end: datetime) -> list[LogEntry]:
    """The agent's states that overlap [start, end), oldest first (for reports)."""
    rows = await db.fetchall(
        "SELECT * FROM agent_state_log WHERE user_id = ? AND started_at < ?"
        " AND (ended_at IS NULL OR ended_at > ?) AND queue_id IS NULL AND campaign_id IS NULL"
        " ORDER BY started_at, id",
        (user_id, clock.to_db(end), clock.to_db(start)))
    return [_entry(r) for r in rows]


async def item_log(db: Database, user_id: int, start: datetime,
                   end: datetime) -> list[LogEntry]:
    """The agent's queue and campaign logins and logouts that overlap [start, end)."""
    rows = await db.fetchall(
        "SELECT * FROM agent_state_log WHERE user_id = ? AND started_at < ?"
        " AND (ended_at IS NULL OR ended_at > ?)"
        " AND (queue_id IS NOT NULL OR campaign_id IS NOT NULL) ORDER BY started_at, id",
        (user_id, clock.to_db(end), clock.to_db(start)))
    return [_entry(r) for r in rows]


def _entry(r: Row) -> LogEntry:
    return LogEntry(user_id=int(r["user_id"]), status=Status(r["status"]),
                    pause_code_id=r["pause_code_id"], source=r["source"],
                    started_at=clock.from_db(r["started_at"]),
                    ended_at=clock.from_db_optional(r["ended_at"]),
                    queue_id=r["queue_id"], campaign_id=r["campaign_id"])
