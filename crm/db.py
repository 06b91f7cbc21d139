"""The CRM's storage connection: one SQLite file through aiosqlite.

The domain modules (users, sip_accounts, call_records, ...) talk to a ``Database`` only
through ``execute``/``fetchone``/``fetchall`` and ``transaction()``, with ``?``
placeholders and plain SQL. That surface is what a later PostgreSQL implementation
(asyncpg, several hosts) has to provide; nothing outside this module knows it is SQLite.

One connection serves the whole process. aiosqlite runs it on its own thread, so the
event loop never blocks on the disk, but every coroutine shares that connection: a lock
keeps a transaction's statements from interleaving with anyone else's. Statements
outside a transaction run in autocommit mode and wait for a running transaction to end.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from crm import db_prefetch, migrate

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

Row = Mapping[str, Any]
Params = Iterable[Any]

# Milliseconds SQLite waits for another process's write lock (a CLI next to the server).
BUSY_TIMEOUT_MS = 5000

# The transaction the current task is running, to refuse nesting instead of deadlocking.
_current_tx: contextvars.ContextVar[Transaction | None] = contextvars.ContextVar(
    "headset_current_tx", default=None
)


class DatabaseError(Exception):
    """The database cannot be opened or is in a state this code cannot work with."""


class Transaction:
    """Statements run inside ``Database.transaction()``; committed together or not at all."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        cursor = await self._conn.execute(sql, tuple(params))
        try:
            return cursor.rowcount
        finally:
            await cursor.close()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        # One trip to the connection's thread (execute, fetch and let the cursor go
        # there), not three: a caller-ID lookup is mostly these trips.
        rows = await self._conn.execute_fetchall(sql, tuple(params))
        return [dict(row) for row in rows]

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        # fetchall, not fetchone: an INSERT ... RETURNING must be stepped to completion.
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None


class Database:
    """An open CRM database. Create it with ``open_database``; ``close()`` when done."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path
        # The file's read into the page cache at open (crm/db_prefetch.py), if started.
        self.prefetching: threading.Thread | None = None

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement on its own (autocommit); return the number of rows changed."""
        async with self._statement() as tx:
            return await tx.execute(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._statement() as tx:
            return await tx.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._statement() as tx:
            return await tx.fetchall(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        It takes SQLite's write lock at the start (BEGIN IMMEDIATE), so a read-then-write
        inside it cannot lose a race against another process.
        """
        if _current_tx.get() is not None:
            raise RuntimeError("transaction() inside a transaction: pass the Transaction down")
        async with self._lock:
            tx = Transaction(self._conn)
            token = _current_tx.set(tx)
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield tx
                except BaseException:
                    await self._conn.execute("ROLLBACK")
                    raise
                await self._conn.execute("COMMIT")
            finally:
                _current_tx.reset(token)

    async def close(self) -> None:
        await self._conn.close()

    @asynccontextmanager
    async def _statement(self) -> AsyncIterator[Transaction]:
        if _current_tx.get() is not None:
            raise RuntimeError("Database used inside its own transaction: use the Transaction")
        async with self._lock:
            yield Transaction(self._conn)


async def open_database(path: str | Path) -> Database:
    """Open (creating if needed) the database file and bring its schema up to date."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # isolation_level=None: no implicit transactions; ``transaction()`` says BEGIN.
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise DatabaseError(f"database {path}: cannot be opened ({exc})") from exc
    conn.row_factory = sqlite3.Row
    db = Database(conn, path)
    try:
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = await db.fetchone("PRAGMA journal_mode = WAL")
        if mode is None or str(next(iter(mode.values()))).lower() != "wal":
            log.warning("database %s: WAL mode unavailable; concurrent readers will wait", path)
        # NORMAL is durable with WAL except for the last transactions on power loss.
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute("PRAGMA foreign_keys = ON")
        applied = await migrate.apply_migrations(db)
        if applied:
            log.info("database %s: applied migrations %s", path, ", ".join(applied))
        # Ring-time caller-ID should not wait on the disk after a start.
        db.prefetching = db_prefetch.prefetch(path)
    except BaseException:
        await conn.close()
        raise
    return db


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context: open the database, close records a crash left open, close.

    Append it to ``app.cleanup_ctx``; it reads ``app[SETTINGS].database_path`` and sets
    ``app[DB]``.
    """
    # Imported here: crm/ should not need aiohttp or call records just to open a file.
    from crm import call_records, clock
    from web.appkeys import DB, SETTINGS

    db = await open_database(app[SETTINGS].database_path)
    app[DB] = db
    try:
        closed = await call_records.close_interrupted(db, clock.utc_now())
        if closed:
            log.warning("closed %d call record(s) left open by a previous run", closed)
        yield
    finally:
        await db.close()
