"""The disposition catalogue in the database: categories, forms and their fields,
dispositions, and the "must disposition before the next call" policy (the default, per
campaign and per inbound queue).

Checks live in crm/dispositions.py; this module stores what they accept. Nothing is ever
deleted that a finished call may point at: categories and dispositions are deactivated,
fields of a form may be removed (values already saved keep their text).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from crm import clock
from crm.db import Database, Row
from crm.dispositions import (
    Disposition,
    FieldDef,
    FieldType,
    Kind,
    Scenario,
    clean_field,
    clean_name,
    fold,
    policy_scopes,
)
from crm.errors import Conflict, NotFound


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    kind: Kind
    active: bool


@dataclass(frozen=True)
class Form:
    id: int
    name: str
    fields: tuple[tuple[int, FieldDef], ...]  # (field row id, definition), in order

    @property
    def definitions(self) -> tuple[FieldDef, ...]:
        return tuple(spec for _, spec in self.fields)


# -- categories ---------------------------------------------------------------------------

async def create_category(db: Database, name: str, kind: Kind) -> int:
    clean = clean_name(name)
    async with db.transaction() as tx:
        if await tx.fetchone("SELECT 1 FROM disposition_categories WHERE name_key = ?",
                             (fold(clean),)):
            raise Conflict(f"category {clean!r} exists", key="calls.error.name_taken")
        row = await tx.fetchone(
            "INSERT INTO disposition_categories (name, name_key, kind, created_at)"
            " VALUES (?, ?, ?, ?) RETURNING id",
            (clean, fold(clean), kind.value, clock.to_db(clock.utc_now())))
    assert row is not None
    return int(row["id"])


async def list_categories(db: Database) -> list[Category]:
    rows = await db.fetchall(
        "SELECT id, name, kind, active FROM disposition_categories ORDER BY name_key")
    return [Category(int(r["id"]), r["name"], Kind(r["kind"]), bool(r["active"]))
            for r in rows]


async def set_category_active(db: Database, category_id: int, active: bool) -> None:
    if not await db.execute("UPDATE disposition_categories SET active = ? WHERE id = ?",
                            (int(active), category_id)):
        raise NotFound(f"category {category_id}")


# -- forms --------------------------------------------------------------------------------

async def create_form(db: Database, name: str) -> int:
    clean = clean_name(name)
    async with db.transaction() as tx:
        if await tx.fetchone("SELECT 1 FROM disposition_forms WHERE name_key = ?",
                             (fold(clean),)):
            raise Conflict(f"form {clean!r} exists", key="calls.error.name_taken")
        row = await tx.fetchone(
            "INSERT INTO disposition_forms (name, name_key, created_at) VALUES (?, ?, ?)"
            " RETURNING id", (clean, fold(clean), clock.to_db(clock.utc_now())))
    assert row is not None
    return int(row["id"])


def _field(row: Row) -> FieldDef:
    return FieldDef(name=row["name"], label=row["label"], type=FieldType(row["type"]),
                    required=bool(row["required"]), choices=tuple(json.loads(row["choices"])))


async def list_forms(db: Database) -> list[Form]:
    forms = await db.fetchall("SELECT id, name FROM disposition_forms ORDER BY name_key")
    fields = await db.fetchall(
        "SELECT id, form_id, name, label, type, required, choices FROM disposition_form_fields"
        " ORDER BY form_id, position, id")
    by_form: dict[int, list[tuple[int, FieldDef]]] = {}
    for row in fields:
        by_form.setdefault(int(row["form_id"]), []).append((int(row["id"]), _field(row)))
    return [Form(int(f["id"]), f["name"], tuple(by_form.get(int(f["id"]), [])))
            for f in forms]


async def form_fields(db: Database, form_ids: Iterable[int]) -> dict[int, list[FieldDef]]:
    """The fields of each form in ``form_ids``, in order."""
    ids = sorted(set(form_ids))
    if not ids:
        return {}
    rows = await db.fetchall(
        "SELECT form_id, name, label, type, required, choices FROM disposition_form_fields"
        f" WHERE form_id IN ({', '.join('?' * len(ids))}) ORDER BY form_id, position, id", ids)
    found: dict[int, list[FieldDef]] = {i: [] for i in ids}
    for row in rows:
        found[int(row["form_id"])].append(_field(row))
    return found


async def add_field(db: Database, form_id: int, label: str, type_: str, required: bool,
                    choices: list[str]) -> FieldDef:
    async with db.transaction() as tx:
        if not await tx.fetchone("SELECT 1 FROM disposition_forms WHERE id = ?", (form_id,)):
            raise NotFound(f"form {form_id}")
        rows = await tx.fetchall(
            "SELECT name, position FROM disposition_form_fields WHERE form_id = ?", (form_id,))
        spec = clean_field(label, type_, required, choices, (r["name"] for r in rows))
        position = max((int(r["position"]) for r in rows), default=0) + 1
        await tx.execute(
            "INSERT INTO disposition_form_fields (form_id, name, label, type, required,"
            " choices, position) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (form_id, spec.name, spec.label, spec.type.value, int(spec.required),
             json.dumps(list(spec.choices), ensure_ascii=False), position))
    return spec


async def remove_field(db: Database, form_id: int, field_id: int) -> None:
    if not await db.execute("DELETE FROM disposition_form_fields WHERE id = ? AND form_id = ?",
                            (field_id, form_id)):
        raise NotFound(f"field {field_id}")


# -- dispositions -------------------------------------------------------------------------

_SCENARIO_COLUMNS = {Scenario.INBOUND: "for_inbound", Scenario.MANUAL: "for_manual",
                     Scenario.DIALER: "for_dialer"}


async def create_disposition(db: Database, name: str, category_id: int, form_id: int | None,
                             scenarios: frozenset[Scenario],
                             campaign_id: int | None = None,
                             queue_id: int | None = None) -> int:
    """A new disposition, offered everywhere, in ``campaign_id`` or in calls of
    ``queue_id`` (not both: a call of a queue has no campaign)."""
    if campaign_id is not None and queue_id is not None:
        raise ValueError("a disposition belongs to a campaign or a queue, not both")
    clean = clean_name(name)
    async with db.transaction() as tx:
        if not await tx.fetchone("SELECT 1 FROM disposition_categories WHERE id = ?",
                                 (category_id,)):
            raise NotFound(f"category {category_id}", key="calls.error.category_not_found")
        if form_id is not None and not await tx.fetchone(
                "SELECT 1 FROM disposition_forms WHERE id = ?", (form_id,)):
            raise NotFound(f"form {form_id}", key="calls.error.form_not_found")
        if await tx.fetchone(
                "SELECT 1 FROM dispositions WHERE COALESCE(campaign_id, 0) = ?"
                " AND COALESCE(queue_id, 0) = ? AND name_key = ?",
                (campaign_id or 0, queue_id or 0, fold(clean))):
            raise Conflict(f"disposition {clean!r} exists", key="calls.error.name_taken")
        row = await tx.fetchone(
            "INSERT INTO dispositions (category_id, name, name_key, form_id, campaign_id,"
            " queue_id, for_inbound, for_manual, for_dialer, position, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " (SELECT COALESCE(MAX(position), 0) + 1 FROM dispositions), ?) RETURNING id",
            (category_id, clean, fold(clean), form_id, campaign_id, queue_id,
             *(int(s in scenarios) for s in _SCENARIO_COLUMNS),
             clock.to_db(clock.utc_now())))
    assert row is not None
    return int(row["id"])


async def list_dispositions(db: Database) -> list[Disposition]:
    """Every disposition, active or not, in the order agents see them."""
    rows = await db.fetchall(
        "SELECT d.id, d.name, d.category_id, c.name AS category, c.kind, d.form_id,"
        " d.campaign_id, d.queue_id, d.for_inbound, d.for_manual, d.for_dialer,"
        " d.active AND c.active AS active"
        " FROM dispositions d JOIN disposition_categories c ON c.id = d.category_id"
        " ORDER BY d.position, d.id")
    return [Disposition(
        id=int(r["id"]), name=r["name"], category_id=int(r["category_id"]),
        category=r["category"], kind=Kind(r["kind"]),
        form_id=None if r["form_id"] is None else int(r["form_id"]),
        campaign_id=None if r["campaign_id"] is None else int(r["campaign_id"]),
        queue_id=None if r["queue_id"] is None else int(r["queue_id"]),
        scenarios=frozenset(s for s, column in _SCENARIO_COLUMNS.items() if r[column]),
        active=bool(r["active"])) for r in rows]


async def set_disposition_active(db: Database, disposition_id: int, active: bool) -> None:
    if not await db.execute("UPDATE dispositions SET active = ? WHERE id = ?",
                            (int(active), disposition_id)):
        raise NotFound(f"disposition {disposition_id}")


async def disposition_names(db: Database, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await db.fetchall(
        f"SELECT id, name FROM dispositions WHERE id IN ({', '.join('?' * len(wanted))})",
        wanted)
    return {int(r["id"]): r["name"] for r in rows}


# -- policy -------------------------------------------------------------------------------

async def must_disposition(db: Database, campaign_id: int | None = None,
                           queue_id: int | None = None) -> bool:
    """Whether calls of ``campaign_id``, or through ``queue_id`` (neither: the default),
    must be dispositioned before the agent's next call (crm/dispositions.policy_scopes)."""
    rows = await db.fetchall(
        "SELECT campaign_id, queue_id, must_disposition FROM disposition_policies"
        " WHERE COALESCE(campaign_id, 0) = ? OR (campaign_id IS NULL AND"
        " COALESCE(queue_id, 0) IN (0, ?))", (campaign_id or 0, queue_id or 0))
    stored = {(r["campaign_id"], r["queue_id"]): bool(r["must_disposition"]) for r in rows}
    for scope in policy_scopes(campaign_id, queue_id):
        if scope in stored:
            return stored[scope]
    return False


async def queue_policies(db: Database) -> dict[int, bool]:
    """The queues with a "must disposition" setting of their own, and that setting."""
    rows = await db.fetchall(
        "SELECT queue_id, must_disposition FROM disposition_policies"
        " WHERE campaign_id IS NULL AND queue_id IS NOT NULL")
    return {int(r["queue_id"]): bool(r["must_disposition"]) for r in rows}


async def set_must_disposition(db: Database, required: bool,
                               campaign_id: int | None = None,
                               queue_id: int | None = None) -> None:
    """Store the setting of a campaign, of a queue, or (neither) the default."""
    if campaign_id is not None and queue_id is not None:
        raise ValueError("a policy belongs to a campaign or a queue, not both")
    stamp = clock.to_db(clock.utc_now())
    async with db.transaction() as tx:
        changed = await tx.execute(
            "UPDATE disposition_policies SET must_disposition = ?, updated_at = ?"
            " WHERE COALESCE(campaign_id, 0) = ? AND COALESCE(queue_id, 0) = ?",
            (int(required), stamp, campaign_id or 0, queue_id or 0))
        if not changed:
            await tx.execute(
                "INSERT INTO disposition_policies (campaign_id, queue_id, must_disposition,"
                " updated_at) VALUES (?, ?, ?, ?)",
                (campaign_id, queue_id, int(required), stamp))
