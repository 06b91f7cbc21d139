"""Tickets in SQL: create, read, edit, actions, the filtered list and the calendar's query.

A thin adapter around crm/tickets.py: the rules (cleaning, transitions, derived state,
who may see what, the log entries) are there. Every write runs in one transaction with
the log entries it causes, so a ticket never changes without its log saying so. Values a
caller passes are cleaned again here; an agent or contact that does not exist is an
``InvalidValue`` and nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from crm import clock, contact_search, tickets
from crm.db import Database, Row, Transaction
from crm.errors import InvalidValue, NotFound
from crm.tickets import (
    ActionDraft,
    ActionEvent,
    ActionState,
    LogEntry,
    Priority,
    TicketDraft,
    TicketFilter,
    TicketState,
    Viewer,
)
from crm.users import User

PER_PAGE = 25
MAX_PAGE = 10_000


@dataclass(frozen=True)
class Action:
    id: int
    ticket_id: int
    description: str
    state: ActionState
    due_at: datetime | None
    agent_id: int | None
    agent_name: str | None
    created_at: datetime

    @property
    def events(self) -> list[ActionEvent]:
        return tickets.events_from(self.state)


@dataclass(frozen=True)
class Ticket:
    id: int
    contact_id: int
    contact_name: str
    contact_owner_id: int | None
    company_id: int | None
    company_name: str | None
    subject: str
    description: str
    priority: Priority
    agent_id: int | None
    agent_name: str | None
    group: str
    created_at: datetime
    updated_at: datetime
    actions: tuple[Action, ...]

    @property
    def state(self) -> TicketState:
        return tickets.derive_state(a.state for a in self.actions)

    def visible_to(self, viewer: Viewer) -> bool:
        return viewer.may_see(self.agent_id, self.contact_owner_id,
                              (a.agent_id for a in self.actions))

    def draft(self) -> TicketDraft:
        return TicketDraft(self.contact_id, self.subject, self.description, self.priority,
                           self.agent_id, self.group)


@dataclass(frozen=True)
class TicketRow:
    """A ticket as the list shows it."""

    id: int
    subject: str
    contact_id: int
    contact_name: str
    company_name: str | None
    priority: Priority
    agent_name: str | None
    group: str
    created_at: datetime
    state: TicketState
    pending: int


@dataclass(frozen=True)
class TicketPage:
    rows: list[TicketRow]
    page: int
    has_next: bool


@dataclass(frozen=True)
class ScheduledAction:
    """A ticket action with a due time, for the calendar."""

    action_id: int
    ticket_id: int
    subject: str
    contact_id: int
    contact_name: str
    description: str
    state: ActionState
    due_at: datetime
    agent_id: int | None
    agent_name: str | None


_TICKET = (
    "SELECT t.*, c.name AS contact_name, c.owner_id AS contact_owner_id, c.company_id,"
    " co.name AS company_name, u.display_name AS agent_name"
    " FROM tickets t JOIN contacts c ON c.id = t.contact_id"
    " LEFT JOIN contacts co ON co.id = c.company_id"
    " LEFT JOIN users u ON u.id = t.agent_id"
)
_ACTIONS = (
    "SELECT a.*, u.display_name AS agent_name FROM ticket_actions a"
    " LEFT JOIN users u ON u.id = a.agent_id"
)


def _action(row: Row) -> Action:
    return Action(int(row["id"]), int(row["ticket_id"]), row["description"],
                  ActionState(row["state"]), clock.from_db_optional(row["due_at"]),
                  row["agent_id"], row["agent_name"], clock.from_db(row["created_at"]))


async def _user_name(tx: Transaction, user_id: int | None) -> str:
    if user_id is None:
        return ""
    row = await tx.fetchone("SELECT display_name FROM users WHERE id = ?", (user_id,))
    if row is None:
        raise InvalidValue(f"user {user_id} does not exist", key="tickets.error.bad_agent")
    return str(row["display_name"])


def _clean(draft: TicketDraft) -> TicketDraft:
    return replace(draft, subject=tickets.clean_subject(draft.subject),
                   description=tickets.clean_description(draft.description),
                   priority=tickets.parse_priority(draft.priority),
                   group=tickets.clean_group(draft.group))


async def _write_log(tx: Transaction, ticket_id: int, entries: Sequence[LogEntry],
                     by: User) -> None:
    for e in entries:
        await tx.execute(
            "INSERT INTO ticket_log (ticket_id, action_id, field, old_value, new_value,"
            " user_id, user_name, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ticket_id, e.action_id, e.field, e.old, e.new, by.id, by.display_name,
             clock.to_db(e.at)))


async def _insert_action(tx: Transaction, ticket_id: int, draft: ActionDraft, by: User,
                         now: datetime) -> int:
    description = tickets.clean_action(draft.description)
    agent_name = await _user_name(tx, draft.agent_id)
    count = await tx.fetchone("SELECT COUNT(*) AS n FROM ticket_actions WHERE ticket_id = ?",
                              (ticket_id,))
    if count is not None and int(count["n"]) >= tickets.MAX_ACTIONS:
        raise InvalidValue("too many actions", key="tickets.error.too_many_actions",
                           max=tickets.MAX_ACTIONS)
    stamp = clock.to_db(now)
    row = await tx.fetchone(
        "INSERT INTO ticket_actions (ticket_id, description, state, due_at, agent_id,"
        " created_by, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)"
        " RETURNING id",
        (ticket_id, description,
         None if draft.due_at is None else clock.to_db(draft.due_at),
         draft.agent_id, by.id, stamp, stamp))
    assert row is not None
    action_id = int(row["id"])
    entries = [LogEntry("action.added", "", description, by.id, now, action_id)]
    if draft.due_at is not None:
        entries.append(LogEntry("action.due", "", clock.to_db(draft.due_at), by.id, now,
                                action_id))
    if agent_name:
        entries.append(LogEntry("action.agent", "", agent_name, by.id, now, action_id))
    await _write_log(tx, ticket_id, entries, by)
    await tx.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (stamp, ticket_id))
    return action_id


async def create_ticket(db: Database, draft: TicketDraft, by: User,
                        first_action: ActionDraft | None = None) -> int:
    """Store a new ticket (and its first action); return its id."""
    draft = _clean(draft)
    now = clock.utc_now()
    stamp = clock.to_db(now)
    async with db.transaction() as tx:
        if await tx.fetchone("SELECT 1 FROM contacts WHERE id = ?",
                             (draft.contact_id,)) is None:
            raise InvalidValue(f"contact {draft.contact_id} does not exist",
                               key="tickets.error.contact_not_found")
        agent_name = await _user_name(tx, draft.agent_id)
        row = await tx.fetchone(
            "INSERT INTO tickets (contact_id, subject, description, priority, agent_id,"
            " group_name, created_by, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (draft.contact_id, draft.subject, draft.description, draft.priority.value,
             draft.agent_id, draft.group, by.id, stamp, stamp))
        assert row is not None
        ticket_id = int(row["id"])
        # The creation is logged as every field going from nothing to its first value.
        entries = [LogEntry("created", "", "", by.id, now),
                   *tickets.diff_fields({}, tickets.shown_values(draft, agent_name),
                                        by.id, now)]
        await _write_log(tx, ticket_id, entries, by)
        if first_action is not None:
            await _insert_action(tx, ticket_id, first_action, by, now)
    return ticket_id


async def get_ticket(db: Database, ticket_id: int) -> Ticket | None:
    row = await db.fetchone(f"{_TICKET} WHERE t.id = ?", (ticket_id,))
    if row is None:
        return None
    actions = await db.fetchall(f"{_ACTIONS} WHERE a.ticket_id = ? ORDER BY a.id",
                                (ticket_id,))
    return Ticket(
        id=int(row["id"]), contact_id=int(row["contact_id"]),
        contact_name=row["contact_name"], contact_owner_id=row["contact_owner_id"],
        company_id=row["company_id"], company_name=row["company_name"],
        subject=row["subject"], description=row["description"],
        priority=Priority(row["priority"]), agent_id=row["agent_id"],
        agent_name=row["agent_name"], group=row["group_name"],
        created_at=clock.from_db(row["created_at"]),
        updated_at=clock.from_db(row["updated_at"]),
        actions=tuple(_action(a) for a in actions),
    )


async def ticket_log(db: Database, ticket_id: int) -> list[LogEntry]:
    """Every change to the ticket, oldest first."""
    rows = await db.fetchall("SELECT * FROM ticket_log WHERE ticket_id = ? ORDER BY id",
                             (ticket_id,))
    return [LogEntry(r["field"], r["old_value"], r["new_value"], r["user_id"],
                     clock.from_db(r["at"]), r["action_id"], r["user_name"]) for r in rows]


async def update_ticket(db: Database, ticket_id: int, draft: TicketDraft,
                        by: User) -> list[LogEntry]:
    """Save the editable fields; return the log entries written (none if nothing
    changed). The contact stays the ticket's own."""
    draft = _clean(draft)
    now = clock.utc_now()
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT t.*, u.display_name AS agent_name FROM tickets t"
            " LEFT JOIN users u ON u.id = t.agent_id WHERE t.id = ?", (ticket_id,))
        if row is None:
            raise NotFound(f"ticket {ticket_id}", key="tickets.error.not_found")
        before = TicketDraft(int(row["contact_id"]), row["subject"], row["description"],
                             Priority(row["priority"]), row["agent_id"], row["group_name"])
        new_agent = (row["agent_name"] or "" if draft.agent_id == before.agent_id
                     else await _user_name(tx, draft.agent_id))
        entries = tickets.diff_fields(
            tickets.shown_values(before, row["agent_name"] or ""),
            tickets.shown_values(draft, new_agent), by.id, now)
        # A new agent of the same name is still a change.
        if draft.agent_id != before.agent_id and not any(e.field == "agent" for e in entries):
            entries.append(LogEntry("agent", row["agent_name"] or "", new_agent, by.id, now))
        if not entries:
            return []
        await tx.execute(
            "UPDATE tickets SET subject = ?, description = ?, priority = ?, agent_id = ?,"
            " group_name = ?, updated_at = ? WHERE id = ?",
            (draft.subject, draft.description, draft.priority.value, draft.agent_id,
             draft.group, clock.to_db(now), ticket_id))
        await _write_log(tx, ticket_id, entries, by)
    return entries


async def add_action(db: Database, ticket_id: int, draft: ActionDraft, by: User) -> int:
    """Add a pending action to a ticket; return its id."""
    async with db.transaction() as tx:
        if await tx.fetchone("SELECT 1 FROM tickets WHERE id = ?", (ticket_id,)) is None:
            raise NotFound(f"ticket {ticket_id}", key="tickets.error.not_found")
        return await _insert_action(tx, ticket_id, draft, by, clock.utc_now())


async def change_action(db: Database, ticket_id: int, action_id: int, event: ActionEvent,
                        by: User) -> ActionState:
    """Apply ``event`` to one of the ticket's actions (through the transition table)."""
    now = clock.utc_now()
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT state FROM ticket_actions WHERE id = ? AND ticket_id = ?",
            (action_id, ticket_id))
        if row is None:
            raise NotFound(f"action {action_id} of ticket {ticket_id}",
                           key="tickets.error.action_not_found")
        old = ActionState(row["state"])
        new = tickets.next_action_state(old, event)
        stamp = clock.to_db(now)
        await tx.execute("UPDATE ticket_actions SET state = ?, updated_at = ? WHERE id = ?",
                         (new.value, stamp, action_id))
        await tx.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (stamp, ticket_id))
        await _write_log(tx, ticket_id, [LogEntry("action.state", old.value, new.value,
                                                  by.id, now, action_id)], by)
    return new


# -- The list ----------------------------------------------------------------------------

def _has(state: str) -> str:
    # ``state`` is one of the fixed names below, never input.
    return (f"EXISTS (SELECT 1 FROM ticket_actions a WHERE a.ticket_id = t.id"
            f" AND a.state = '{state}')")


_ANY_ACTION = "EXISTS (SELECT 1 FROM ticket_actions a WHERE a.ticket_id = t.id)"
# crm.tickets.derive_state as SQL (test_crm_tickets checks they agree).
STATE_SQL = {
    TicketState.OPEN: f"({_has('pending')} OR NOT {_ANY_ACTION})",
    TicketState.DONE: f"(NOT {_has('pending')} AND {_has('done')})",
    TicketState.CANCELLED: (f"(NOT {_has('pending')} AND NOT {_has('done')}"
                            f" AND {_has('cancelled')})"),
}


def build_query(where: TicketFilter, viewer: Viewer, *, limit: int, offset: int,
                region: str = "", area_code: str = "") -> tuple[str, list[object]]:
    """The list's SQL and parameters: the filter, and the viewer's authorization.
    ``region``/``area_code`` read a phone number typed in the contact search."""
    clauses: list[str] = []
    params: list[object] = []
    if not viewer.sees_everyone:
        clauses.append("(t.agent_id = ? OR c.owner_id = ? OR EXISTS (SELECT 1 FROM"
                       " ticket_actions a WHERE a.ticket_id = t.id AND a.agent_id = ?))")
        params += [viewer.user_id] * 3
    if where.state is not None:
        clauses.append(STATE_SQL[where.state])
    if where.since is not None:
        clauses.append("t.created_at >= ?")
        params.append(clock.to_db(where.since))
    if where.until is not None:
        clauses.append("t.created_at < ?")
        params.append(clock.to_db(where.until))
    if where.contact_id is not None:
        clauses.append("t.contact_id = ?")
        params.append(where.contact_id)
    if where.agent_id is not None:
        clauses.append("t.agent_id = ?")
        params.append(where.agent_id)
    if where.company_id is not None:
        clauses.append("(c.company_id = ? OR c.id = ?)")
        params += [where.company_id, where.company_id]
    if where.priority is not None:
        clauses.append("t.priority = ?")
        params.append(where.priority.value)
    # The contacts list's own search, tested on each ticket's contact row ``c``.
    found = contact_search.plan_search(where.contact_query, region, area_code)
    if found is not None:
        clauses.append(found.check)
        params += found.check_params
    sql = (
        "SELECT t.id, t.subject, t.contact_id, c.name AS contact_name,"
        " co.name AS company_name, t.priority, u.display_name AS agent_name,"
        " t.group_name, t.created_at"
        " FROM tickets t JOIN contacts c ON c.id = t.contact_id"
        " LEFT JOIN contacts co ON co.id = c.company_id"
        " LEFT JOIN users u ON u.id = t.agent_id"
        + (" WHERE " + " AND ".join(clauses) if clauses else "")
        + " ORDER BY t.created_at DESC, t.id DESC LIMIT ? OFFSET ?"
    )
    return sql, [*params, limit, offset]


async def search(db: Database, where: TicketFilter, viewer: Viewer, *, page: int = 1,
                 per_page: int = PER_PAGE, region: str = "",
                 area_code: str = "") -> TicketPage:
    """One page of the tickets ``viewer`` may see under ``where``, newest first."""
    page = max(1, min(page, MAX_PAGE))
    sql, params = build_query(where, viewer, limit=per_page + 1,
                              offset=(page - 1) * per_page, region=region,
                              area_code=area_code)
    rows = await db.fetchall(sql, params)
    shown = rows[:per_page]
    states: dict[int, list[ActionState]] = {int(r["id"]): [] for r in shown}
    if states:
        marks = ", ".join("?" * len(states))
        for a in await db.fetchall(
            f"SELECT ticket_id, state FROM ticket_actions WHERE ticket_id IN ({marks})",
            list(states),
        ):
            states[int(a["ticket_id"])].append(ActionState(a["state"]))
    return TicketPage(
        rows=[TicketRow(
            id=int(r["id"]), subject=r["subject"], contact_id=int(r["contact_id"]),
            contact_name=r["contact_name"], company_name=r["company_name"],
            priority=Priority(r["priority"]), agent_name=r["agent_name"],
            group=r["group_name"], created_at=clock.from_db(r["created_at"]),
            state=tickets.derive_state(states[int(r["id"])]),
            pending=states[int(r["id"])].count(ActionState.PENDING),
        ) for r in shown],
        page=page,
        has_next=len(rows) > per_page,
    )


# -- The calendar ------------------------------------------------------------------------

async def actions_between(db: Database, start: datetime, end: datetime,
                          agent_id: int | None) -> list[ScheduledAction]:
    """Ticket actions due in [``start``, ``end``) (aware datetimes), by due time; only
    ``agent_id``'s when given. Every state is returned: the caller shows or hides done
    and cancelled ones."""
    sql = (
        "SELECT a.id, a.ticket_id, t.subject, t.contact_id, c.name AS contact_name,"
        " a.description, a.state, a.due_at, a.agent_id, u.display_name AS agent_name"
        " FROM ticket_actions a JOIN tickets t ON t.id = a.ticket_id"
        " JOIN contacts c ON c.id = t.contact_id LEFT JOIN users u ON u.id = a.agent_id"
        " WHERE a.due_at IS NOT NULL AND a.due_at >= ? AND a.due_at < ?"
    )
    params: list[object] = [clock.to_db(start), clock.to_db(end)]
    if agent_id is not None:
        sql += " AND a.agent_id = ?"
        params.append(agent_id)
    rows = await db.fetchall(sql + " ORDER BY a.due_at, a.id", params)
    return [ScheduledAction(int(r["id"]), int(r["ticket_id"]), r["subject"],
                            int(r["contact_id"]), r["contact_name"], r["description"],
                            ActionState(r["state"]), clock.from_db(r["due_at"]),
                            r["agent_id"], r["agent_name"]) for r in rows]
