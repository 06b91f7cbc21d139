"""A large database file is read ahead (in a child process) when opened, only when it fits
in free memory; small files and missing ones are left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm import db_prefetch
from crm.db import open_database


def test_only_large_files_that_fit_in_a_quarter_of_free_memory() -> None:
    big = db_prefetch.MIN_BYTES
    assert db_prefetch.worth_it(big, free_bytes=4 * big)
    assert not db_prefetch.worth_it(big, free_bytes=4 * big - 1)
    assert not db_prefetch.worth_it(big - 1, free_bytes=10**12)


def test_a_large_file_is_read_by_a_child_process(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "headset.sqlite3"
    path.write_bytes(b"x" * 4096)
    monkeypatch.setattr(db_prefetch, "MIN_BYTES", 1024)
    reader = db_prefetch.prefetch(path, free_bytes=10**9)
    assert reader is not None and reader.daemon
    reader.join(10)
    assert not reader.is_alive()
    assert db_prefetch.prefetch(tmp_path / "missing.sqlite3", free_bytes=10**9) is None


def test_a_small_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "headset.sqlite3"
    path.write_bytes(b"x" * 65536)
    assert db_prefetch.prefetch(path, free_bytes=10**12) is None


async def test_opening_the_database_asks_for_the_read_ahead(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Path] = []

    def prefetch(path: Path, free_bytes: int | None = None) -> None:
        asked.append(path)
        return None

    monkeypatch.setattr(db_prefetch, "prefetch", prefetch)
    db = await open_database(tmp_path / "headset.sqlite3")
    await db.close()
    assert asked == [tmp_path / "headset.sqlite3"]
