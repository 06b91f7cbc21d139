"""crm.contact_import: reading CSV files, guessing columns, checking rows, storing them."""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm import contact_import, contact_search, contacts
from crm.contact_import import ImportOptions, RowDraft, RowError, Target
from crm.contact_search import ContactFilter
from crm.contacts import ContactKind
from crm.db import Database, open_database
from crm.errors import InvalidValue

ES = ImportOptions(region="ES")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


def _refused(data: bytes) -> InvalidValue:
    with pytest.raises(InvalidValue) as caught:
        contact_import.read_table(data)
    return caught.value


def test_reads_utf8_with_and_without_bom_and_utf16() -> None:
    text = "Nombre;Teléfono\r\nJosé Łukasz;612 34 56 78\r\n"
    for data in (text.encode(), codecs.BOM_UTF8 + text.encode(), text.encode("utf-16")):
        table = contact_import.read_table(data)
        assert table.headers == ("Nombre", "Teléfono")
        assert table.rows == (("José Łukasz", "612 34 56 78"),)
        assert table.delimiter == ";"


def test_delimiter_is_the_one_the_header_uses() -> None:
    assert contact_import.sniff_delimiter('Name,"Phone; work";x\n') == ","
    assert contact_import.sniff_delimiter("Name\tPhone\tEmail\n") == "\t"
    assert contact_import.sniff_delimiter("Name\n") == ","


def test_broken_files_are_refused_with_a_reason() -> None:
    cp1250 = "Imię;Telefon\nŁukasz Wójcik;601234567\n".encode("cp1250")
    wrong = _refused(cp1250)
    assert wrong.key == "import.wrong_encoding" and wrong.params == {"line": 1}
    later = _refused(b"Name\nAna\n" + "Jos\xe9".encode("latin-1") + b"\n")
    assert later.params == {"line": 3}
    assert _refused(b"").key == "import.no_header"
    assert _refused(b"\n\n").key == "import.no_header"
    assert _refused(b'Name,Phone\n"Ana,123\n').key == "import.broken_csv"
    assert _refused(b"Name\x00\n").key == "import.not_csv"
    with pytest.raises(InvalidValue) as many:
        contact_import.read_table(b"Name\n" + b"Ana\n" * 11, max_rows=10)
    assert many.value.key == "import.too_many_rows"
    assert _refused(b"x" * (contact_import.MAX_BYTES + 1)).key == "import.too_big"


@pytest.mark.parametrize(("title", "target"), [
    ("Nombre", Target.NAME), ("Teléfono", Target.OTHER), ("Nome", Target.NAME),
    ("Telefone", Target.OTHER), ("Imię", Target.FIRST_NAME), ("Nazwisko", Target.LAST_NAME),
    ("Telefon", Target.OTHER), ("Móvil", Target.MOBILE), ("Celular", Target.MOBILE),
    ("Telefon komórkowy", Target.MOBILE), ("E-mail", Target.EMAIL),
    ("Correo electrónico", Target.EMAIL), ("Empresa", Target.COMPANY),
    ("Firma", Target.COMPANY), ("Etiquetas", Target.TAGS), ("Listy", Target.LISTS),
    ("Apellidos", Target.LAST_NAME), ("CPF", Target.FIELD), ("", Target.IGNORE),
])
def test_guesses_columns_in_four_languages(title: str, target: Target) -> None:
    assert contact_import.guess_target(title) is target


def test_mapping_checks() -> None:
    headers = ("Name", "Nombre", "Phone")
    assert contact_import.guess_mapping(headers) == (Target.NAME, Target.FIELD, Target.OTHER)
    with pytest.raises(InvalidValue) as twice:
        contact_import.parse_mapping(headers, {"Nombre": "name"})
    assert twice.value.key == "import.target_twice"
    with pytest.raises(InvalidValue) as no_name:
        contact_import.parse_mapping(headers, {"Name": "ignore"})
    assert no_name.value.key == "import.no_name_column"
    with pytest.raises(InvalidValue) as unknown:
        contact_import.parse_mapping(headers, {"Nope": "name"})
    assert unknown.value.key == "import.unknown_column"
    with pytest.raises(InvalidValue) as target:
        contact_import.parse_mapping(headers, {"Phone": "fax"})
    assert target.value.key == "import.unknown_target"
    assert contact_import.parse_mapping(headers, {"Phone": "phone_work"})[2] is Target.WORK


def test_builds_a_row_with_every_kind_of_column() -> None:
    headers = ("Imię", "Nazwisko", "Firma", "Telefon komórkowy", "Telefon", "Tagi", "PESEL")
    mapping = contact_import.guess_mapping(headers)
    row = contact_import.build_row(
        2, ("Łukasz", "Wójcik", "Acme", "601 234 567; 601 234 567", "'+48 22 123 45 67",
            "VIP, vip, Cobrança", "44051401458"), headers, mapping,
        ImportOptions(region="PL", owner_id=7))
    assert isinstance(row, RowDraft)
    assert row.draft.name == "Łukasz Wójcik" and row.company_name == "Acme"
    assert [(p.label.value, p.e164) for p in row.draft.phones] == [
        ("mobile", "+48601234567"), ("other", "+48221234567")]
    assert row.draft.tags == ("VIP", "Cobrança") and row.draft.fields == {"PESEL": "44051401458"}
    assert row.draft.owner_id == 7


def test_a_bad_row_reports_every_mistake_with_its_column() -> None:
    headers = ("Name", "Type", "Email", "Phone", "Company")
    errors = contact_import.build_row(
        5, ("", "robot", "not-an-email", "12ab", "x" * 300), headers,
        contact_import.guess_mapping(headers), ES)
    assert isinstance(errors, list)
    assert {(e.column, e.key) for e in errors} == {
        ("Name", "contact.empty_name"), ("Type", "contact.invalid_kind"),
        ("Email", "contact.invalid_email"), ("Phone", "phone.invalid"),
        ("Company", "contact.invalid_name")}
    assert {e.row for e in errors} == {5}
    overlong = contact_import.build_row(6, ("n" * 201,), ("Name",), (Target.NAME,), ES)
    assert overlong == [RowError(6, "Name", "contact.invalid_name", {"max": 200})]


@given(st.text(max_size=40))
def test_hostile_cells_are_stored_as_typed_or_refused(cell: str) -> None:
    """Whatever a cell holds, a row is a draft or errors: nothing else escapes."""
    headers = ("Name", "Email", "Phone", "Tags", "Notes")
    result = contact_import.build_row(2, (cell, cell, cell, cell, cell), headers,
                                      contact_import.guess_mapping(headers), ES)
    if isinstance(result, RowDraft):
        assert result.draft.name == contacts.clean_name(cell)
    else:
        assert result and all(e.key for e in result)


@given(st.text(alphabet="=+-@\t\r'abc|", max_size=12))
def test_unneutralise_undoes_only_the_export_prefix(cell: str) -> None:
    from crm.contact_export import neutralise

    assert contact_import.unneutralise(neutralise(cell)) == cell


async def test_run_imports_good_rows_reports_bad_ones_and_links_companies(
        db: Database) -> None:
    data = ("Nombre;Tipo;Empresa;Móvil;Etiquetas\n"
            "Acme;Empresa;;;\n"
            "Ana;;acme;612345678;VIP\n"
            "=cmd|' /C calc'!A0;;;;\n"
            ";;;612345679;\n"
            "Bea;;Nueva SL;612 34 56 80, 699;\n"
            "<script>alert(1)</script>;persona;Nueva SL;;\n").encode()
    table = contact_import.read_table(data)
    seen: list[int] = []
    result = await contact_import.run_import(
        db, table, contact_import.guess_mapping(table.headers), ES,
        lambda p: seen.append(p.percent))
    assert (result.total, result.imported, result.failed) == (6, 4, 2)
    assert [(e.row, e.key) for e in result.errors] == [
        (5, "contact.empty_name"), (6, "contact.extension")]
    assert seen == [100]
    page = await contact_search.list_contacts(db, ContactFilter())
    by_name = {c.name: c for c in page.contacts}
    assert set(by_name) == {"Acme", "Ana", "=cmd|' /C calc'!A0", "Nueva SL",
                            "<script>alert(1)</script>"}
    assert by_name["Ana"].company_id == by_name["Acme"].id
    assert by_name["Nueva SL"].kind is ContactKind.COMPANY
    assert by_name["<script>alert(1)</script>"].company_name == "Nueva SL"
    # Imported contacts are searchable, by company and number too.
    assert [c.name for c in (await contact_search.list_contacts(
        db, ContactFilter(query="nueva"))).contacts] == ["<script>alert(1)</script>",
                                                          "Nueva SL"]
    assert [c.name for c in (await contact_search.list_contacts(
        db, ContactFilter(query="612 345 678"))).contacts] == ["Ana"]


async def test_unknown_owner_stops_before_writing(db: Database) -> None:
    table = contact_import.read_table(b"Name\nAna\n")
    with pytest.raises(InvalidValue) as caught:
        await contact_import.run_import(db, table, (Target.NAME,),
                                        ImportOptions(region="ES", owner_id=999))
    assert caught.value.key == "contact.owner_not_found"
    assert await db.fetchone("SELECT 1 FROM contacts") is None
