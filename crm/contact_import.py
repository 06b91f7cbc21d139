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


class OnDuplicate(enum.StrEnum):
    """What to do with a row whose phone number or email a contact already has (or an
    earlier row of the same file)."""

    SKIP = "skip"
    UPDATE = "update"
    CREATE = "create"


def parse_on_duplicate(value: str) -> OnDuplicate:
    try:
        return OnDuplicate(value.strip())
    except ValueError:
        raise _refuse(f"on duplicate {value[:20]!r}: use skip, update or create",
                      "import.bad_on_duplicate") from None


@dataclass(frozen=True)
class ImportOptions:
    region: str
    area_code: str = ""
    owner_id: int | None = None
    on_duplicate: OnDuplicate = OnDuplicate.SKIP


@dataclass
class ImportProgress:
    """How far an import is; updated after every batch."""

    total: int
    done: int = 0
    imported: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)
    # Rows found to be duplicates, by what was done with them, and one line each.
    skipped: int = 0
    updated: int = 0
    created_anyway: int = 0
    duplicates: list[RowError] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else self.done * 100 // self.total

    def fail(self, error: RowError, *, new_row: bool = True) -> None:
        if new_row:
            self.failed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(error)

    def duplicate(self, decision: Decision) -> None:
        if decision.action is Action.SKIP:
            self.skipped += 1
        elif decision.action is Action.CREATE:
            self.created_anyway += 1
        else:
            self.updated += 1
        if len(self.duplicates) < MAX_ERRORS_KEPT:
            self.duplicates.append(decision.report())


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


# -- duplicates ---------------------------------------------------------------------------


def duplicate_keys(draft: ContactDraft) -> tuple[str, ...]:
    """What makes two contacts the same: each E.164 number, and the email (ignoring case)."""
    keys = [f"tel:{phone.e164}" for phone in draft.phones]
    if draft.email:
        keys.append(f"mail:{draft.email.lower()}")
    return tuple(keys)


class Action(enum.Enum):
    CREATE = "created"         # a new contact (a duplicate created anyway if ``key``)
    SKIP = "skipped"
    UPDATE = "updated"         # change ``contact_id``, a contact already stored
    MERGE = "merged"           # fold into ``first_row``, a row of this batch not yet stored


@dataclass(frozen=True)
class Decision:
    """What an import does with one checked row. A duplicate names the number or email
    (``key``) it shares with a stored contact (``contact_id``) and, when that contact came
    from this file, the row that brought it (``first_row``)."""

    row: RowDraft
    action: Action
    key: str = ""
    contact_id: int | None = None
    first_row: int | None = None

    def report(self) -> RowError:
        """The line of the per-row report for a duplicate."""
        what, _, value = self.key.partition(":")
        if self.first_row is not None:
            return RowError(self.row.row, what, f"import.duplicate.{self.action.value}_row",
                            {"value": value, "other": self.first_row})
        return RowError(self.row.row, what, f"import.duplicate.{self.action.value}_contact",
                        {"value": value, "contact": self.contact_id})


# A key seen earlier in this import: the contact that has it now and the row it came from.
Seen = tuple[int, int]


def decide(rows: Sequence[RowDraft], stored: Mapping[str, int], seen: Mapping[str, Seen],
           mode: OnDuplicate) -> list[Decision]:
    """What to do with each checked row of a batch, in file order.

    ``stored`` maps the batch's keys that contacts already have to the contact (the
    lowest id); ``seen`` the keys that earlier batches of this import stored. Within the
    batch a row's keys are remembered too, so a file's own repeats are caught even in one
    batch; an earlier row wins over a stored contact, so the report can name it.
    """
    local: dict[str, int] = {}   # key -> the row of this batch that will hold it
    decisions: list[Decision] = []
    for row in rows:
        keys = duplicate_keys(row.draft)
        decision = Decision(row, Action.CREATE)
        for key in keys:
            if key in local:
                decision = _duplicate(row, key, mode, None, local[key])
            elif key in seen:
                decision = _duplicate(row, key, mode, *seen[key])
            elif key in stored:
                decision = _duplicate(row, key, mode, stored[key], None)
            else:
                continue
            break
        decisions.append(decision)
        holder = (decision.first_row if decision.action is Action.MERGE
                  else row.row if decision.action is Action.CREATE else None)
        if holder is not None:
            for key in keys:
                local.setdefault(key, holder)
    return decisions


def _duplicate(row: RowDraft, key: str, mode: OnDuplicate, contact_id: int | None,
               first_row: int | None) -> Decision:
    if mode is OnDuplicate.SKIP:
        action = Action.SKIP
    elif mode is OnDuplicate.CREATE:
        action = Action.CREATE
    else:
        action = Action.UPDATE if contact_id is not None else Action.MERGE
    return Decision(row, action, key, contact_id, first_row)


def merge(old: ContactDraft, new: ContactDraft) -> ContactDraft:
    """A contact updated from an import row: the row's name, email and company when it
    has them, its numbers, tags and lists added, its free fields over the old ones; the
    kind and, unless the import sets one, the owner stay."""
    return ContactDraft(
        kind=old.kind, name=new.name, company_id=new.company_id or old.company_id,
        email=new.email or old.email,
        owner_id=new.owner_id if new.owner_id is not None else old.owner_id,
        fields={**old.fields, **new.fields},
        tags=(*old.tags, *new.tags), lists=(*old.lists, *new.lists),
        phones=(*old.phones, *new.phones))


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
    A row sharing a number or an email with a stored contact, or with an earlier row, is
    skipped, updates that contact, or is created anyway (``options.on_duplicate``).
    """
    check_mapping(table.headers, mapping)
    state = ImportProgress(total=len(table.rows))
    if options.owner_id is not None and await db.fetchone(
        "SELECT 1 FROM users WHERE id = ?", (options.owner_id,)
    ) is None:
        raise InvalidValue(f"owner {options.owner_id} does not exist",
                           key="contact.owner_not_found")
    companies = await _companies(db)
    seen: dict[str, Seen] = {}
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
            await _write_batch(tx, good, companies, options, seen, state)
        state.done += len(chunk)
        if progress is not None:
            progress(state)
    if progress is not None and not table.rows:
        progress(state)
    return state


async def _stored_keys(tx: Transaction, keys: set[str]) -> dict[str, int]:
    """Which of ``keys`` contacts already have: key -> the contact with the lowest id."""
    found: dict[str, int] = {}
    phones = sorted(k.removeprefix("tel:") for k in keys if k.startswith("tel:"))
    mails = sorted(k.removeprefix("mail:") for k in keys if k.startswith("mail:"))
    for start in range(0, len(phones), 500):
        part = phones[start:start + 500]
        for row in await tx.fetchall(
            "SELECT e164, MIN(contact_id) AS id FROM contact_phones"
            f" WHERE e164 IN ({', '.join('?' * len(part))}) GROUP BY e164", part):
            found[f"tel:{row['e164']}"] = int(row["id"])
    for start in range(0, len(mails), 500):
        part = mails[start:start + 500]
        # lower() and email <> '' as written in the index contacts_email (migration 0015).
        for row in await tx.fetchall(
            "SELECT lower(email) AS mail, MIN(id) AS id FROM contacts"
            f" WHERE lower(email) IN ({', '.join('?' * len(part))}) AND email <> ''"
            " GROUP BY lower(email)", part):
            found[f"mail:{row['mail']}"] = int(row["id"])
    return found


async def _company_ids(tx: Transaction, rows: Sequence[RowDraft],
                       companies: dict[str, tuple[int, str]], options: ImportOptions) -> None:
    """Create the companies ``rows`` name that do not exist yet."""
    missing: dict[str, str] = {}
    for row in rows:
        if row.company_name and fold(row.company_name) not in companies:
            missing.setdefault(fold(row.company_name), row.company_name)
    new_firms = [ContactDraft(kind=ContactKind.COMPANY, name=contacts.clean_name(name),
                              owner_id=options.owner_id) for name in missing.values()]
    for draft, new_id in zip(new_firms, await contacts.insert_many(tx, new_firms, {}),
                             strict=True):
        companies[fold(draft.name)] = (new_id, draft.name)


def _with_company(row: RowDraft, companies: Mapping[str, tuple[int, str]],
                  names: dict[int, str]) -> ContactDraft:
    if not row.company_name or row.draft.kind is ContactKind.COMPANY:
        return row.draft
    company_id, company_name = companies[fold(row.company_name)]
    names[company_id] = company_name
    return dataclasses.replace(row.draft, company_id=company_id)


async def _write_batch(tx: Transaction, good: Sequence[RowDraft],
                       companies: dict[str, tuple[int, str]], options: ImportOptions,
                       seen: dict[str, Seen], state: ImportProgress) -> None:
    """Decide about duplicates, then write: companies first (rows that are companies,
    then those people name), then people, then the contacts that rows update."""
    keys = {key for row in good for key in duplicate_keys(row.draft)}
    decisions = decide(good, await _stored_keys(tx, keys) if keys else {}, seen,
                       options.on_duplicate)
    # Rows repeating a row of this batch are folded into it before it is stored.
    creating: dict[int, RowDraft] = {}
    members: dict[int, list[RowDraft]] = {}
    for d in decisions:
        if d.action is Action.CREATE:
            creating[d.row.row] = d.row
            members[d.row.row] = [d.row]
        elif d.action is Action.MERGE and d.first_row is not None:
            root = creating[d.first_row]
            creating[d.first_row] = RowDraft(root.row, merge(root.draft, d.row.draft),
                                             d.row.company_name or root.company_name)
            members[d.first_row].append(d.row)
    built: list[RowDraft] = []
    for row_number, row in list(creating.items()):
        try:  # a merge may go over a limit (numbers, tags): that row is then an error
            built.append(dataclasses.replace(row, draft=contacts.clean_draft(row.draft)))
        except CrmError as exc:
            for member in members.pop(row_number):
                state.fail(RowError(member.row, "", exc.key, exc.params))
    firms = [r for r in built if r.draft.kind is ContactKind.COMPANY]
    ids = await contacts.insert_many(tx, [r.draft for r in firms], {})
    row_ids = dict(zip((r.row for r in firms), ids, strict=True))
    for row, new_id in zip(firms, ids, strict=True):
        companies.setdefault(fold(row.draft.name), (new_id, row.draft.name))
    updates = [d for d in decisions if d.action is Action.UPDATE]
    await _company_ids(tx, [*built, *(d.row for d in updates)], companies, options)
    people = [r for r in built if r.draft.kind is not ContactKind.COMPANY]
    names: dict[int, str] = {}
    ids = await contacts.insert_many(tx, [_with_company(r, companies, names) for r in people],
                                     names)
    row_ids.update(zip((r.row for r in people), ids, strict=True))
    state.imported += len(row_ids)
    for first_row, folded in members.items():
        for member in folded:
            for key in duplicate_keys(member.draft):
                seen.setdefault(key, (row_ids[first_row], first_row))
    for d in updates:
        assert d.contact_id is not None
        try:
            await _update(tx, d, companies)
        except CrmError as exc:
            state.fail(RowError(d.row.row, "", exc.key, exc.params))
            continue
        for key in duplicate_keys(d.row.draft):
            seen.setdefault(key, (d.contact_id, d.row.row))
    for d in decisions:
        if d.key and (d.action is not Action.MERGE or d.first_row in members):
            state.duplicate(d)


async def _update(tx: Transaction, d: Decision, companies: Mapping[str, tuple[int, str]]
                  ) -> None:
    """Update the stored contact a duplicate row names with what the row brings."""
    assert d.contact_id is not None
    stored = await contacts.load(tx, d.contact_id)
    if stored is None:
        raise InvalidValue(f"contact {d.contact_id} is gone", key="contact.not_found")
    row = d.row
    if stored.kind is ContactKind.COMPANY:
        row = dataclasses.replace(row, company_name="")
    await contacts.update_in(tx, stored.id, merge(contacts.draft_of(stored),
                                                  _with_company(row, companies, {})))
