"""Contacts: people and companies, their phone numbers, tags, lists and free fields.

A view cleans each field with the ``clean_*`` functions (one ``InvalidValue`` per field,
so a form shows every mistake), builds a ``ContactDraft`` and passes it to
``create_contact`` / ``update_contact``, which clean it again and check, inside the write
transaction, that the company and the owner exist. Phone numbers arrive as typed and are
stored E.164 (crm/phone_numbers.py) in ``contact_phones``, whose index caller-ID matching
uses (crm/callerid.py).
"""

from __future__ import annotations

import enum
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from crm import clock, phone_numbers
from crm.db import Database, Params, Row, Transaction
from crm.errors import InvalidValue, NotFound


class _Reader(Protocol):
    """A ``Database`` or a ``Transaction``: reads need no write lock."""

    async def fetchone(self, sql: str, params: Params = ...) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params = ...) -> list[Row]: ...

MAX_NAME = 200
MAX_EMAIL = 254
MAX_TAG = 40
MAX_TAGS = 30
MAX_LIST = 60
MAX_LISTS = 30
MAX_FIELD_NAME = 50
MAX_FIELD_VALUE = 1000
MAX_FIELDS = 30
MAX_PHONES = 20

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Letters NFKD does not take apart, so that "Łódź" is found by typing "lodz".
_UNACCENTED = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "\u0131": "i"})


class ContactKind(enum.StrEnum):
    PERSON = "person"
    COMPANY = "company"


class PhoneLabel(enum.StrEnum):
    MOBILE = "mobile"
    WORK = "work"
    HOME = "home"
    OTHER = "other"


@dataclass(frozen=True)
class ContactPhone:
    label: PhoneLabel
    e164: str


@dataclass(frozen=True)
class ContactDraft:
    """What a contact is made of, before it has an id; values as the ``clean_*`` return."""

    kind: ContactKind
    name: str
    company_id: int | None = None
    email: str = ""
    owner_id: int | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    phones: tuple[ContactPhone, ...] = ()


@dataclass(frozen=True)
class Contact:
    id: int
    kind: ContactKind
    name: str
    company_id: int | None
    company_name: str | None
    email: str
    owner_id: int | None
    owner_name: str | None
    fields: Mapping[str, str]
    tags: tuple[str, ...]
    lists: tuple[str, ...]
    phones: tuple[ContactPhone, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def is_company(self) -> bool:
        return self.kind is ContactKind.COMPANY


@dataclass(frozen=True)
class ContactRef:
    """Just enough to name a contact (a caller-ID pick list)."""

    id: int
    name: str
    company_name: str | None


def fold(text: str) -> str:
    """``text`` without case or accents, for searching and ordering."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return plain.translate(_UNACCENTED)


def has_control(text: str) -> bool:
    """Whether ``text`` holds control or format characters (refused in every field)."""
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def _clean_line(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def parse_kind(value: str) -> ContactKind:
    try:
        return ContactKind(value)
    except ValueError:
        raise InvalidValue(f"contact kind {value!r}: use person or company",
                           key="contact.invalid_kind") from None


def parse_label(value: str) -> PhoneLabel:
    try:
        return PhoneLabel(value)
    except ValueError:
        raise InvalidValue(f"phone label {value!r}: use mobile, work, home or other",
                           key="contact.invalid_label") from None


def clean_name(name: str) -> str:
    text = _clean_line(name)
    if not text:
        raise InvalidValue("contact name is empty", key="contact.empty_name")
    if len(text) > MAX_NAME or has_control(text):
        raise InvalidValue(f"contact name is too long or has control characters ({len(text)})",
                           key="contact.invalid_name", max=MAX_NAME)
    return text


def clean_email(email: str) -> str:
    """The email trimmed (may be empty); raises unless it looks like an address."""
    text = _clean_line(email)
    if text and (len(text) > MAX_EMAIL or not _EMAIL.match(text) or has_control(text)):
        raise InvalidValue(f"email {text[:MAX_EMAIL]!r} is not an address",
                           key="contact.invalid_email", max=MAX_EMAIL)
    return text


def _clean_names(items: Iterable[str], *, limit: int, count: int, what: str) -> tuple[str, ...]:
    cleaned: dict[str, str] = {}
    for item in items:
        text = _clean_line(item)
        if not text:
            continue
        if len(text) > limit or has_control(text):
            raise InvalidValue(f"{what} {text[:limit]!r} is too long",
                               key=f"contact.invalid_{what}", max=limit)
        cleaned.setdefault(fold(text), text)
    if len(cleaned) > count:
        raise InvalidValue(f"{len(cleaned)} {what}s: at most {count}",
                           key=f"contact.too_many_{what}s", max=count)
    return tuple(cleaned.values())


def clean_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags trimmed, blanks and duplicates (ignoring case) dropped, order kept."""
    return _clean_names(tags, limit=MAX_TAG, count=MAX_TAGS, what="tag")


def clean_lists(lists: Iterable[str]) -> tuple[str, ...]:
    """List names, cleaned like tags."""
    return _clean_names(lists, limit=MAX_LIST, count=MAX_LISTS, what="list")


def split_names(text: str) -> list[str]:
    """Tags or lists as typed in one box, separated by commas or lines."""
    return re.split(r"[,\n]", text)


def clean_fields(values: Mapping[str, str]) -> dict[str, str]:
    """Free fields: names 1-50 characters, values up to 1000; empty values dropped."""
    cleaned: dict[str, str] = {}
    for raw_name, raw_value in values.items():
        name, value = _clean_line(raw_name), _clean_line(raw_value)
        if not value:
            continue
        if not name or len(name) > MAX_FIELD_NAME or has_control(name):
            raise InvalidValue(f"field name {name[:MAX_FIELD_NAME]!r} is not acceptable",
                               key="contact.invalid_field_name", max=MAX_FIELD_NAME)
        if len(value) > MAX_FIELD_VALUE or has_control(value):
            raise InvalidValue(f"field {name!r} is too long",
                               key="contact.invalid_field_value", name=name,
                               max=MAX_FIELD_VALUE)
        cleaned[name] = value
    if len(cleaned) > MAX_FIELDS:
        raise InvalidValue(f"{len(cleaned)} fields: at most {MAX_FIELDS}",
                           key="contact.too_many_fields", max=MAX_FIELDS)
    return cleaned


def parse_fields(text: str) -> dict[str, str]:
    """Free fields typed one per line as ``name: value``."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise InvalidValue(f"field line {line[:60]!r} has no colon",
                               key="contact.field_without_colon", line=line.strip()[:60])
        values[name] = value
    return clean_fields(values)


def format_fields(values: Mapping[str, str]) -> str:
    return "\n".join(f"{name}: {value}" for name, value in values.items())


def clean_phone(label: str, number: str, region: str, area_code: str = "") -> ContactPhone:
    """One phone row: its label checked and its number read into E.164."""
    parsed = phone_numbers.parse(number, region, area_code)
    if parsed.is_extension:
        raise InvalidValue(f"{number!r} is an internal extension", key="contact.extension",
                           number=parsed.value)
    return ContactPhone(parse_label(label), parsed.value)


def clean_phones(phones: Iterable[ContactPhone]) -> tuple[ContactPhone, ...]:
    """Phones with the same number once (the first label wins); at most ``MAX_PHONES``."""
    unique: dict[str, ContactPhone] = {}
    for phone in phones:
        # Read again: only a number parse() would have produced is stored as a key.
        if not phone.e164.startswith("+") or phone_numbers.parse(
            phone.e164, "ZZ"
        ).value != phone.e164:
            raise InvalidValue(f"{phone.e164!r} is not E.164", key="phone.invalid",
                               number=phone.e164)
        unique.setdefault(phone.e164, ContactPhone(parse_label(phone.label), phone.e164))
    if len(unique) > MAX_PHONES:
        raise InvalidValue(f"{len(unique)} numbers: at most {MAX_PHONES}",
                           key="contact.too_many_phones", max=MAX_PHONES)
    return tuple(unique.values())


def clean_draft(draft: ContactDraft) -> ContactDraft:
    """Every value of ``draft`` checked and cleaned; raises ``InvalidValue``."""
    kind = parse_kind(draft.kind)
    if kind is ContactKind.COMPANY and draft.company_id is not None:
        raise InvalidValue("a company cannot belong to a company",
                           key="contact.company_of_company")
    return ContactDraft(
        kind=kind,
        name=clean_name(draft.name),
        company_id=draft.company_id,
        email=clean_email(draft.email),
        owner_id=draft.owner_id,
        fields=clean_fields(draft.fields),
        tags=clean_tags(draft.tags),
        lists=clean_lists(draft.lists),
        phones=clean_phones(draft.phones),
    )


SELECT = (
    "SELECT c.id, c.kind, c.name, c.company_id, co.name AS company_name, c.email,"
    " c.owner_id, u.display_name AS owner_name, c.fields, c.created_at, c.updated_at"
    " FROM contacts c LEFT JOIN contacts co ON co.id = c.company_id"
    " LEFT JOIN users u ON u.id = c.owner_id"
)


async def _check_links(tx: Transaction, draft: ContactDraft,
                       contact_id: int | None) -> str | None:
    """Check that the company and owner exist; return the company's name (or None)."""
    company_name: str | None = None
    if draft.company_id is not None:
        company = await tx.fetchone("SELECT kind, name FROM contacts WHERE id = ?",
                                    (draft.company_id,))
        if company is None or company["kind"] != ContactKind.COMPANY.value:
            raise InvalidValue(f"company {draft.company_id} does not exist",
                               key="contact.company_not_found")
        company_name = company["name"]
    if draft.owner_id is not None and await tx.fetchone(
        "SELECT 1 FROM users WHERE id = ?", (draft.owner_id,)
    ) is None:
        raise InvalidValue(f"owner {draft.owner_id} does not exist",
                           key="contact.owner_not_found")
    if contact_id is not None and draft.kind is ContactKind.PERSON and await tx.fetchone(
        "SELECT 1 FROM contacts WHERE company_id = ? LIMIT 1", (contact_id,)
    ) is not None:
        raise InvalidValue(f"contact {contact_id} has people: it must stay a company",
                           key="contact.company_has_people")
    return company_name


async def _write_parts(tx: Transaction, contact_id: int, draft: ContactDraft) -> None:
    for table in ("contact_phones", "contact_tags", "contact_lists"):
        # Table names come from this fixed tuple, never from the caller.
        await tx.execute(f"DELETE FROM {table} WHERE contact_id = ?", (contact_id,))
    await _insert_parts(tx, [(contact_id, draft)])


# Rows per multi-row INSERT: well under SQLite's limit of 32766 parameters.
_ROWS_PER_INSERT = 400


async def _insert_rows(tx: Transaction, head: str, width: int,
                       rows: Sequence[tuple[object, ...]]) -> None:
    """``INSERT ... VALUES (...), (...)`` in chunks: one statement per chunk, not per row."""
    marks = "(" + ", ".join("?" * width) + ")"
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start:start + _ROWS_PER_INSERT]
        await tx.execute(f"{head} VALUES {', '.join([marks] * len(chunk))}",
                         [value for row in chunk for value in row])


async def _insert_parts(tx: Transaction, items: Sequence[tuple[int, ContactDraft]]) -> None:
    phones = [(cid, p.label.value, p.e164, pos) for cid, d in items
              for pos, p in enumerate(d.phones)]
    tags = [(cid, tag, fold(tag)) for cid, d in items for tag in d.tags]
    lists = [(cid, name, fold(name)) for cid, d in items for name in d.lists]
    await _insert_rows(tx, "INSERT INTO contact_phones (contact_id, label, e164, position)",
                       4, phones)
    await _insert_rows(tx, "INSERT INTO contact_tags (contact_id, tag, tag_key)", 3, tags)
    await _insert_rows(tx, "INSERT INTO contact_lists (contact_id, list, list_key)", 3, lists)


def search_key(name: str, email: str, company_name: str | None,
               phones: Iterable[str]) -> str:
    """What the search box finds a contact by (indexed by trigrams, migration 0006): the
    folded name, email and company, and every number's digits, one per line."""
    digits = " ".join(phone_numbers.digits(e164) for e164 in phones)
    return "\n".join((fold(name), fold(email), fold(company_name or ""), digits))


def _keys(draft: ContactDraft, company_name: str | None) -> tuple[str, str]:
    return fold(draft.name), search_key(draft.name, draft.email, company_name,
                                        (p.e164 for p in draft.phones))


def _contact_row(draft: ContactDraft, company_name: str | None,
                 now: str) -> tuple[object, ...]:
    name_key, key = _keys(draft, company_name)
    return (draft.kind.value, draft.name, name_key, key, draft.company_id, draft.email,
            draft.owner_id, json.dumps(dict(draft.fields), ensure_ascii=False), now, now)


_INSERT_CONTACT = ("INSERT INTO contacts (kind, name, name_key, search_key, company_id, email,"
                   " owner_id, fields, created_at, updated_at)")


async def create_contact(db: Database, draft: ContactDraft) -> Contact:
    """Store a new contact; raises ``InvalidValue`` for any unacceptable value."""
    draft = clean_draft(draft)
    now = clock.to_db(clock.utc_now())
    async with db.transaction() as tx:
        company_name = await _check_links(tx, draft, None)
        row = await tx.fetchone(f"{_INSERT_CONTACT} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                                " RETURNING id", _contact_row(draft, company_name, now))
        assert row is not None
        contact_id = int(row["id"])
        await _insert_parts(tx, [(contact_id, draft)])
        contact = await _get(tx, contact_id)
    assert contact is not None
    return contact


async def insert_many(tx: Transaction, drafts: Sequence[ContactDraft],
                      company_names: Mapping[int, str]) -> list[int]:
    """Insert already-cleaned drafts in one go (an import batch); return their ids.

    The caller has checked the links: every ``company_id`` is a company named in
    ``company_names`` and every owner exists. Ids are given out here rather than read back
    one by one: inside the transaction this connection holds SQLite's write lock, so
    nobody else can take ``MAX(id) + 1`` meanwhile.
    """
    if not drafts:
        return []
    row = await tx.fetchone("SELECT COALESCE(MAX(id), 0) AS top FROM contacts")
    assert row is not None
    first = int(row["top"]) + 1
    ids = list(range(first, first + len(drafts)))
    now = clock.to_db(clock.utc_now())
    await _insert_rows(tx, f"{_INSERT_CONTACT[:-1]}, id)", 11, [
        (*_contact_row(d, company_names.get(d.company_id) if d.company_id else None, now), i)
        for i, d in zip(ids, drafts, strict=True)])
    await _insert_parts(tx, list(zip(ids, drafts, strict=True)))
    return ids


async def _rekey_people(tx: Transaction, company_id: int, company_name: str | None) -> None:
    """Refresh the search keys of a company's people after its name changed."""
    people = await tx.fetchall(
        "SELECT c.id, c.name, c.email, group_concat(p.e164, ' ') AS phones FROM contacts c"
        " LEFT JOIN contact_phones p ON p.contact_id = c.id WHERE c.company_id = ?"
        " GROUP BY c.id", (company_id,))
    for person in people:
        numbers = (person["phones"] or "").split()
        await tx.execute("UPDATE contacts SET search_key = ? WHERE id = ?",
                         (search_key(person["name"], person["email"], company_name, numbers),
                          person["id"]))


async def update_contact(db: Database, contact_id: int, draft: ContactDraft) -> Contact:
    """Replace every value of a contact (phones, tags and lists included)."""
    async with db.transaction() as tx:
        return await update_in(tx, contact_id, draft)


async def update_in(tx: Transaction, contact_id: int, draft: ContactDraft) -> Contact:
    """``update_contact`` inside the caller's transaction (an import batch)."""
    draft = clean_draft(draft)
    before = await tx.fetchone("SELECT name FROM contacts WHERE id = ?", (contact_id,))
    if before is None:
        raise NotFound(f"contact {contact_id} does not exist", key="contact.not_found")
    company_name = await _check_links(tx, draft, contact_id)
    name_key, key = _keys(draft, company_name)
    await tx.execute(
        "UPDATE contacts SET kind = ?, name = ?, name_key = ?, search_key = ?,"
        " company_id = ?, email = ?, owner_id = ?, fields = ?, updated_at = ?"
        " WHERE id = ?",
        (draft.kind.value, draft.name, name_key, key, draft.company_id,
         draft.email, draft.owner_id, json.dumps(dict(draft.fields), ensure_ascii=False),
         clock.to_db(clock.utc_now()), contact_id),
    )
    await _write_parts(tx, contact_id, draft)
    if draft.kind is ContactKind.COMPANY and before["name"] != draft.name:
        await _rekey_people(tx, contact_id, draft.name)
    contact = await _get(tx, contact_id)
    assert contact is not None
    return contact


async def add_phone(db: Database, contact_id: int, phone: ContactPhone) -> Contact:
    """Add a number to an existing contact (a no-op if it already has it)."""
    (phone,) = clean_phones([phone])
    async with db.transaction() as tx:
        if await tx.fetchone("SELECT 1 FROM contacts WHERE id = ?", (contact_id,)) is None:
            raise NotFound(f"contact {contact_id} does not exist", key="contact.not_found")
        count = await tx.fetchone(
            "SELECT COUNT(*) AS n, COALESCE(MAX(position) + 1, 0) AS next,"
            " SUM(e164 = ?) AS has FROM contact_phones WHERE contact_id = ?",
            (phone.e164, contact_id),
        )
        assert count is not None
        if not count["has"]:
            if count["n"] >= MAX_PHONES:
                raise InvalidValue(f"contact {contact_id} has {MAX_PHONES} numbers",
                                   key="contact.too_many_phones", max=MAX_PHONES)
            await tx.execute(
                "INSERT INTO contact_phones (contact_id, label, e164, position)"
                " VALUES (?, ?, ?, ?)",
                (contact_id, phone.label.value, phone.e164, count["next"]),
            )
            # The digits are part of the search key: "99999" must find the new number.
            await tx.execute("UPDATE contacts SET updated_at = ?,"
                             " search_key = search_key || ' ' || ? WHERE id = ?",
                             (clock.to_db(clock.utc_now()), phone_numbers.digits(phone.e164),
                              contact_id))
        contact = await _get(tx, contact_id)
    assert contact is not None
    return contact


async def delete_contact(db: Database, contact_id: int) -> bool:
    """Delete a contact with its numbers, tags and lists; its people lose their company."""
    async with db.transaction() as tx:
        # ON DELETE SET NULL cuts the people's link; their search keys forget the name.
        await _rekey_people(tx, contact_id, None)
        return await tx.execute("DELETE FROM contacts WHERE id = ?", (contact_id,)) > 0


async def get_contact(db: Database, contact_id: int) -> Contact | None:
    return await _get(db, contact_id)


async def load(tx: _Reader, contact_id: int) -> Contact | None:
    """``get_contact`` inside a transaction."""
    return await _get(tx, contact_id)


async def _get(tx: _Reader, contact_id: int) -> Contact | None:
    row = await tx.fetchone(f"{SELECT} WHERE c.id = ?", (contact_id,))
    if row is None:
        return None
    return (await assemble(tx, [row]))[0]


async def assemble(tx: _Reader, rows: Sequence[Row]) -> list[Contact]:
    """Contacts from their rows, with phones, tags and lists in three queries."""
    ids = [int(row["id"]) for row in rows]
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    phones: dict[int, list[ContactPhone]] = {i: [] for i in ids}
    for row in await tx.fetchall(
        f"SELECT contact_id, label, e164 FROM contact_phones WHERE contact_id IN ({marks})"
        " ORDER BY contact_id, position, id", ids,
    ):
        phones[int(row["contact_id"])].append(ContactPhone(PhoneLabel(row["label"]),
                                                           row["e164"]))
    tags: dict[int, list[str]] = {i: [] for i in ids}
    for row in await tx.fetchall(
        f"SELECT contact_id, tag FROM contact_tags WHERE contact_id IN ({marks})"
        " ORDER BY contact_id, tag_key", ids,
    ):
        tags[int(row["contact_id"])].append(row["tag"])
    lists: dict[int, list[str]] = {i: [] for i in ids}
    for row in await tx.fetchall(
        f"SELECT contact_id, list FROM contact_lists WHERE contact_id IN ({marks})"
        " ORDER BY contact_id, list_key", ids,
    ):
        lists[int(row["contact_id"])].append(row["list"])
    return [
        Contact(
            id=int(row["id"]),
            kind=ContactKind(row["kind"]),
            name=row["name"],
            company_id=row["company_id"],
            company_name=row["company_name"],
            email=row["email"],
            owner_id=row["owner_id"],
            owner_name=row["owner_name"],
            fields=json.loads(row["fields"]),
            tags=tuple(tags[int(row["id"])]),
            lists=tuple(lists[int(row["id"])]),
            phones=tuple(phones[int(row["id"])]),
            created_at=clock.from_db(row["created_at"]),
            updated_at=clock.from_db(row["updated_at"]),
        )
        for row in rows
    ]


async def contacts_with_numbers(db: Database, keys: Sequence[str],
                                limit: int = 50) -> list[ContactRef]:
    """The first ``limit`` contacts having any of the E.164 ``keys``, by name (an indexed
    lookup)."""
    if not keys:
        return []
    rows = await db.fetchall(
        "SELECT DISTINCT c.id, c.name, c.name_key, co.name AS company_name"
        " FROM contact_phones p JOIN contacts c ON c.id = p.contact_id"
        " LEFT JOIN contacts co ON co.id = c.company_id"
        f" WHERE p.e164 IN ({', '.join('?' * len(keys))}) ORDER BY c.name_key, c.id"
        " LIMIT ?",
        [*keys, limit],
    )
    return [ContactRef(int(row["id"]), row["name"], row["company_name"]) for row in rows]


def draft_of(contact: Contact) -> ContactDraft:
    """What a stored contact is made of, to be changed and saved again."""
    return ContactDraft(kind=contact.kind, name=contact.name, company_id=contact.company_id,
                        email=contact.email, owner_id=contact.owner_id,
                        fields=dict(contact.fields), tags=contact.tags, lists=contact.lists,
                        phones=contact.phones)


# Beyond any character a folded name can hold: the end of a prefix range.
MAX_CHAR = "\U0010ffff"
MAX_COMPANY_QUERY = MAX_NAME


async def companies_starting(db: Database, typed: str, limit: int) -> list[ContactRef]:
    """The first ``limit`` companies whose name begins with ``typed`` (ignoring case and
    accents), by name: a range on ``contacts_kind_name``, whatever the number of
    contacts."""
    prefix = fold(_clean_line(typed))[:MAX_COMPANY_QUERY]
    rows = await db.fetchall(
        "SELECT id, name FROM contacts WHERE kind = 'company' AND name_key >= ?"
        " AND name_key < ? ORDER BY name_key, id LIMIT ?", (prefix, prefix + MAX_CHAR, limit))
    return [ContactRef(int(row["id"]), row["name"], None) for row in rows]


async def company_named(db: _Reader, name: str) -> ContactRef | None:
    """The company called ``name`` (ignoring case and accents; the oldest if several)."""
    row = await db.fetchone(
        "SELECT id, name FROM contacts WHERE kind = 'company' AND name_key = ?"
        " ORDER BY id LIMIT 1", (fold(_clean_line(name)),))
    return None if row is None else ContactRef(int(row["id"]), row["name"], None)


async def list_companies(db: Database, limit: int | None = None) -> list[ContactRef]:
    """Companies by name (the first ``limit`` of them), through ``contacts_kind_name``."""
    rows = await db.fetchall(
        "SELECT id, name FROM contacts WHERE kind = 'company' ORDER BY name_key, id LIMIT ?",
        (-1 if limit is None else limit,))
    return [ContactRef(int(row["id"]), row["name"], None) for row in rows]


# Distinct names of a big table by hopping through its index, one seek per name, instead
# of reading every row (a million contacts have a quarter of a million list rows).
# Table and column names come from the two callers below, never from input.
_DISTINCT_NAMES = (
    "WITH RECURSIVE k(key) AS ("
    " SELECT MIN({key}) FROM {table}"
    " UNION ALL SELECT (SELECT MIN({key}) FROM {table} WHERE {key} > k.key) FROM k"
    "  WHERE k.key IS NOT NULL)"
    " SELECT (SELECT {name} FROM {table} WHERE {key} = k.key LIMIT 1) AS name"
    " FROM k WHERE k.key IS NOT NULL LIMIT ?"
)
MAX_NAMES = 500


async def tag_names(db: Database) -> list[str]:
    """Tags in use, by folded name (one spelling of each)."""
    rows = await db.fetchall(_DISTINCT_NAMES.format(key="tag_key", table="contact_tags",
                                                    name="tag"), (MAX_NAMES,))
    return [row["name"] for row in rows]


async def list_names(db: Database) -> list[str]:
    """Lists in use, by folded name (one spelling of each)."""
    rows = await db.fetchall(_DISTINCT_NAMES.format(key="list_key", table="contact_lists",
                                                    name="list"), (MAX_NAMES,))
    return [row["name"] for row in rows]
