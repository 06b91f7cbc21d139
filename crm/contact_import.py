"""Importing contacts from a CSV file: read it, map its columns, check every row, store.

The pure part, in the order an import uses it:

- ``read_table(data)``: bytes -> ``CsvTable`` (header + rows). UTF-8 with or without a
  BOM, or UTF-16 with a BOM (Excel's "Unicode text"). Anything else is refused with
  ``import.wrong_encoding`` and the line of the first bad byte, rather than guessed: a
  Spanish or Brazilian Excel writes cp1252 and a Polish one cp1250, the same bytes mean
  different letters in the two ("³" or "ł"), and a wrong guess would store garbled names
  without anyone noticing. The delimiter (``,`` ``;`` or tab: Excel in es/pt/pl writes
  ``;``) is the one the header line uses most.
- ``guess_mapping(headers)``: each column's ``Target`` from its title, in en/es/pt/pl
  ("Nombre", "Teléfono", "Nome", "Telefone", "Imię", "Telefon"...); unknown titles become
  free fields. ``check_mapping`` refuses a mapping without a name or with a single-valued
  target twice.
- ``build_row(...)``: one row -> ``RowDraft`` or the ``RowError``s found in it, using the
  ``clean_*`` checks of crm/contacts.py, so an import accepts exactly what the form does.

``run_import`` is the adapter: batches of rows checked off the event loop, each batch
written in one transaction (crm.contacts.insert_many), a bad row reported and skipped,
never stopping the rest, and a progress callback after every batch.

Errors a whole file can cause are ``InvalidValue`` with an ``import.*`` key.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import dataclasses
import enum
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crm import contacts
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel, fold
from crm.db import Database, Transaction
from crm.errors import CrmError, InvalidValue

MAX_BYTES = 32 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COLUMNS = 100
# Rows checked and written together: one transaction, and a progress step. Small enough
# that the write lock is held briefly: at a million contacts a row costs about 1.4 ms
# to write (the trigram index above all), and caller-ID lookups wait for the lock.
BATCH = 200
# Row errors kept for the summary; the count goes on beyond.
MAX_ERRORS_KEPT = 10_000
DELIMITERS = (",", ";", "\t")
# What our own export puts in front of a cell a spreadsheet would run as a formula
# (crm/contact_export.py); reading it back takes it off.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Several numbers, tags or lists in one cell.
_SEPARATORS = re.compile(r"[,;\n]")


class Target(enum.StrEnum):
    """Where a column's values go."""

    NAME = "name"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    KIND = "kind"
    COMPANY = "company"
    EMAIL = "email"
    MOBILE = "phone_mobile"
    WORK = "phone_work"
    HOME = "phone_home"
    OTHER = "phone_other"
    TAGS = "tags"
    LISTS = "lists"
    FIELD = "field"
    IGNORE = "ignore"


_SINGLE = (Target.NAME, Target.FIRST_NAME, Target.LAST_NAME, Target.KIND, Target.COMPANY,
           Target.EMAIL)
_PHONE_LABELS = {Target.MOBILE: PhoneLabel.MOBILE, Target.WORK: PhoneLabel.WORK,
                 Target.HOME: PhoneLabel.HOME, Target.OTHER: PhoneLabel.OTHER}

# Column titles as people write them, folded (crm.contacts.fold) and with anything but
# letters and digits removed: "Teléfono móvil" -> "telefonomovil".
_TITLES: dict[Target, tuple[str, ...]] = {
    Target.NAME: ("name", "fullname", "contact", "contactname", "displayname", "nombre",
                  "nombrecompleto", "contacto", "nome", "nomecompleto", "contato",
                  "imieinazwisko", "nazwa", "kontakt", "razonsocial", "razaosocial"),
    Target.FIRST_NAME: ("firstname", "givenname", "primernombre", "primeironome", "imie"),
    Target.LAST_NAME: ("lastname", "surname", "familyname", "apellido", "apellidos",
                       "sobrenome", "nazwisko"),
    Target.KIND: ("kind", "type", "tipo", "typ", "rodzaj"),
    Target.COMPANY: ("company", "companyname", "organization", "organisation", "empresa",
                     "compania", "firma", "organizacion", "organizacao"),
    Target.EMAIL: ("email", "mail", "emailaddress", "correo", "correoelectronico",
                   "adresemail", "adrese-mail", "e-mail"),
    Target.MOBILE: ("mobile", "mobilephone", "cell", "cellphone", "movil", "telefonomovil",
                    "celular", "telefonecelular", "komorka", "telefonkomorkowy", "telkom",
                    "whatsapp"),
    Target.WORK: ("work", "workphone", "businessphone", "office", "telefonotrabajo",
                  "telefonooficina", "telefonecomercial", "telefonetrabalho",
                  "telefonsluzbowy"),
    Target.HOME: ("home", "homephone", "telefonocasa", "telefonoparticular",
                  "telefoneresidencial", "telefonecasa", "telefondomowy"),
    Target.OTHER: ("phone", "telephone", "phonenumber", "number", "tel", "telefono",
                   "numero", "numerodetelefono", "telefone", "telefon", "numertelefonu"),
    Target.TAGS: ("tag", "tags", "label", "labels", "etiqueta", "etiquetas", "tagi",
                  "etykieta", "etykiety"),
    Target.LISTS: ("list", "lists", "lista", "listas", "listy", "campaign", "campana",
                   "campanha", "kampania"),
}
_TARGET_OF_TITLE = {title: target for target, titles in _TITLES.items() for title in titles}

# What a "kind" cell may say, folded.
_KINDS = {
    ContactKind.PERSON: ("person", "persona", "pessoa", "osoba", "contact", "contacto",
                         "contato", "kontakt", "individual", ""),
    ContactKind.COMPANY: ("company", "empresa", "firma", "organization", "organizacion",
                          "organizacao", "organizacja", "compania"),
}
_KIND_OF_WORD = {word: kind for kind, words in _KINDS.items() for word in words}


@dataclass(frozen=True)
class CsvTable:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    delimiter: str


@dataclass(frozen=True)
class RowError:
    """Why one row was not imported. ``row`` is the spreadsheet's row number (the header
    is row 1); ``column`` the title of the column at fault ('' for the row as a whole)."""

    row: int
    column: str
    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RowDraft:
    """A checked row: the contact, and the name of its company (found or created)."""

    row: int
    draft: ContactDraft
    company_name: str


@dataclass(frozen=True)
class ImportOptions:
    region: str
    area_code: str = ""
    owner_id: int | None = None


@dataclass
class ImportProgress:
    """How far an import is; updated after every batch."""

    total: int
    done: int = 0
    imported: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else self.done * 100 // self.total

    def fail(self, error: RowError, *, new_row: bool = True) -> None:
        if new_row:
            self.failed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(error)


def _refuse(message: str, key: str, **params: Any) -> InvalidValue:
    return InvalidValue(message, key=key, **params)


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (BOM or not) or UTF-16 with a BOM; else ``wrong_encoding``."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise _refuse("not UTF-16 after all", "import.wrong_encoding", line=1) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise _refuse(f"not UTF-8 (line {line})", "import.wrong_encoding", line=line) from None


def sniff_delimiter(text: str) -> str:
    """The delimiter the header line uses most (outside quotes); ``,`` when none."""
    first = text.split("\n", 1)[0]
    outside = re.sub(r'"[^"]*"', "", first)
    counts = {d: outside.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_table(data: bytes, *, max_rows: int = MAX_ROWS) -> CsvTable:
    """Parse a CSV file; raises ``InvalidValue`` (``import.*``) if it cannot be read."""
    if len(data) > MAX_BYTES:
        raise _refuse("file too big", "import.too_big", max_mb=MAX_BYTES // (1024 * 1024))
    text = decode(data)
    if "\x00" in text:
        raise _refuse("NUL characters: not a CSV file", "import.not_csv")
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[str, ...]] = []
    headers: tuple[str, ...] | None = None
    try:
        for record in reader:
            if headers is None:
                headers = tuple(cell.strip() for cell in record)
                continue
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= max_rows:
                raise _refuse("too many rows", "import.too_many_rows", max=max_rows)
            rows.append(tuple(record))
    except csv.Error as exc:
        raise _refuse(f"broken CSV at line {reader.line_num}: {exc}", "import.broken_csv",
                      line=reader.line_num) from None
    if headers is None or not any(headers):
        raise _refuse("no header line", "import.no_header")
    if len(headers) > MAX_COLUMNS:
        raise _refuse("too many columns", "import.too_many_columns", max=MAX_COLUMNS)
    return CsvTable(headers, tuple(rows), delimiter)


def _title_key(title: str) -> str:
    return "".join(ch for ch in fold(title) if ch.isalnum())


def guess_target(title: str) -> Target:
    """What a column with this title most likely holds."""
    key = _title_key(title)
    if not key:
        return Target.IGNORE
    return _TARGET_OF_TITLE.get(key, Target.FIELD)


def guess_mapping(headers: Sequence[str]) -> tuple[Target, ...]:
    """A target per column; a second column guessed as the same single target is a free
    field instead, so the guess always passes ``check_mapping`` when it has a name."""
    seen: set[Target] = set()
    mapping: list[Target] = []
    for title in headers:
        target = guess_target(title)
        if target in _SINGLE and target in seen:
            target = Target.FIELD
        seen.add(target)
        mapping.append(target)
    return tuple(mapping)


def check_mapping(headers: Sequence[str], mapping: Sequence[Target]) -> None:
    """Raise ``InvalidValue`` unless the mapping can build contacts."""
    if len(mapping) != len(headers):
        raise _refuse("one target per column", "import.bad_mapping")
    for target in _SINGLE:
        columns = [h for h, t in zip(headers, mapping, strict=True) if t is target]
        if len(columns) > 1:
            raise _refuse(f"{target} chosen twice", "import.target_twice",
                          columns=", ".join(columns))
    if not {Target.NAME, Target.FIRST_NAME, Target.LAST_NAME} & set(mapping):
        raise _refuse("no name column", "import.no_name_column")
    for title, target in zip(headers, mapping, strict=True):
        if target is Target.FIELD and not title.strip():
            raise _refuse("a free field needs a column title", "import.field_without_title")


def parse_mapping(headers: Sequence[str], choices: Mapping[str, str]) -> tuple[Target, ...]:
    """The mapping from ``title -> target name`` choices (the CLI's ``--map``, the page's
    selects); columns not chosen keep their guess."""
    guessed = list(guess_mapping(headers))
    known = {h: i for i, h in enumerate(headers)}
    for title, value in choices.items():
        if title not in known:
            raise _refuse(f"no column {title!r}", "import.unknown_column", column=title[:60])
        try:
            guessed[known[title]] = Target(value)
        except ValueError:
            raise _refuse(f"no target {value!r}", "import.unknown_target",
                          target=value[:40]) from None
    check_mapping(headers, guessed)
    return tuple(guessed)


def starts_formula(cell: str) -> bool:
    """Whether a spreadsheet could run ``cell``, or it already had a ``'`` put in front
    (``'=x``, ``''=x``...: those get one more, so the way back is unambiguous)."""
    return cell.lstrip("'").startswith(FORMULA_STARTS)


def unneutralise(cell: str) -> str:
    """A cell as typed: without the ``'`` an export put in front (crm/contact_export.py)."""
    return cell[1:] if cell.startswith("'") and starts_formula(cell) else cell


def _parse_kind(text: str) -> ContactKind:
    kind = _KIND_OF_WORD.get(fold(text.strip()))
    if kind is None:
        raise InvalidValue(f"kind {text[:40]!r}", key="contact.invalid_kind")
    return kind


def build_row(number: int, cells: Sequence[str], headers: Sequence[str],
              mapping: Sequence[Target], options: ImportOptions) -> RowDraft | list[RowError]:
    """Check one row; the contact it describes, or every error found in it."""
    errors: list[RowError] = []

    def catch(column: str, check: Callable[..., Any], *args: Any) -> Any:
        try:
            return check(*args)
        except CrmError as exc:
            errors.append(RowError(number, column, exc.key, exc.params))
            return None

    names: dict[Target, str] = {}
    values: dict[Target, str] = {}
    phones: list[ContactPhone] = []
    tags: list[str] = []
    lists: list[str] = []
    free: dict[str, str] = {}
    name_column = ""
    for index, (title, target) in enumerate(zip(headers, mapping, strict=True)):
        cell = unneutralise(cells[index]) if index < len(cells) else ""
        if target is Target.IGNORE or not cell.strip():
            continue
        if target in (Target.NAME, Target.FIRST_NAME, Target.LAST_NAME):
            names[target] = cell
            name_column = name_column or title
        elif target in _PHONE_LABELS:
            for raw in _SEPARATORS.split(cell):
                if raw.strip():
                    phone = catch(title, contacts.clean_phone, _PHONE_LABELS[target].value,
                                  unneutralise(raw.strip()), options.region,
                                  options.area_code)
                    if phone is not None:
                        phones.append(phone)
        elif target is Target.TAGS:
            tags.extend(_SEPARATORS.split(cell))
        elif target is Target.LISTS:
            lists.extend(_SEPARATORS.split(cell))
        elif target is Target.FIELD:
            free[title] = cell
        else:
            values[target] = cell
    full_name = " ".join(names[t].strip() for t in (Target.NAME, Target.FIRST_NAME,
                                                     Target.LAST_NAME) if t in names)
    name_column = name_column or next(
        (h for h, t in zip(headers, mapping, strict=True)
         if t in (Target.NAME, Target.FIRST_NAME, Target.LAST_NAME)), "")
    name = catch(name_column, contacts.clean_name, full_name)
    kind = catch(_title(headers, mapping, Target.KIND), _parse_kind,
                 values.get(Target.KIND, ""))
    email = catch(_title(headers, mapping, Target.EMAIL), contacts.clean_email,
                  values.get(Target.EMAIL, ""))
    company = values.get(Target.COMPANY, "").strip()
    company_title = _title(headers, mapping, Target.COMPANY)
    if company:
        catch(company_title, contacts.clean_name, company)
        if kind is ContactKind.COMPANY:
            errors.append(RowError(number, company_title, "contact.company_of_company"))
    cleaned_tags = catch(_title(headers, mapping, Target.TAGS), contacts.clean_tags, tags)
    cleaned_lists = catch(_title(headers, mapping, Target.LISTS), contacts.clean_lists, lists)
    fields = catch("", contacts.clean_fields, free)
    cleaned_phones = catch("", _unique_phones, phones)
    if errors:
        return errors
    draft = ContactDraft(kind=kind, name=name, email=email, owner_id=options.owner_id,
                         fields=fields, tags=cleaned_tags, lists=cleaned_lists,
                         phones=cleaned_phones)
    return RowDraft(number, draft, company)


def _unique_phones(phones: Sequence[ContactPhone]) -> tuple[ContactPhone, ...]:
    """``contacts.clean_phones`` for numbers ``clean_phone`` just read: the same
    de-duplication and limit, without parsing each number a second time (half the cost
    of a row)."""
    unique: dict[str, ContactPhone] = {}
    for phone in phones:
        unique.setdefault(phone.e164, phone)
    if len(unique) > contacts.MAX_PHONES:
        raise InvalidValue(f"{len(unique)} numbers: at most {contacts.MAX_PHONES}",
                           key="contact.too_many_phones", max=contacts.MAX_PHONES)
    return tuple(unique.values())


def _title(headers: Sequence[str], mapping: Sequence[Target], target: Target) -> str:
    return next((h for h, t in zip(headers, mapping, strict=True) if t is target), "")


def build_batch(first_row: int, rows: Sequence[Sequence[str]], headers: Sequence[str],
                mapping: Sequence[Target],
                options: ImportOptions) -> list[RowDraft | list[RowError]]:
    """``build_row`` for consecutive rows, the first being spreadsheet row ``first_row``."""
    return [build_row(first_row + i, cells, headers, mapping, options)
            for i, cells in enumerate(rows)]


ProgressCallback = Callable[[ImportProgress], None]


async def _companies(db: Database) -> dict[str, tuple[int, str]]:
    rows = await db.fetchall("SELECT id, name, name_key FROM contacts WHERE kind = 'company'")
    known: dict[str, tuple[int, str]] = {}
    for row in rows:
        known.setdefault(row["name_key"], (int(row["id"]), row["name"]))
    return known


async def run_import(db: Database, table: CsvTable, mapping: Sequence[Target],
                     options: ImportOptions,
                     progress: ProgressCallback | None = None) -> ImportProgress:
    """Store every acceptable row of ``table``; report the others. Returns the summary.

    A person's company is found by name among the companies (ignoring case and accents)
    or created. The owner, if any, must exist: checked once, before anything is written.
    """
    check_mapping(table.headers, mapping)
    state = ImportProgress(total=len(table.rows))
    if options.owner_id is not None and await db.fetchone(
        "SELECT 1 FROM users WHERE id = ?", (options.owner_id,)
    ) is None:
        raise InvalidValue(f"owner {options.owner_id} does not exist",
                           key="contact.owner_not_found")
    companies = await _companies(db)
    for start in range(0, len(table.rows), BATCH):
        chunk = table.rows[start:start + BATCH]
        # Checking rows is CPU work (phone numbers above all): a thread keeps the event
        # loop answering pages meanwhile.
        built = await asyncio.to_thread(build_batch, start + 2, chunk, table.headers,
                                        mapping, options)
        good: list[RowDraft] = []
        for result in built:
            if isinstance(result, RowDraft):
                good.append(result)
            else:
                for i, error in enumerate(result):
                    state.fail(error, new_row=i == 0)
        async with db.transaction() as tx:
            await _write_batch(tx, good, companies, options)
        state.imported += len(good)
        state.done += len(chunk)
        if progress is not None:
            progress(state)
    if progress is not None and not table.rows:
        progress(state)
    return state


async def _write_batch(tx: Transaction, good: Sequence[RowDraft],
                       companies: dict[str, tuple[int, str]], options: ImportOptions) -> None:
    """Companies first (rows that are companies, then those people name), then people."""
    firms = [r for r in good if r.draft.kind is ContactKind.COMPANY]
    ids = await contacts.insert_many(tx, [r.draft for r in firms], {})
    for row, new_id in zip(firms, ids, strict=True):
        companies.setdefault(fold(row.draft.name), (new_id, row.draft.name))
    missing: dict[str, str] = {}
    for row in good:
        if row.company_name and fold(row.company_name) not in companies:
            missing.setdefault(fold(row.company_name), row.company_name)
    new_firms = [ContactDraft(kind=ContactKind.COMPANY, name=contacts.clean_name(name),
                              owner_id=options.owner_id) for name in missing.values()]
    for draft, new_id in zip(new_firms, await contacts.insert_many(tx, new_firms, {}),
                             strict=True):
        companies[fold(draft.name)] = (new_id, draft.name)
    people: list[ContactDraft] = []
    names: dict[int, str] = {}
    for row in good:
        if row.draft.kind is ContactKind.COMPANY:
            continue
        if row.company_name:
            company_id, company_name = companies[fold(row.company_name)]
            names[company_id] = company_name
            people.append(dataclasses.replace(row.draft, company_id=company_id))
        else:
            people.append(row.draft)
    await contacts.insert_many(tx, people, names)

