"""Missed calls in the database: loading what crm/missed_calls.py folds, storing actions,
e-mail subscriptions and the record of e-mails sent.

Pages, the badge and the statistics read the kept folded rows (crm/missed_row_store.py);
``load_rows`` and ``load_open_rows`` fold a window of calls afresh and remain as the
reference the tests and bench/missed_calls.py compare with.

Loading starts from the unanswered inbound legs in the time window (a partial index keeps
that small next to all calls), then fetches, by number, the calls that answer or follow
them up. Call records keep the number as the PBX or the agent wrote it, so the lookup
uses every spelling the window showed plus the usual ways to write the E.164 (with and
without country code or trunk prefix); a callback typed in some other spelling is not
seen as a callback.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers

from crm import clock, missed_row_store, phone_numbers
from crm.db import Database, Row
from crm.missed_calls import Action, ActionKind, Leg, MissedRow, caller_key, fold

_LEG_COLUMNS = ("id, user_id, direction, remote_number, remote_name, started_at,"
                " answered_at, ended_at, outcome")
# SQLite allows 999 parameters in old builds; stay well under.
_CHUNK = 400


def _at(text: str | None) -> datetime | None:
    # Stored instants are always UTC with their offset (crm/clock.py): no conversion.
    return None if text is None else datetime.fromisoformat(text)


_ACTION_COLUMNS = "caller_key, kind, user_id, at, sms_result, gateway_status"


def _action(row: Row) -> Action:
    return Action(row["caller_key"], ActionKind(row["kind"]), row["user_id"],
                  clock.from_db(row["at"]), row["sms_result"], row["gateway_status"])


def _leg(row: Row) -> Leg:
    started = _at(row["started_at"])
    assert started is not None
    return Leg(row["id"], int(row["user_id"]), row["direction"], row["remote_number"],
               row["remote_name"], started, _at(row["answered_at"]), _at(row["ended_at"]),
               row["outcome"])


@functools.lru_cache(maxsize=100_000)
def spellings(key: str) -> frozenset[str]:
    """Ways a PBX or an agent may have written the number ``key`` stands for (cached:
    the same callers come back on every page)."""
    if not key.startswith("+"):
        return frozenset({key})
    try:
        number = phonenumbers.parse(key, None)
    except phonenumbers.NumberParseException:
        return frozenset({key})
    national = str(number.national_number)
    country = str(number.country_code)
    return frozenset({key, national, "0" + national, country + national,
                      "00" + country + national})


def _chunks(values: Iterable[str]) -> list[list[str]]:
    items = sorted(values)
    return [items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK)]


@dataclass(frozen=True)
class Numbering:
    region: str
    area_code: str = ""

    def key(self, raw: str) -> str:
        return caller_key(raw, self.region, self.area_code)


async def load_rows(db: Database, numbering: Numbering, *, since: datetime,
                    now: datetime, retention_days: int) -> list[MissedRow]:
    """Every row (open or closed) whose missed attempts started from ``since`` on."""
    seeds = await db.fetchall(
        f"SELECT {_LEG_COLUMNS} FROM call_records"
        " WHERE direction = 'inbound' AND answered_at IS NULL AND started_at >= ?",
        (clock.to_db(since),))
    if not seeds:
        return []
    keys = {numbering.key(row["remote_number"]) for row in seeds}  # (cached per number)
    raw = {row["remote_number"] for row in seeds}
    for key in keys:
        raw |= spellings(key)
    legs = {row["id"]: _leg(row) for row in seeds}
    # The rest: what answered or followed up those calls. The unanswered inbound legs in
    # the window are the seeds already; a hunt group's first leg may have started just
    # before the window.
    start = clock.to_db(since - timedelta(minutes=5))
    for chunk in _chunks(raw):
        marks = ", ".join("?" for _ in chunk)
        for row in await db.fetchall(
                f"SELECT {_LEG_COLUMNS} FROM call_records"
                f" WHERE remote_number IN ({marks}) AND started_at >= ?"
                " AND (answered_at IS NOT NULL OR direction = 'outbound' OR started_at < ?)",
                (*chunk, start, clock.to_db(since))):
            legs.setdefault(row["id"], _leg(row))
    actions: list[Action] = []
    for chunk in _chunks(keys):
        marks = ", ".join("?" for _ in chunk)
        for row in await db.fetchall(
                f"SELECT {_ACTION_COLUMNS} FROM missed_call_actions"
                f" WHERE caller_key IN ({marks}) AND at >= ? ORDER BY id",
                (*chunk, clock.to_db(since))):
            actions.append(_action(row))
    mine = [leg for leg in legs.values() if numbering.key(leg.remote_number) in keys]
    return fold(mine, actions, numbering.key, now, timedelta(days=retention_days))


async def load_open_rows(db: Database, numbering: Numbering, *, now: datetime,
                         retention_days: int) -> list[MissedRow]:
    """Only the rows still listed (active or hidden): what the badge, the default list
    and the actions need, without folding each caller's whole month.

    A listed row can only hold what happened after the caller was last reached (an
    answered call either way closes any row), so one grouped query finds that moment
    per number and only the later calls are folded.
    """
    since = now - timedelta(days=retention_days)
    seeds = await db.fetchall(
        f"SELECT {_LEG_COLUMNS} FROM call_records"
        " WHERE direction = 'inbound' AND answered_at IS NULL AND started_at >= ?",
        (clock.to_db(since),))
    if not seeds:
        return []
    raw: set[str] = set()
    for key in {numbering.key(row["remote_number"]) for row in seeds}:
        raw |= spellings(key)
    raw |= {row["remote_number"] for row in seeds}
    reached: dict[str, str] = {}  # key -> last answer, as stored text (sorts as time)
    for chunk in _chunks(raw):
        marks = ", ".join("?" for _ in chunk)
        for row in await db.fetchall(
                "SELECT remote_number, MAX(answered_at) AS reached FROM call_records"
                f" WHERE remote_number IN ({marks}) AND answered_at >= ?"
                " GROUP BY remote_number", (*chunk, clock.to_db(since))):
            key = numbering.key(row["remote_number"])
            reached[key] = max(reached.get(key, ""), row["reached"])
    pending = [row for row in seeds
               if row["started_at"] > reached.get(numbering.key(row["remote_number"]), "")]
    keys = {numbering.key(row["remote_number"]) for row in pending}
    if not keys:
        return []
    legs = {row["id"]: _leg(row) for row in pending}
    raw = {row["remote_number"] for row in pending}
    for key in keys:
        raw |= spellings(key)
    start = clock.to_db(since - timedelta(minutes=5))
    for chunk in _chunks(raw):
        marks = ", ".join("?" for _ in chunk)
        for row in await db.fetchall(
                f"SELECT {_LEG_COLUMNS} FROM call_records"
                f" WHERE remote_number IN ({marks}) AND started_at >= ?"
                " AND (answered_at IS NOT NULL OR direction = 'outbound' OR started_at < ?)",
                (*chunk, start, clock.to_db(since))):
            key = numbering.key(row["remote_number"])
            if key in keys and row["started_at"] > reached.get(key, ""):
                legs.setdefault(row["id"], _leg(row))
    actions: list[Action] = []
    for chunk in _chunks(keys):
        marks = ", ".join("?" for _ in chunk)
        for row in await db.fetchall(
                f"SELECT {_ACTION_COLUMNS} FROM missed_call_actions"
                f" WHERE caller_key IN ({marks}) AND at >= ? ORDER BY id",
                (*chunk, clock.to_db(since))):
            if row["at"] > reached.get(row["caller_key"], ""):
                actions.append(_action(row))
    rows = fold(list(legs.values()), actions, numbering.key, now,
                timedelta(days=retention_days))
    return [row for row in rows if row.closure is None]


async def add_action(db: Database, key: str, kind: ActionKind, user_id: int,
                     at: datetime, sms_result: str = "",
                     gateway_status: int | None = None) -> None:
    """Record what a person did to a row (for an SMS, how it went), and refold the
    caller's kept rows in the same transaction."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO missed_call_actions (caller_key, kind, user_id, at, sms_result,"
            " gateway_status) VALUES (?, ?, ?, ?, ?, ?)",
            (key, kind.value, user_id, clock.to_db(at), sms_result, gateway_status))
        await missed_row_store.note_action(tx, key, clock.from_db(clock.to_db(at)))


async def contacts_of(db: Database, keys: Iterable[str]) -> dict[str, tuple[int, str]]:
    """The contact (id, name) each E.164 row key names, in one query for a page: the
    first by name of those having the number, as ``contacts.contacts_with_numbers(
    phone_numbers.match_keys(key), 1)`` finds it for one key."""
    wanted = {key: phone_numbers.match_keys(key) for key in keys if key.startswith("+")}
    numbers = {number for spelled in wanted.values() for number in spelled}
    found: dict[str, list[tuple[str, int, str]]] = {}
    for chunk in _chunks(numbers):
        marks = ", ".join("?" for _ in chunk)
        for row in await db.fetchall(
                "SELECT p.e164, c.id, c.name, c.name_key FROM contact_phones p"
                f" JOIN contacts c ON c.id = p.contact_id WHERE p.e164 IN ({marks})", chunk):
            found.setdefault(row["e164"], []).append(
                (row["name_key"], int(row["id"]), row["name"]))
    named: dict[str, tuple[int, str]] = {}
    for key, spelled in wanted.items():
        candidates = [c for number in spelled for c in found.get(number, [])]
        if candidates:
            _, contact_id, name = min(candidates)
            named[key] = (contact_id, name)
    return named


# -- e-mail subscriptions and notices ------------------------------------------------------

@dataclass(frozen=True)
class Subscription:
    user_id: int
    email: str


async def get_subscription(db: Database, user_id: int) -> Subscription | None:
    row = await db.fetchone(
        "SELECT user_id, email FROM missed_call_subscriptions WHERE user_id = ?", (user_id,))
    return None if row is None else Subscription(int(row["user_id"]), row["email"])


async def set_subscription(db: Database, user_id: int, email: str | None) -> None:
    """Subscribe ``user_id`` at ``email``; None unsubscribes."""
    if email is None:
        await db.execute("DELETE FROM missed_call_subscriptions WHERE user_id = ?", (user_id,))
        return
    await db.execute(
        "INSERT INTO missed_call_subscriptions (user_id, email, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET email = excluded.email,"
        " updated_at = excluded.updated_at",
        (user_id, email, clock.to_db(clock.utc_now())))


async def subscribers(db: Database) -> list[tuple[Subscription, str]]:
    """Active users who asked for e-mails, with their language ('' = deployment's)."""
    rows = await db.fetchall(
        "SELECT s.user_id, s.email, u.language FROM missed_call_subscriptions s"
        " JOIN users u ON u.id = s.user_id WHERE u.active = 1 ORDER BY s.user_id")
    return [(Subscription(int(r["user_id"]), r["email"]), r["language"]) for r in rows]


async def claim_notice(db: Database, call_record_id: str, at: datetime) -> bool:
    """Mark the missed attempt as announced; False if it already was."""
    changed = await db.execute(
        "INSERT INTO missed_call_notices (call_record_id, sent_at) VALUES (?, ?)"
        " ON CONFLICT (call_record_id) DO NOTHING", (call_record_id, clock.to_db(at)))
    return changed > 0


async def recently_missed(db: Database, ended_after: datetime,
                          started_after: datetime) -> list[Leg]:
    """Unanswered inbound legs that ended after ``ended_after`` (the mailer's poll)."""
    rows = await db.fetchall(
        f"SELECT {_LEG_COLUMNS} FROM call_records"
        " WHERE direction = 'inbound' AND answered_at IS NULL AND started_at >= ?"
        " AND ended_at > ? ORDER BY ended_at",
        (clock.to_db(started_after), clock.to_db(ended_after)))
    return [_leg(row) for row in rows]
