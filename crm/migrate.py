"""Schema migrations: numbered SQL files in ``crm/migrations``, applied once, in order.

A file is named ``NNNN_name.sql``. Each runs in its own transaction together with the row
recording it in ``schema_migrations``, so a failing migration leaves the schema as it was.
A database that has a migration this code does not know was written by a newer Headset;
start-up stops rather than run old code against a new schema.

SQLite cannot change a table's CHECK constraint in place: the table is rebuilt (create a
new one, copy, drop, rename). Dropping a table that others reference fires their
``ON DELETE`` actions, so such a migration starts with the line ``-- migrate: foreign
keys off``: it then runs with foreign keys off (a pragma that only takes effect outside a
transaction) and is committed only if ``PRAGMA foreign_key_check`` finds nothing broken.

The SQL is SQLite's dialect. A PostgreSQL implementation of ``Database`` brings its own
files and can reuse the ordering and bookkeeping here.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from crm import clock

if TYPE_CHECKING:
    from crm.db import Database

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_FOREIGN_KEYS_OFF = "-- migrate: foreign keys off"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    @property
    def foreign_keys_off(self) -> bool:
        """Whether this migration rebuilds a table others reference (module docstring)."""
        return self.sql.lstrip().startswith(_FOREIGN_KEYS_OFF)


def load_migrations(package: str = "crm", folder: str = "migrations") -> list[Migration]:
    """The migrations shipped with the code, checked to be numbered 1, 2, 3, ..."""
    found: list[Migration] = []
    for entry in (resources.files(package) / folder).iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            if entry.name.endswith(".sql"):
                raise ValueError(f"migration {entry.name}: name must look like 0001_name.sql")
            continue
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise ValueError(f"migrations: expected number {expected:04d}, found {migration.label}")
    return found


def split_statements(sql: str) -> list[str]:
    """Split a script into statements, with SQLite's own idea of where one ends.

    ``executescript`` would do this, but it commits first, which would take the
    migration out of its transaction.
    """
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not _only_comments(buffer):
        raise ValueError(f"migration ends inside a statement: {buffer.strip()[:60]!r}")
    return statements


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


async def apply_migrations(db: Database, migrations: list[Migration] | None = None) -> list[str]:
    """Apply what is missing; return the labels of the migrations applied."""
    migrations = load_migrations() if migrations is None else migrations
    await db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    rows = await db.fetchall("SELECT version FROM schema_migrations")
    done = {int(row["version"]) for row in rows}
    known = {m.version for m in migrations}
    unknown = sorted(done - known)
    if unknown:
        raise RuntimeError(
            f"database has schema version {unknown[-1]:04d}, newer than this Headset "
            f"(knows up to {max(known, default=0):04d}): upgrade Headset"
        )
    applied: list[str] = []
    for migration in migrations:
        if migration.version in done:
            continue
        if migration.foreign_keys_off:
            await db.execute("PRAGMA foreign_keys = OFF")
        try:
            await _apply(db, migration)
        finally:
            if migration.foreign_keys_off:
                await db.execute("PRAGMA foreign_keys = ON")
        applied.append(migration.label)
    return applied


async def _apply(db: Database, migration: Migration) -> None:
    async with db.transaction() as tx:
        for statement in split_statements(migration.sql):
            await tx.execute(statement)
        if migration.foreign_keys_off:
            broken = await tx.fetchall("PRAGMA foreign_key_check")
            if broken:
                first = broken[0]
                raise RuntimeError(
                    f"migration {migration.label} would leave {len(broken)} broken "
                    f"reference(s), first in table {first['table']!r}: rolled back"
                )
        await tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, clock.to_db(clock.utc_now())),
        )
