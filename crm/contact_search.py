"""Finding contacts: the list's search box, its filters and its pages.

``plan_search`` is the pure part: it turns what was typed into a ``SearchPlan`` that
says how to look (the SQL it needs comes with it, parameters apart):

- a typed phone number (digits and the usual punctuation, 3 digits or more): the digits
  as a substring of every stored number (trigram index), or, when the text reads as a
  number in the deployment's region, its E.164 keys (``contact_phones_e164``), either way;
- words of 3 characters or more: each one a substring of the folded name, email, company
  or number digits, through the trigram index ``contact_fts`` (migration 0006); shorter
  words only narrow what the longer ones found, since a trigram index cannot look up
  fewer than 3 characters;
- only short words ("an", "j"): the beginning of the name, a range on ``contacts_name``.

Filters (company, tag, list, owner) are indexed lookups. Pages are in name order, found
with an OFFSET (a page past 100,000 is refused by the view); export walks by id
(``iter_contacts``) so it never pays for an offset.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from crm import contacts, phone_numbers
from crm.contacts import Contact, fold
from crm.db import Database
from crm.errors import InvalidValue

PER_PAGE = 25
MAX_QUERY = 100
# A trigram index finds substrings of at least this many characters.
MIN_INDEXED = 3
_PHONE_LIKE = re.compile(r"^[0-9\s()+\-./]+$")
# Beyond any character a folded name can hold: the end of a prefix range.
_MAX_CHAR = "\U0010ffff"


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
class SearchPlan:
    """How to find what was typed: an SQL condition on ``c`` and its parameters."""

    sql: str
    params: tuple[object, ...]


def _phrase(term: str) -> str:
    """An FTS5 string literal: anything typed is searched for as plain characters."""
    return '"' + term.replace('"', '""') + '"'


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere (used with ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _number_keys(text: str, region: str, area_code: str) -> tuple[str, ...]:
    try:
        number = phone_numbers.parse(text, region, area_code)
    except InvalidValue:
        return ()
    return () if number.is_extension else phone_numbers.match_keys(number.value)


def plan_search(query: str, region: str, area_code: str = "") -> SearchPlan | None:
    """The condition finding ``query`` (None when it is blank: everything matches)."""
    text = query.strip()[:MAX_QUERY]
    if not text:
        return None
    digits = phone_numbers.digits(text)
    if _PHONE_LIKE.match(text) and len(digits) >= MIN_INDEXED:
        keys = _number_keys(text, region, area_code)
        found = "SELECT rowid FROM contact_fts WHERE contact_fts MATCH ?"
        params: list[object] = [_phrase(digits)]
        if keys:
            found += (" UNION SELECT contact_id FROM contact_phones"
                      f" WHERE e164 IN ({', '.join('?' * len(keys))})")
            params.extend(keys)
        return SearchPlan(f"c.id IN ({found})", tuple(params))
    words = fold(text).split()
    long_words = [w for w in words if len(w) >= MIN_INDEXED]
    short_words = [w for w in words if len(w) < MIN_INDEXED]
    if not long_words:
        prefix = " ".join(words)
        return SearchPlan("c.name_key >= ? AND c.name_key < ?", (prefix, prefix + _MAX_CHAR))
    parts = ["c.id IN (SELECT rowid FROM contact_fts WHERE contact_fts MATCH ?)"]
    params = [" AND ".join(_phrase(w) for w in long_words)]
    for word in short_words:
        parts.append("c.search_key LIKE ? ESCAPE '\\'")
        params.append(_like(word))
    return SearchPlan(" AND ".join(parts), tuple(params))


def conditions(where: ContactFilter, region: str,
               area_code: str) -> tuple[list[str], list[object]]:
    """SQL conditions on ``contacts c`` (ANDed) for ``where``, and their parameters."""
    parts: list[str] = []
    params: list[object] = []
    plan = plan_search(where.query, region, area_code)
    if plan is not None:
        parts.append(plan.sql)
        params.extend(plan.params)
    if where.company_id is not None:
        parts.append("(c.company_id = ? OR c.id = ?)")
        params.extend((where.company_id, where.company_id))
    if where.tag.strip():
        parts.append("c.id IN (SELECT contact_id FROM contact_tags WHERE tag_key = ?)")
        params.append(fold(where.tag.strip()))
    if where.list.strip():
        parts.append("c.id IN (SELECT contact_id FROM contact_lists WHERE list_key = ?)")
        params.append(fold(where.list.strip()))
    if where.owner_id is not None:
        parts.append("c.owner_id = ?")
        params.append(where.owner_id)
    return parts, params


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
    found, params = conditions(where, region, area_code)
    sql = contacts.SELECT
    if found:
        sql += " WHERE " + " AND ".join(found)
    # One row more than the page tells whether there is a next page without a COUNT.
    sql += " ORDER BY c.name_key, c.id LIMIT ? OFFSET ?"
    params.extend((per_page + 1, (page - 1) * per_page))
    rows = await db.fetchall(sql, params)
    shown = await contacts.assemble(db, rows[:per_page])
    return ContactPage(tuple(shown), page, len(rows) > per_page)


async def iter_contacts(db: Database, where: ContactFilter, *, region: str = "ES",
                        area_code: str = "", batch: int = 500) -> AsyncIterator[Contact]:
    """Every contact matching ``where``, by id, fetched ``batch`` at a time (an export):
    each batch is one short read, so the server keeps answering others in between."""
    found, params = conditions(where, region, area_code)
    after = 0
    while True:
        sql = contacts.SELECT + " WHERE " + " AND ".join([*found, "c.id > ?"])
        rows = await db.fetchall(sql + " ORDER BY c.id LIMIT ?", [*params, after, batch])
        for contact in await contacts.assemble(db, rows):
            yield contact
        if len(rows) < batch:
            return
        after = int(rows[-1]["id"])
