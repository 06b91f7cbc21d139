"""The database file is read ahead when opened, only when it fits in free memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm import db_prefetch
from crm.db import open_database


def test_a_file_that_fits_is_read_whole_on_a_thread(tmp_path: Path) -> None:
    path = tmp_path / "headset.sqlite3"
    path.write_bytes(b"x" * (3 * db_prefetch.CHUNK + 5))
    assert db_prefetch.read_through(path) == 3 * db_prefetch.CHUNK + 5
    reader = db_prefetch.prefetch(path, free_bytes=10**9)
    assert reader is not None and reader.daemon
    reader.join(10)
    assert not reader.is_alive()


def test_a_file_too_big_for_free_memory_or_missing_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "headset.sqlite3"
    path.write_bytes(b"x" * 65536)
    # More than a quarter of what is free: nothing read.
    assert db_prefetch.prefetch(path, free_bytes=4 * 65536 - 1) is None
    assert db_prefetch.prefetch(tmp_path / "missing.sqlite3", free_bytes=10**9) is None
    assert db_prefetch.read_through(tmp_path / "missing.sqlite3") == 0


async def test_opening_the_database_reads_it_ahead(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Path] = []

    def prefetch(path: Path, free_bytes: int | None = None) -> None:
        asked.append(path)
        return None

    monkeypatch.setattr(db_prefetch, "prefetch", prefetch)
    db = await open_database(tmp_path / "headset.sqlite3")
    await db.close()
    assert asked == [tmp_path / "headset.sqlite3"]
