"""crm.db and crm.migrate: pragmas, migrations, transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm import migrate
from crm.db import Database, open_database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "sub" / "dir" / "crm.sqlite3")
    yield database
    await database.close()


async def test_open_creates_parent_and_sets_pragmas(db: Database) -> None:
    assert db.path.exists()
    journal = await db.fetchone("PRAGMA journal_mode")
    fks = await db.fetchone("PRAGMA foreign_keys")
    busy = await db.fetchone("PRAGMA busy_timeout")
    assert journal is not None and next(iter(journal.values())) == "wal"
    assert fks is not None and next(iter(fks.values())) == 1
    assert busy is not None and next(iter(busy.values())) >= 1000


async def test_migrations_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite3"
    first = await open_database(path)
    versions = [r["version"] for r in await first.fetchall(
        "SELECT version FROM schema_migrations ORDER BY version")]
    await first.close()
    assert versions == [m.version for m in migrate.load_migrations()]
    second = await open_database(path)
    try:
        assert await migrate.apply_migrations(second) == []
    finally:
        await second.close()


async def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite3"
    db = await open_database(path)
    await db.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'x', 'now')")
    await db.close()
    with pytest.raises(RuntimeError, match="newer than this Headset"):
        await open_database(path)


async def test_failed_migration_rolls_back(db: Database) -> None:
    bad = migrate.Migration(
        version=len(migrate.load_migrations()) + 1, name="bad",
        sql="CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n")
    with pytest.raises(Exception, match="nowhere"):
        await migrate.apply_migrations(db, [*migrate.load_migrations(), bad])
    assert await db.fetchone("SELECT name FROM sqlite_master WHERE name = 'half'") is None
    assert await db.fetchone("SELECT 1 FROM schema_migrations WHERE name = 'bad'") is None


def test_split_statements_respects_quotes_and_comments() -> None:
    sql = "-- a comment; with a semicolon\nCREATE TABLE t (x TEXT DEFAULT ';');\nSELECT 1;\n"
    assert migrate.split_statements(sql) == [
        "-- a comment; with a semicolon\nCREATE TABLE t (x TEXT DEFAULT ';');", "SELECT 1;"]
    with pytest.raises(ValueError, match="inside a statement"):
        migrate.split_statements("SELECT 1")


async def test_transaction_commits_and_rolls_back(db: Database) -> None:
    await db.execute("CREATE TABLE t (x INTEGER)")
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ZeroDivisionError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (2)")
            1 / 0  # noqa: B018
    assert await db.fetchall("SELECT x FROM t") == [{"x": 1}]


async def test_transactions_do_not_interleave(db: Database) -> None:
    await db.execute("CREATE TABLE counter (n INTEGER)")
    await db.execute("INSERT INTO counter VALUES (0)")

    async def bump() -> None:
        async with db.transaction() as tx:
            row = await tx.fetchone("SELECT n FROM counter")
            assert row is not None
            await asyncio.sleep(0)
            await tx.execute("UPDATE counter SET n = ?", (row["n"] + 1,))

    await asyncio.gather(*(bump() for _ in range(20)))
    assert await db.fetchone("SELECT n FROM counter") == {"n": 20}


async def test_nested_transaction_is_refused(db: Database) -> None:
    async with db.transaction():
        with pytest.raises(RuntimeError, match="inside a transaction"):
            async with db.transaction():
                pass
        with pytest.raises(RuntimeError, match="inside its own transaction"):
            await db.fetchone("SELECT 1")


async def _index_names(db: Database, table: str) -> set[str]:
    rows = await db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL", (table,))
    return {r["name"] for r in rows}


async def test_rebuilding_call_records_keeps_rows_references_and_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0018 rebuilds call_records with foreign keys off: a note on a call survives it."""
    every = migrate.load_migrations()
    rebuild = next(m for m in every if m.name == "transferred_outcome")
    assert rebuild.foreign_keys_off
    before = [m for m in every if m.version < rebuild.version]
    monkeypatch.setattr(migrate, "load_migrations", lambda: before)
    db = await open_database(tmp_path / "crm.sqlite3")
    try:
        indexes = await _index_names(db, "call_records")
        await db.execute(
            "INSERT INTO users (id, username, username_key, display_name, role, password_hash,"
            " created_at) VALUES (1, 'ana', 'ana', 'Ana', 'agent', 'x', 'now')")
        await db.execute(
            "INSERT INTO call_records (id, user_id, direction, local_number, remote_number,"
            " state, outcome, started_at, created_at, updated_at) VALUES"
            " ('c1', 1, 'inbound', '201', '600', 'ended', 'completed', 't', 't', 't')")
        await db.execute(
            "INSERT INTO call_notes (call_id, user_id, body, revision, updated_at)"
            " VALUES ('c1', 1, 'keep me', 1, 't')")
        # Up to the rebuild only: later migrations are not what this test is about.
        upto = [m for m in every if m.version <= rebuild.version]
        assert await migrate.apply_migrations(db, upto) == [rebuild.label]
        note = await db.fetchone("SELECT body FROM call_notes WHERE call_id = 'c1'")
        assert note is not None and note["body"] == "keep me"
        assert await _index_names(db, "call_records") == indexes
        fks = await db.fetchone("PRAGMA foreign_keys")
        assert fks is not None and next(iter(fks.values())) == 1
        await db.execute("UPDATE call_records SET outcome = 'transferred' WHERE id = 'c1'")
    finally:
        await db.close()


async def test_a_rebuild_that_breaks_a_reference_is_rolled_back(db: Database) -> None:
    await db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    await db.execute("CREATE TABLE child (parent_id INTEGER REFERENCES parent (id))")
    await db.execute("INSERT INTO parent VALUES (1)")
    await db.execute("INSERT INTO child VALUES (1)")
    bad = migrate.Migration(
        version=len(migrate.load_migrations()) + 1, name="drops_parent",
        sql="-- migrate: foreign keys off\nDROP TABLE parent;\n")
    with pytest.raises(RuntimeError, match="broken reference"):
        await migrate.apply_migrations(db, [*migrate.load_migrations(), bad])
    assert await db.fetchone("SELECT id FROM parent") is not None
    fks = await db.fetchone("PRAGMA foreign_keys")
    assert fks is not None and next(iter(fks.values())) == 1
