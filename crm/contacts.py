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
PER_PAGE = 25
MAX_QUERY = 100

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
class ContactFilter:
    """What the contact list shows: a search text and filters (empty/None: all)."""

    query: str = ""
    company_id: int | None = None
    tag: str = ""
    list: str = ""
    owner_id: int | None = None


@dataclass(frozen=True)
class ContactPage:
    contacts: tuple[Contact, ...]
    page: int
    has_next: bool


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


def _has_control(text: str) -> bool:
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
    if len(text) > MAX_NAME or _has_control(text):
        raise InvalidValue(f"contact name is too long or has control characters ({len(text)})",
                           key="contact.invalid_name", max=MAX_NAME)
    return text


def clean_email(email: str) -> str:
    """The email trimmed (may be empty); raises unless it looks like an address."""
    text = _clean_line(email)
    if text and (len(text) > MAX_EMAIL or not _EMAIL.match(text) or _has_control(text)):
        raise InvalidValue(f"email {text[:MAX_EMAIL]!r} is not an address",
                           key="contact.invalid_email", max=MAX_EMAIL)
    return text


def _clean_names(items: Iterable[str], *, limit: int, count: int, what: str) -> tuple[str, ...]:
    cleaned: dict[str, str] = {}
    for item in items:
        text = _clean_line(item)
        if not text:
            continue
        if len(text) > limit or _has_control(text):
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
        if not name or len(name) > MAX_FIELD_NAME or _has_control(name):
            raise InvalidValue(f"field name {name[:MAX_FIELD_NAME]!r} is not acceptable",
                               key="contact.invalid_field_name", max=MAX_FIELD_NAME)
        if len(value) > MAX_FIELD_VALUE or _has_control(value):
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


def _clean_draft(draft: ContactDraft) -> ContactDraft:
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


_SELECT = (
    "SELECT c.id, c.kind, c.name, c.company_id, co.name AS company_name, c.email,"
    " c.owner_id, u.display_name AS owner_name, c.fields, c.created_at, c.updated_at"
    " FROM contacts c LEFT JOIN contacts co ON co.id = c.company_id"
    " LEFT JOIN users u ON u.id = c.owner_id"
)


async def _check_links(tx: Transaction, draft: ContactDraft, contact_id: int | None) -> None:
    if draft.company_id is not None:
        company = await tx.fetchone("SELECT kind FROM contacts WHERE id = ?",
                                    (draft.company_id,))
        if company is None or company["kind"] != ContactKind.COMPANY.value:
            raise InvalidValue(f"company {draft.company_id} does not exist",
                               key="contact.company_not_found")
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


async def _write_parts(tx: Transaction, contact_id: int, draft: ContactDraft) -> None:
    for table in ("contact_phones", "contact_tags", "contact_lists"):
        # Table names come from this fixed tuple, never from the caller.
        await tx.execute(f"DELETE FROM {table} WHERE contact_id = ?", (contact_id,))
    for position, phone in enumerate(draft.phones):
        await tx.execute(
            "INSERT INTO contact_phones (contact_id, label, e164, position) VALUES (?, ?, ?, ?)",
            (contact_id, phone.label.value, phone.e164, position),
        )
    for tag in draft.tags:
        await tx.execute("INSERT INTO contact_tags (contact_id, tag, tag_key) VALUES (?, ?, ?)",
                         (contact_id, tag, fold(tag)))
    for name in draft.lists:
        await tx.execute(
            "INSERT INTO contact_lists (contact_id, list, list_key) VALUES (?, ?, ?)",
            (contact_id, name, fold(name)),
        )


def _keys(draft: ContactDraft) -> tuple[str, str]:
    return fold(draft.name), f"{fold(draft.name)}\n{fold(draft.email)}"


async def create_contact(db: Database, draft: ContactDraft) -> Contact:
    """Store a new contact; raises ``InvalidValue`` for any unacceptable value."""
    draft = _clean_draft(draft)
    name_key, search_key = _keys(draft)
    now = clock.to_db(clock.utc_now())
    async with db.transaction() as tx:
        await _check_links(tx, draft, None)
        row = await tx.fetchone(
            "INSERT INTO contacts (kind, name, name_key, search_key, company_id, email,"
            " owner_id, fields, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (draft.kind.value, draft.name, name_key, search_key, draft.company_id,
             draft.email, draft.owner_id, json.dumps(dict(draft.fields), ensure_ascii=False),
             now, now),
        )
        assert row is not None
        contact_id = int(row["id"])
        await _write_parts(tx, contact_id, draft)
        contact = await _get(tx, contact_id)
    assert contact is not None
    return contact


async def update_contact(db: Database, contact_id: int, draft: ContactDraft) -> Contact:
    """Replace every value of a contact (phones, tags and lists included)."""
    draft = _clean_draft(draft)
    name_key, search_key = _keys(draft)
    async with db.transaction() as tx:
        if await tx.fetchone("SELECT 1 FROM contacts WHERE id = ?", (contact_id,)) is None:
            raise NotFound(f"contact {contact_id} does not exist", key="contact.not_found")
        await _check_links(tx, draft, contact_id)
        await tx.execute(
            "UPDATE contacts SET kind = ?, name = ?, name_key = ?, search_key = ?,"
            " company_id = ?, email = ?, owner_id = ?, fields = ?, updated_at = ?"
            " WHERE id = ?",
            (draft.kind.value, draft.name, name_key, search_key, draft.company_id,
             draft.email, draft.owner_id, json.dumps(dict(draft.fields), ensure_ascii=False),
             clock.to_db(clock.utc_now()), contact_id),
        )
        await _write_parts(tx, contact_id, draft)
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
            await tx.execute("UPDATE contacts SET updated_at = ? WHERE id = ?",
                             (clock.to_db(clock.utc_now()), contact_id))
        contact = await _get(tx, contact_id)
    assert contact is not None
    return contact


async def delete_contact(db: Database, contact_id: int) -> bool:
    """Delete a contact with its numbers, tags and lists; its people lose their company."""
    return await db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,)) > 0


async def get_contact(db: Database, contact_id: int) -> Contact | None:
    return await _get(db, contact_id)


async def _get(tx: _Reader, contact_id: int) -> Contact | None:
    row = await tx.fetchone(f"{_SELECT} WHERE c.id = ?", (contact_id,))
    if row is None:
        return None
    return (await _assemble(tx, [row]))[0]


async def _assemble(tx: _Reader, rows: Sequence[Row]) -> list[Contact]:
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


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere (used with ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search_condition(query: str, region: str, area_code: str) -> tuple[str, list[object]]:
    """SQL matching the search box: name or email, or a phone number's digits."""
    text = query.strip()[:MAX_QUERY]
    conditions = ["c.search_key LIKE ? ESCAPE '\\'"]
    params: list[object] = [_like(fold(text))]
    digits = phone_numbers.digits(text)
    if len(digits) >= 3:
        conditions.append(
            "EXISTS (SELECT 1 FROM contact_phones p WHERE p.contact_id = c.id"
            " AND p.e164 LIKE ? ESCAPE '\\')"
        )
        params.append(_like(digits))
        try:
            number = phone_numbers.parse(text, region, area_code)
        except InvalidValue:
            number = None
        if number is not None and not number.is_extension:
            keys = phone_numbers.match_keys(number.value)
            conditions.append(
                "c.id IN (SELECT contact_id FROM contact_phones"
                f" WHERE e164 IN ({', '.join('?' * len(keys))}))"
            )
            params.extend(keys)
    return "(" + " OR ".join(conditions) + ")", params


async def list_contacts(
    db: Database,
    where: ContactFilter = ContactFilter(),
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
    region: str = "ES",
    area_code: str = "",
) -> ContactPage:
    """One page of contacts matching ``where``, ordered by name (then id, so pages are
    stable). ``region``/``area_code`` read a number typed into the search box."""
    page = max(1, page)
    conditions: list[str] = []
    params: list[object] = []
    if where.query.strip():
        sql, values = _search_condition(where.query, region, area_code)
        conditions.append(sql)
        params.extend(values)
    if where.company_id is not None:
        conditions.append("(c.company_id = ? OR c.id = ?)")
        params.extend((where.company_id, where.company_id))
    if where.tag.strip():
        conditions.append("c.id IN (SELECT contact_id FROM contact_tags WHERE tag_key = ?)")
        params.append(fold(_clean_line(where.tag)))
    if where.list.strip():
        conditions.append("c.id IN (SELECT contact_id FROM contact_lists WHERE list_key = ?)")
        params.append(fold(_clean_line(where.list)))
    if where.owner_id is not None:
        conditions.append("c.owner_id = ?")
        params.append(where.owner_id)
    sql = _SELECT
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    # One row more than the page tells whether there is a next page without a COUNT.
    sql += " ORDER BY c.name_key, c.id LIMIT ? OFFSET ?"
    params.extend((per_page + 1, (page - 1) * per_page))
    rows = await db.fetchall(sql, params)
    contacts = await _assemble(db, rows[:per_page])
    return ContactPage(tuple(contacts), page, len(rows) > per_page)


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


async def list_companies(db: Database) -> list[ContactRef]:
    rows = await db.fetchall(
        "SELECT id, name FROM contacts WHERE kind = 'company' ORDER BY name_key, id"
    )
    return [ContactRef(int(row["id"]), row["name"], None) for row in rows]


async def tag_names(db: Database) -> list[str]:
    rows = await db.fetchall(
        "SELECT MIN(tag) AS tag FROM contact_tags GROUP BY tag_key ORDER BY tag_key"
    )
    return [row["tag"] for row in rows]


async def list_names(db: Database) -> list[str]:
    rows = await db.fetchall(
        "SELECT MIN(list) AS list FROM contact_lists GROUP BY list_key ORDER BY list_key"
    )
    return [row["list"] for row in rows]
