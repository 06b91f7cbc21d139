"""crm.contact_import: rows whose number or email a contact already has, or an earlier row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm import contact_import, contacts
from crm.contact_import import Action, ImportOptions, OnDuplicate, RowDraft
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database, open_database
from crm.errors import InvalidValue

MOBILE = PhoneLabel.MOBILE


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


def _row(number: int, name: str, *phones: str, email: str = "") -> RowDraft:
    return RowDraft(number, ContactDraft(
        kind=ContactKind.PERSON, name=name, email=email,
        phones=tuple(ContactPhone(MOBILE, p) for p in phones)), "")


def test_keys_are_numbers_and_the_email_ignoring_case() -> None:
    row = _row(2, "Ana", "+34612345678", email="Ana@Example.ES")
    assert contact_import.duplicate_keys(row.draft) == ("tel:+34612345678",
                                                        "mail:ana@example.es")
    assert contact_import.duplicate_keys(_row(3, "Bea").draft) == ()


@pytest.mark.parametrize("mode", list(OnDuplicate))
def test_decisions_for_stored_contacts_and_repeats_in_the_file(mode: OnDuplicate) -> None:
    rows = [_row(2, "Ana", "+34612345678"),               # a stored contact's number
            _row(3, "Bea", "+34600000001", email="b@x.es"),
            _row(4, "Bea again", email="B@X.ES"),           # repeats row 3
            _row(5, "Cris", "+34600000002"),
            _row(6, "Dora", "+34600000009")]               # repeats an earlier batch
    stored = {"tel:+34612345678": 10, "tel:+34600000009": 11}
    seen = {"tel:+34600000009": (11, 1)}
    decided = contact_import.decide(rows, stored, seen, mode)
    actions = [d.action for d in decided]
    if mode is OnDuplicate.SKIP:
        assert actions == [Action.SKIP, Action.CREATE, Action.SKIP, Action.CREATE,
                           Action.SKIP]
    elif mode is OnDuplicate.CREATE:
        assert actions == [Action.CREATE] * 5
    else:
        assert actions == [Action.UPDATE, Action.CREATE, Action.MERGE, Action.CREATE,
                           Action.UPDATE]
    assert [(d.key, d.contact_id, d.first_row) for d in decided] == [
        ("tel:+34612345678", 10, None), ("", None, None), ("mail:b@x.es", None, 3),
        ("", None, None), ("tel:+34600000009", 11, 1)]
    report = decided[2].report()
    assert (report.row, report.column, report.params) == (4, "mail",
                                                          {"value": "b@x.es", "other": 3})


def test_on_duplicate_values() -> None:
    assert contact_import.parse_on_duplicate(" update ") is OnDuplicate.UPDATE
    with pytest.raises(InvalidValue) as caught:
        contact_import.parse_on_duplicate("<script>")
    assert caught.value.key == "import.bad_on_duplicate"


def test_merge_keeps_kind_and_adds_numbers_tags_and_fields() -> None:
    old = ContactDraft(kind=ContactKind.PERSON, name="Ana", email="a@x.es", owner_id=3,
                       fields={"DNI": "1", "Zona": "N"}, tags=("VIP",),
                       phones=(ContactPhone(MOBILE, "+34612345678"),))
    new = ContactDraft(kind=ContactKind.PERSON, name="Ana Gómez", fields={"Zona": "S"},
                       tags=("Nuevo",), phones=(ContactPhone(MOBILE, "+34600000001"),))
    merged = contact_import.merge(old, new)
    assert (merged.name, merged.email, merged.owner_id) == ("Ana Gómez", "a@x.es", 3)
    assert merged.fields == {"DNI": "1", "Zona": "S"}
    assert merged.tags == ("VIP", "Nuevo")
    assert [p.e164 for p in merged.phones] == ["+34612345678", "+34600000001"]


CSV = ("Nombre;Móvil;Email;Etiquetas\n"
       "Ana Nueva;612 34 56 78;;Nuevo\n"          # the stored Ana's number
       "Bea;600 00 00 01;bea@x.es;\n"
       "Bea otra vez;;BEA@x.es;VIP\n"             # repeats row 3 by email
       "Cris;600 00 00 02;ana@example.es;\n"       # the stored Ana's email
       "Dora;600 00 00 03;;\n")


async def _import(db: Database, mode: OnDuplicate,
                  batch: int = contact_import.BATCH) -> contact_import.ImportProgress:
    table = contact_import.read_table(CSV.encode())
    return await contact_import.run_import(
        db, table, contact_import.guess_mapping(table.headers),
        ImportOptions(region="ES", on_duplicate=mode))


async def _everyone(db: Database) -> dict[str, contacts.Contact]:
    rows = await db.fetchall("SELECT id FROM contacts ORDER BY id")
    found = [await contacts.get_contact(db, int(r["id"])) for r in rows]
    return {c.name: c for c in found if c is not None}


async def _stored_ana(db: Database) -> contacts.Contact:
    return await contacts.create_contact(db, ContactDraft(
        kind=ContactKind.PERSON, name="Ana", email="Ana@Example.es", tags=("VIP",),
        phones=(ContactPhone(MOBILE, "+34612345678"),)))


@pytest.mark.parametrize("batch", [1, 200])
async def test_skip_is_the_default_and_is_reported(db: Database, batch: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contact_import, "BATCH", batch)
    ana = await _stored_ana(db)
    assert ImportOptions(region="ES").on_duplicate is OnDuplicate.SKIP
    result = await _import(db, OnDuplicate.SKIP)
    assert (result.imported, result.skipped, result.updated, result.failed) == (2, 3, 0, 0)
    assert sorted(await _everyone(db)) == ["Ana", "Bea", "Dora"]
    assert [(d.row, d.key, d.params) for d in result.duplicates] == [
        (2, "import.duplicate.skipped_contact", {"value": "+34612345678", "contact": ana.id}),
        (4, "import.duplicate.skipped_row", {"value": "bea@x.es", "other": 3}),
        (5, "import.duplicate.skipped_contact", {"value": "ana@example.es",
                                                 "contact": ana.id})]


@pytest.mark.parametrize("batch", [1, 200])
async def test_update_changes_the_stored_contact_and_folds_repeats(
        db: Database, batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contact_import, "BATCH", batch)
    ana = await _stored_ana(db)
    result = await _import(db, OnDuplicate.UPDATE)
    assert (result.imported, result.skipped, result.updated) == (2, 0, 3)
    everyone = await _everyone(db)
    assert sorted(everyone) == ["Bea otra vez", "Cris", "Dora"]
    # Row 2 renamed Ana and tagged her; row 5 (her email) renamed her again and added
    # its number; row 4 (Bea's email) folded into the contact row 3 made.
    cris = everyone["Cris"]
    assert cris.id == ana.id and cris.tags == ("Nuevo", "VIP")
    assert [p.e164 for p in cris.phones] == ["+34612345678", "+34600000002"]
    bea = everyone["Bea otra vez"]
    assert bea.email == "BEA@x.es" and bea.tags == ("VIP",)
    assert [p.e164 for p in bea.phones] == ["+34600000001"]
    assert [d.key for d in result.duplicates] == [
        "import.duplicate.updated_contact", "import.duplicate.merged_row"
        if batch > 1 else "import.duplicate.updated_row",
        "import.duplicate.updated_contact"]


async def test_create_anyway_makes_every_row_and_counts_them(db: Database) -> None:
    await _stored_ana(db)
    result = await _import(db, OnDuplicate.CREATE)
    assert (result.imported, result.created_anyway, result.skipped) == (5, 3, 0)
    assert len(await _everyone(db)) == 6


async def test_email_lookup_uses_its_index(db: Database) -> None:
    plan = await db.fetchall(
        "EXPLAIN QUERY PLAN SELECT lower(email), MIN(id) FROM contacts"
        " WHERE lower(email) IN (?, ?) AND email <> '' GROUP BY lower(email)",
        ("a@x.es", "b@x.es"))
    assert any("contacts_email" in str(row["detail"]) for row in plan), plan
