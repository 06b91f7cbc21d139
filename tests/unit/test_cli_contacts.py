"""``headset contacts import``: the real command, in a child process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from crm import contact_search, users
from crm.contact_search import ContactFilter
from crm.db import open_database
from tests.unit.test_web_http import FAST


def _headset(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEADSET_DATA_DIR": str(data_dir), "HEADSET_REGION": "PL"}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_imports_with_a_progress_bar_and_reports_bad_rows(tmp_path: Path) -> None:
    async def add_owner() -> None:
        db = await open_database(tmp_path / "headset.sqlite3")
        try:
            await users.create_user(db, "zofia", "a long enough password", hashing=FAST)
        finally:
            await db.close()

    asyncio.run(add_owner())
    rows = ["Imię;Nazwisko;Komórka;Uwagi"]
    rows += [f"Jan;Kowalski {i};601 {i:04d} 00;nota {i}" for i in range(1200)]
    rows.append("Zła;Liczba;12ab;")
    source = tmp_path / "kontakty.csv"
    source.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    done = _headset(tmp_path, "contacts", "import", str(source), "--owner", "zofia",
                    "--map", "Uwagi=ignore")
    assert done.returncode == 0, done.stderr
    assert "1200 contacts imported, 1 rows skipped, out of 1201." in done.stdout
    assert "row 1202 (Komórka):" in done.stdout and "12ab" in done.stdout
    assert "[" + "#" * 30 + "] 100 %  1201/1201" in done.stderr
    assert done.stderr.count(" %  ") >= 3  # one step per batch

    async def check() -> None:
        db = await open_database(tmp_path / "headset.sqlite3")
        try:
            page = await contact_search.list_contacts(
                db, ContactFilter(query="kowalski 1199"), region="PL")
            (contact,) = page.contacts
            assert contact.phones[0].e164 == "+48601119900"
            assert contact.owner_name and contact.fields == {}
        finally:
            await db.close()

    asyncio.run(check())


def test_unreadable_files_and_bad_options_exit_non_zero(tmp_path: Path) -> None:
    missing = _headset(tmp_path, "contacts", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Nombre\nJosé\n".encode("latin-1"))
    wrong = _headset(tmp_path, "contacts", "import", str(latin))
    assert wrong.returncode == 1 and "not UTF-8 (line 2)" in wrong.stderr
    good = tmp_path / "good.csv"
    good.write_text("Name\nAna\n", encoding="utf-8")
    bad_map = _headset(tmp_path, "contacts", "import", str(good), "--map", "Name=fax")
    assert bad_map.returncode == 1 and "“fax” is not a contact field" in bad_map.stderr
    owner = _headset(tmp_path, "contacts", "import", str(good), "--owner", "ghost")
    assert owner.returncode == 1 and "ghost" in owner.stderr
    assert "imported" not in owner.stdout
    wrong_mode = _headset(tmp_path, "contacts", "import", str(good), "--on-duplicate", "merge")
    assert wrong_mode.returncode == 2 and "--on-duplicate" in wrong_mode.stderr


def test_duplicates_are_skipped_updated_or_created(tmp_path: Path) -> None:
    source = tmp_path / "kontakty.csv"
    source.write_text("Imię;Komórka;E-mail\nJan;601 000 001;jan@firma.pl\n"
                      "Janek;601 000 001;\nEwa;;JAN@FIRMA.PL\n", encoding="utf-8")
    first = _headset(tmp_path, "contacts", "import", str(source))
    assert first.returncode == 0, first.stderr
    assert "1 contacts imported, 0 rows skipped, out of 3." in first.stdout
    assert "2 duplicates: 2 skipped, 0 updated, 0 created anyway." in first.stdout
    assert "row 3: Skipped: +48601000001 is already in row 2." in first.stdout
    again = _headset(tmp_path, "contacts", "import", str(source), "--on-duplicate=update")
    assert "0 contacts imported" in again.stdout
    assert "3 duplicates: 0 skipped, 3 updated, 0 created anyway." in again.stdout
    anyway = _headset(tmp_path, "contacts", "import", str(source), "--on-duplicate=create")
    assert "3 contacts imported" in anyway.stdout and "3 created anyway" in anyway.stdout
