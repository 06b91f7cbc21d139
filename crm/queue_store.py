"""Where queues and campaigns are kept, with their members.

crm/queues.py decides what a valid name, PBX number or date is; this module checks what
needs the database (a name or PBX number already taken, members who exist) inside the
transaction that writes, so a refused change writes nothing.

Creating or renaming one also adopts the callbacks whose free-text queue (from before
queues existed, migration 0016) matches its name: they get the reference, the text stays.
"Must disposition before the next call" of a campaign is its row in
``disposition_policies``, the table crm/call_work.py's blocking query reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from crm import clock
from crm.contacts import fold
from crm.db import Database, Row, Transaction
from crm.errors import Conflict, InvalidValue, NotFound
from crm.queues import (
    Campaign,
    CampaignState,
    Kind,
    Queue,
    check_dates,
    clean_name,
    clean_pbx_number,
    pbx_key,
)

# Per kind: its table, its members table and the members' column.
_TABLES = {Kind.QUEUE: ("queues", "queue_members", "queue_id"),
           Kind.CAMPAIGN: ("campaigns", "campaign_members", "campaign_id")}


def _queue(row: Row, members: Iterable[int] = ()) -> Queue:
    return Queue(id=int(row["id"]), name=row["name"], pbx_number=row["pbx_number"],
                 archived=row["archived_at"] is not None, members=frozenset(members))


def _campaign(row: Row, members: Iterable[int] = ()) -> Campaign:
    return Campaign(
        id=int(row["id"]), name=row["name"], state=CampaignState(row["state"]),
        starts_on=date.fromisoformat(row["starts_on"]) if row["starts_on"] else None,
        ends_on=date.fromisoformat(row["ends_on"]) if row["ends_on"] else None,
        archived=row["archived_at"] is not None,
        must_disposition=bool(row["must_disposition"]), members=frozenset(members))


_CAMPAIGN_SELECT = (
    "SELECT c.*, COALESCE(p.must_disposition, 0) AS must_disposition FROM campaigns c"
    " LEFT JOIN disposition_policies p ON p.campaign_id = c.id")


async def _members(tx: Database | Transaction, kind: Kind,
                   ids: list[int]) -> dict[int, set[int]]:
    _, members, column = _TABLES[kind]
    found: dict[int, set[int]] = {i: set() for i in ids}
    if ids:
        rows = await tx.fetchall(
            f"SELECT {column} AS item, user_id FROM {members}"
            f" WHERE {column} IN ({', '.join('?' * len(ids))})", ids)
        for r in rows:
            found[int(r["item"])].add(int(r["user_id"]))
    return found


async def _check_name(tx: Transaction, kind: Kind, name: str, item_id: int | None) -> str:
    table = _TABLES[kind][0]
    clean = clean_name(name)
    row = await tx.fetchone(f"SELECT id FROM {table} WHERE name_key = ?", (fold(clean),))
    if row is not None and int(row["id"]) != item_id:
        raise Conflict(f"{kind} {clean!r} exists", key="queues.error.name_taken", title=clean)
    return clean


async def _check_pbx(tx: Transaction, number: str, queue_id: int | None) -> str:
    clean = clean_pbx_number(number)
    if clean:
        row = await tx.fetchone(
            "SELECT id, name FROM queues WHERE pbx_key = ? AND archived_at IS NULL",
            (pbx_key(clean),))
        if row is not None and int(row["id"]) != queue_id:
            raise Conflict(f"PBX number {clean} is taken", key="queues.error.pbx_taken",
                           number=clean, title=row["name"])
    return clean


async def _set_members(tx: Transaction, kind: Kind, item_id: int,
                       user_ids: Iterable[int]) -> None:
    _, members, column = _TABLES[kind]
    wanted = sorted(set(user_ids))
    if wanted:
        rows = await tx.fetchall(
            f"SELECT id FROM users WHERE active = 1 AND id IN ({', '.join('?' * len(wanted))})",
            wanted)
        if len(rows) != len(wanted):
            raise InvalidValue("a member is not an active user", key="queues.error.member")
    await tx.execute(f"DELETE FROM {members} WHERE {column} = ?", (item_id,))
    for user_id in wanted:
        await tx.execute(f"INSERT INTO {members} ({column}, user_id) VALUES (?, ?)",
                         (item_id, user_id))
    # Someone taken off a queue is logged out of it at once.
    await _log_out_everyone(tx, kind, item_id, keep=wanted)


async def _adopt_callbacks(tx: Transaction, kind: Kind, item_id: int, name: str) -> None:
    column = _TABLES[kind][2]
    await tx.execute(
        f"UPDATE callbacks SET {column} = ? WHERE queue_id IS NULL AND campaign_id IS NULL"
        " AND queue_key <> '' AND queue_key = ?", (item_id, fold(name)))


async def _set_policy(tx: Transaction, campaign_id: int, required: bool, stamp: str) -> None:
    changed = await tx.execute(
        "UPDATE disposition_policies SET must_disposition = ?, updated_at = ?"
        " WHERE campaign_id = ?", (int(required), stamp, campaign_id))
    if not changed:
        await tx.execute("INSERT INTO disposition_policies (campaign_id, must_disposition,"
                         " updated_at) VALUES (?, ?, ?)", (campaign_id, int(required), stamp))


# -- queues ---------------------------------------------------------------------------

async def save_queue(db: Database, queue_id: int | None, name: str, pbx_number: str,
                     members: Iterable[int]) -> Queue:
    """Create (``queue_id`` None) or change a queue; ``NotFound``/``Conflict``/
    ``InvalidValue`` change nothing."""
    stamp = clock.to_db(clock.utc_now())
    async with db.transaction() as tx:
        if queue_id is not None and not await tx.fetchone(
                "SELECT 1 FROM queues WHERE id = ?", (queue_id,)):
            raise NotFound(f"queue {queue_id}", key="queues.error.not_found")
        clean = await _check_name(tx, Kind.QUEUE, name, queue_id)
        number = await _check_pbx(tx, pbx_number, queue_id)
        if queue_id is None:
            row = await tx.fetchone(
                "INSERT INTO queues (name, name_key, pbx_number, pbx_key, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (clean, fold(clean), number, pbx_key(number), stamp, stamp))
            assert row is not None
            queue_id = int(row["id"])
        else:
            await tx.execute(
                "UPDATE queues SET name = ?, name_key = ?, pbx_number = ?, pbx_key = ?,"
                " updated_at = ? WHERE id = ?",
                (clean, fold(clean), number, pbx_key(number), stamp, queue_id))
        await _set_members(tx, Kind.QUEUE, queue_id, members)
        await _adopt_callbacks(tx, Kind.QUEUE, queue_id, clean)
    queue = await get_queue(db, queue_id)
    assert queue is not None
    return queue


async def get_queue(db: Database, queue_id: int) -> Queue | None:
    item = await get_item(db, Kind.QUEUE, queue_id)
    assert item is None or isinstance(item, Queue)
    return item


async def list_queues(db: Database, *, include_archived: bool = True) -> list[Queue]:
    where = "" if include_archived else " WHERE archived_at IS NULL"
    rows = await db.fetchall(f"SELECT * FROM queues{where} ORDER BY name_key")
    members = await _members(db, Kind.QUEUE, [int(r["id"]) for r in rows])
    return [_queue(r, members[int(r["id"])]) for r in rows]


async def queue_for_number(db: Database, number: str) -> Queue | None:
    """The live queue the PBX number a call arrived with belongs to, if any."""
    key = pbx_key(number)
    if not key:
        return None
    row = await db.fetchone(
        "SELECT * FROM queues WHERE pbx_key = ? AND archived_at IS NULL", (key,))
    return None if row is None else _queue(row)


# -- campaigns --------------------------------------------------------------------------

async def save_campaign(db: Database, campaign_id: int | None, name: str,
                        state: CampaignState, starts_on: date | None, ends_on: date | None,
                        must_disposition: bool, members: Iterable[int]) -> Campaign:
    """Create (``campaign_id`` None) or change a campaign; errors change nothing."""
    check_dates(starts_on, ends_on)
    stamp = clock.to_db(clock.utc_now())
    start = starts_on.isoformat() if starts_on else None
    end = ends_on.isoformat() if ends_on else None
    async with db.transaction() as tx:
        if campaign_id is not None and not await tx.fetchone(
                "SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)):
            raise NotFound(f"campaign {campaign_id}", key="queues.error.not_found")
        clean = await _check_name(tx, Kind.CAMPAIGN, name, campaign_id)
        if campaign_id is None:
            row = await tx.fetchone(
                "INSERT INTO campaigns (name, name_key, state, starts_on, ends_on, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (clean, fold(clean), state.value, start, end, stamp, stamp))
            assert row is not None
            campaign_id = int(row["id"])
        else:
            await tx.execute(
                "UPDATE campaigns SET name = ?, name_key = ?, state = ?, starts_on = ?,"
                " ends_on = ?, updated_at = ? WHERE id = ?",
                (clean, fold(clean), state.value, start, end, stamp, campaign_id))
        await _set_policy(tx, campaign_id, must_disposition, stamp)
        await _set_members(tx, Kind.CAMPAIGN, campaign_id, members)
        if state is CampaignState.PAUSED:  # nobody works a paused campaign
            await _log_out_everyone(tx, Kind.CAMPAIGN, campaign_id)
        await _adopt_callbacks(tx, Kind.CAMPAIGN, campaign_id, clean)
    campaign = await get_campaign(db, campaign_id)
    assert campaign is not None
    return campaign


async def get_campaign(db: Database, campaign_id: int) -> Campaign | None:
    item = await get_item(db, Kind.CAMPAIGN, campaign_id)
    assert item is None or isinstance(item, Campaign)
    return item


async def list_campaigns(db: Database, *, include_archived: bool = True) -> list[Campaign]:
    where = "" if include_archived else " WHERE c.archived_at IS NULL"
    rows = await db.fetchall(f"{_CAMPAIGN_SELECT}{where} ORDER BY c.name_key")
    members = await _members(db, Kind.CAMPAIGN, [int(r["id"]) for r in rows])
    return [_campaign(r, members[int(r["id"])]) for r in rows]


# -- both -------------------------------------------------------------------------------

async def set_archived(db: Database, kind: Kind, item_id: int, archived: bool) -> None:
    """Archive (out of every choice, everyone logged out of it) or bring back.

    Bringing back a queue whose PBX number another live queue took meanwhile is a
    ``Conflict``.
    """
    table = _TABLES[kind][0]
    async with db.transaction() as tx:
        row = await tx.fetchone(f"SELECT * FROM {table} WHERE id = ?", (item_id,))
        if row is None:
            raise NotFound(f"{kind} {item_id}", key="queues.error.not_found")
        if not archived and kind is Kind.QUEUE and row["pbx_number"]:
            await _check_pbx(tx, row["pbx_number"], item_id)
        await tx.execute(f"UPDATE {table} SET archived_at = ?, updated_at = ? WHERE id = ?",
                         (clock.to_db(clock.utc_now()) if archived else None,
                          clock.to_db(clock.utc_now()), item_id))
        if archived:
            await _log_out_everyone(tx, kind, item_id)


async def _log_out_everyone(tx: Transaction, kind: Kind, item_id: int,
                            keep: Iterable[int] = ()) -> None:
    """Take every agent but ``keep`` out of a queue or campaign, and say so
    in the state log as crm/agent_state_store.py does for an agent's own logout (same
    transaction: that module imports this one, so the rows are written here)."""
    column = _TABLES[kind][2]
    logins = "agent_queue_logins" if kind is Kind.QUEUE else "agent_campaign_logins"
    when = clock.to_db(clock.utc_now())
    staying = set(keep)
    for r in await tx.fetchall(f"SELECT user_id FROM {logins} WHERE {column} = ?", (item_id,)):
        if r["user_id"] in staying:
            continue
        await tx.execute(
            f"DELETE FROM {logins} WHERE {column} = ? AND user_id = ?", (item_id, r["user_id"]))
        await tx.execute(
            f"UPDATE agent_state_log SET ended_at = ? WHERE user_id = ? AND {column} = ?"
            " AND ended_at IS NULL", (when, r["user_id"], item_id))
        await tx.execute(
            f"INSERT INTO agent_state_log (user_id, status, source, started_at, {column})"
            " VALUES (?, 'logged_out', 'system', ?, ?)", (r["user_id"], when, item_id))
        if kind is Kind.CAMPAIGN:
            await tx.execute("UPDATE agent_states SET campaign_id = NULL"
                             " WHERE user_id = ? AND campaign_id = ?", (r["user_id"], item_id))


async def get_item(tx: Database | Transaction, kind: Kind,
                   item_id: int) -> Queue | Campaign | None:
    """A queue or campaign with its members (usable inside a transaction)."""
    sql = ("SELECT * FROM queues WHERE id = ?" if kind is Kind.QUEUE
           else f"{_CAMPAIGN_SELECT} WHERE c.id = ?")
    row = await tx.fetchone(sql, (item_id,))
    if row is None:
        return None
    members = (await _members(tx, kind, [item_id]))[item_id]
    return _queue(row, members) if kind is Kind.QUEUE else _campaign(row, members)


async def memberships(db: Database | Transaction,
                      user_id: int) -> tuple[list[Queue], list[Campaign]]:
    """The live (not archived) queues and campaigns the user is a member of."""
    queues = await db.fetchall(
        "SELECT q.* FROM queues q JOIN queue_members m ON m.queue_id = q.id"
        " WHERE m.user_id = ? AND q.archived_at IS NULL ORDER BY q.name_key", (user_id,))
    campaigns = await db.fetchall(
        f"{_CAMPAIGN_SELECT} JOIN campaign_members m ON m.campaign_id = c.id"
        " WHERE m.user_id = ? AND c.archived_at IS NULL ORDER BY c.name_key", (user_id,))
    return [_queue(r) for r in queues], [_campaign(r) for r in campaigns]


async def names(db: Database) -> dict[str, str]:
    """Every queue's and campaign's name by ref (``queue:3``), archived ones too."""
    found: dict[str, str] = {}
    for kind, (table, _, _) in _TABLES.items():
        for r in await db.fetchall(f"SELECT id, name FROM {table}"):
            found[f"{kind.value}:{r['id']}"] = r["name"]
    return found
