"""Exporting contacts to CSV for spreadsheets: UTF-8 with a BOM, safe against formulas.

``neutralise(cell)`` is the rule that keeps a spreadsheet from running a contact's data:
a cell that starts with ``=``, ``+``, ``-``, ``@``, tab or CR gets a ``'`` in front
(OWASP's "CSV injection" advice), so ``=cmd|' /C calc'!A0`` stays text; so does a cell
that already starts with ``'`` before one of those, so the way back is unambiguous. It applies to
every cell, phone numbers included (``'+34612345678``): an E.164 number is harmless, but
one rule with no exceptions is the one that cannot be talked around, and the importer
takes the ``'`` off again (crm/contact_import.py, ``unneutralise``), so a file exported
and imported back is unchanged.

The BOM is what makes Excel read the file as UTF-8 (without it, "Łódź" opens as
"Å\x81Ã³dÅº"). The delimiter is the caller's choice: Excel splits a double-clicked CSV
on the list separator of the user's Windows locale, which is ``;`` wherever the decimal
separator is a comma (es, pt-BR, pl) and ``,`` in English locales.

``csv_rows`` is pure (contacts in, lines out); ``export_lines`` is the adapter that walks
the database in batches (crm.contact_search.iter_contacts), so an export of a million
contacts streams instead of being built in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

from crm import contact_search
from crm.contact_import import starts_formula
from crm.contact_search import ContactFilter
from crm.contacts import Contact, ContactKind, PhoneLabel
from crm.db import Database

BOM = "\ufeff"
# Free-field columns an export carries at most (a contact has at most 30 fields).
MAX_FIELD_COLUMNS = 60
LABELS = (PhoneLabel.MOBILE, PhoneLabel.WORK, PhoneLabel.HOME, PhoneLabel.OTHER)


@dataclass(frozen=True)
class ExportTitles:
    """The column titles and kind words, in the user's language (the importer knows them
    all, so an export reads back with its columns guessed right)."""

    name: str
    kind: str
    company: str
    email: str
    phones: tuple[str, str, str, str]  # mobile, work, home, other
    tags: str
    lists: str
    person: str
    company_kind: str


def neutralise(cell: str) -> str:
    """``cell`` as a spreadsheet will show it, never run it."""
    return "'" + cell if starts_formula(cell) else cell


def header(titles: ExportTitles, field_names: Sequence[str]) -> list[str]:
    return [neutralise(c) for c in (titles.name, titles.kind, titles.company, titles.email,
                                    *titles.phones, titles.tags, titles.lists, *field_names)]


def row(contact: Contact, titles: ExportTitles, field_names: Sequence[str]) -> list[str]:
    """One contact's cells: numbers E.164 by label, tags and lists comma-separated."""
    kind = titles.company_kind if contact.kind is ContactKind.COMPANY else titles.person
    phones = [", ".join(p.e164 for p in contact.phones if p.label is label)
              for label in LABELS]
    cells = [contact.name, kind, contact.company_name or "", contact.email, *phones,
             ", ".join(contact.tags), ", ".join(contact.lists),
             *(contact.fields.get(name, "") for name in field_names)]
    return [neutralise(cell) for cell in cells]


def csv_lines(rows: Iterable[list[str]], delimiter: str) -> str:
    """Rows as CSV text (every cell quoted when needed, CRLF line ends as Excel writes)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()


async def field_names(db: Database, where: ContactFilter, region: str,
                      area_code: str) -> list[str]:
    """The free fields the matching contacts use, by name: one column each."""
    found, params = await contact_search.where_sql(db, where, region, area_code)
    sql = "SELECT DISTINCT j.key AS name FROM contacts c, json_each(c.fields) j"
    if found:
        sql += " WHERE " + found
    rows = await db.fetchall(sql + " LIMIT ?", [*params, MAX_FIELD_COLUMNS])
    return sorted((str(r["name"]) for r in rows), key=str.casefold)


async def export_lines(db: Database, where: ContactFilter, titles: ExportTitles, *,
                       delimiter: str, region: str, area_code: str) -> AsyncIterator[str]:
    """The CSV file, a chunk of lines at a time: BOM and header first."""
    names = await field_names(db, where, region, area_code)
    yield BOM + csv_lines([header(titles, names)], delimiter)
    batch: list[list[str]] = []
    async for contact in contact_search.iter_contacts(db, where, region=region,
                                                      area_code=area_code):
        batch.append(row(contact, titles, names))
        if len(batch) >= 500:
            yield csv_lines(batch, delimiter)
            batch = []
    if batch:
        yield csv_lines(batch, delimiter)
