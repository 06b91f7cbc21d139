"""A scratch CRM database for tests: a fresh SQLite file with every migration applied.

``tests/unit/conftest.py`` offers it as the ``db`` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from crm.db import Database, open_database


@asynccontextmanager
async def scratch_database(directory: Path) -> AsyncIterator[Database]:
    """Open a new database in ``directory`` (under the name the gateway's settings give it,
    so a test that also builds settings on that directory points at the same file), close
    it on the way out."""
    database = await open_database(directory / "headset.sqlite3")
    try:
        yield database
    finally:
        await database.close()
