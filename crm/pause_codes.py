"""Pause codes: the reasons an agent may give for a pause, defined by administrators.

A code is what the agent dials after ``**2`` on the keypad, so it is 1-4 digits; the name
is what everyone reads. Codes are deactivated, never deleted, so the state log and the
reports keep their meaning.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from crm import clock
from crm.db import Database, Row
from crm.errors import Conflict, InvalidValue, NotFound

_CODE = re.compile(r"^[0-9]{1,4}$")
MAX_NAME = 60


@dataclass(frozen=True)
class PauseCode:
    id: int
    code: str
    name: str
    productive: bool
    active: bool


def clean_code(code: str) -> str:
    text = code.strip()
    if not _CODE.match(text):
        raise InvalidValue(f"pause code {code!r}: use 1-4 digits", key="pause.invalid_code")
    return text


def clean_name(name: str) -> str:
    text = " ".join(name.split())
    if not text or len(text) > MAX_NAME or any(
            unicodedata.category(ch).startswith("C") for ch in text):
        raise InvalidValue(f"pause name {name!r}: 1-{MAX_NAME} characters",
                           key="pause.invalid_name", max=MAX_NAME)
    return text


def _from_row(row: Row) -> PauseCode:
    return PauseCode(id=int(row["id"]), code=row["code"], name=row["name"],
                     productive=bool(row["productive"]), active=bool(row["active"]))


async def create(db: Database, code: str, name: str, productive: bool) -> PauseCode:
    code, name = clean_code(code), clean_name(name)
    async with db.transaction() as tx:
        if await tx.fetchone("SELECT 1 FROM pause_codes WHERE code = ?", (code,)):
            raise Conflict(f"pause code {code} exists", key="pause.code_taken", code=code)
        row = await tx.fetchone(
            "INSERT INTO pause_codes (code, name, productive, created_at) VALUES (?, ?, ?, ?)"
            " RETURNING *", (code, name, int(productive), clock.to_db(clock.utc_now())))
    assert row is not None
    return _from_row(row)


async def update(db: Database, pause_id: int, name: str, productive: bool,
                 active: bool) -> PauseCode:
    """Rename, reclassify or (de)activate a code; the digits never change."""
    name = clean_name(name)
    row = await db.fetchone(
        "UPDATE pause_codes SET name = ?, productive = ?, active = ? WHERE id = ? RETURNING *",
        (name, int(productive), int(active), pause_id))
    if row is None:
        raise NotFound(f"pause code {pause_id}", key="pause.not_found")
    return _from_row(row)


async def list_codes(db: Database, *, active_only: bool = False) -> list[PauseCode]:
    where = " WHERE active = 1" if active_only else ""
    rows = await db.fetchall(f"SELECT * FROM pause_codes{where} ORDER BY code")
    return [_from_row(r) for r in rows]


async def get(db: Database, pause_id: int) -> PauseCode | None:
    row = await db.fetchone("SELECT * FROM pause_codes WHERE id = ?", (pause_id,))
    return None if row is None else _from_row(row)


async def find_active(db: Database, code: str) -> PauseCode:
    """The active pause code an agent dialled or picked; ``NotFound`` otherwise."""
    row = await db.fetchone("SELECT * FROM pause_codes WHERE code = ? AND active = 1",
                            (code.strip(),))
    if row is None:
        raise NotFound(f"no active pause code {code!r}", key="pause.not_found")
    return _from_row(row)
