"""Finding contacts: the list's search box, its filters and its pages.

``plan_search`` is the pure part: it turns what was typed into a ``Condition`` that
says how to look (the SQL it needs comes with it, parameters apart):

- a typed phone number (digits and the usual punctuation, 3 digits or more): the digits
  as a substring of every stored number (trigram index), or, when the text reads as a
  number in the deployment's region, its E.164 keys (``contact_phones_e164``), either way;
- words of 3 characters or more: each one a substring of the folded name, email, company
  or number digits (``search_key``), through the trigram index ``contact_fts`` (migration
  0006); shorter words are substrings too, checked on the rows the others found, since a
  trigram index cannot look up fewer than 3 characters;
- only short words ("an", "j"): the beginning of the name, a range on ``contacts_name``.

Every condition (``Condition``) can be run two ways, and ``choose_driver`` picks per
query: when one matches few contacts (at most ``NARROW``, counted with a cap), its ids are
fetched and sorted; otherwise the list walks the name index in order and tests each row,
which fills a page after a few thousand steps when many match. A word as common as a
surname matches tens of thousands of a million contacts: fetching and sorting them all
took a second, the walk takes milliseconds. The walk is bounded (``WALK_ROWS``): matches
that bunch up late in the alphabet fall back to fetching and sorting.

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
class Condition:
    """One thing a contact must satisfy, written two ways for SQLite's two strategies:

    - ``check``: an SQL test on the row ``c`` (cheap per row: the list walks the name
      index in order and tests each row until a page is full, fast when many match);
    - ``ids``: a SELECT of the contact ids that satisfy it (an index or the trigram index),
      or None; fast when few match, since those rows are then fetched and sorted.
    """

    check: str
    check_params: tuple[object, ...]
    ids: str | None = None
    ids_params: tuple[object, ...] = ()


# A condition matching at most this many contacts drives the query (its ids fetched and
# sorted); above it, walking the name index finds a page's rows sooner (with 1 in 200
# rows matching, a page needs about 5,000 index steps).
NARROW = 5000


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


_KEY_HAS = "c.search_key LIKE ? ESCAPE '\\'"
_FTS = "SELECT rowid FROM contact_fts WHERE contact_fts MATCH ?"


def plan_search(query: str, region: str, area_code: str = "") -> Condition | None:
    """The condition finding ``query`` (None when it is blank: everything matches).

    The trigram index and a LIKE on ``search_key`` find the same rows (every word a
    substring of the folded key), so either strategy gives the same answer.
    """
    text = query.strip()[:MAX_QUERY]
    if not text:
        return None
    digits = phone_numbers.digits(text)
    if _PHONE_LIKE.match(text) and len(digits) >= MIN_INDEXED:
        keys = _number_keys(text, region, area_code)
        if not keys:
            return Condition(_KEY_HAS, (_like(digits),), _FTS, (_phrase(digits),))
        marks = ", ".join("?" * len(keys))
        return Condition(
            f"({_KEY_HAS} OR EXISTS (SELECT 1 FROM contact_phones p"
            f" WHERE p.contact_id = c.id AND p.e164 IN ({marks})))",
            (_like(digits), *keys),
            f"{_FTS} UNION SELECT contact_id FROM contact_phones WHERE e164 IN ({marks})",
            (_phrase(digits), *keys))
    words = fold(text).split()
    long_words = [w for w in words if len(w) >= MIN_INDEXED]
    if not long_words:
        prefix = " ".join(words)
        return Condition("c.name_key >= ? AND c.name_key < ?", (prefix, prefix + _MAX_CHAR))
    return Condition(" AND ".join([_KEY_HAS] * len(words)),
                     tuple(_like(w) for w in words),
                     _FTS, (" AND ".join(_phrase(w) for w in long_words),))


def conditions(where: ContactFilter, region: str, area_code: str) -> list[Condition]:
    """What ``where`` asks of a contact, one ``Condition`` per filter."""
    found: list[Condition] = []
    plan = plan_search(where.query, region, area_code)
    if plan is not None:
        found.append(plan)
    if where.company_id is not None:
        found.append(Condition(
            "(c.company_id = ? OR c.id = ?)", (where.company_id, where.company_id),
            "SELECT id FROM contacts WHERE company_id = ? UNION SELECT ?",
            (where.company_id, where.company_id)))
    for value, table, column in ((where.tag, "contact_tags", "tag_key"),
                                 (where.list, "contact_lists", "list_key")):
        if value.strip():
            key = fold(value.strip())
            # Table and column names come from this fixed tuple, never from input.
            found.append(Condition(
                f"EXISTS (SELECT 1 FROM {table} x WHERE x.contact_id = c.id"
                f" AND x.{column} = ?)", (key,),
                f"SELECT contact_id FROM {table} WHERE {column} = ?", (key,)))
    if where.owner_id is not None:
        # No ids: alone, (owner_id, name_key, id) gives its pages in order directly.
        found.append(Condition("c.owner_id = ?", (where.owner_id,)))
    return found


def choose_driver(sizes: list[int | None]) -> int | None:
    """Which condition's ids to start from: the smallest set of at most ``NARROW`` ids
    (``sizes`` are counts capped at NARROW + 1, None for a condition without ids)."""
    narrow = [(size, i) for i, size in enumerate(sizes) if size is not None and size <= NARROW]
    return min(narrow)[1] if narrow else None


async def _sizes(db: Database, found: list[Condition]) -> list[int | None]:
    """How many contacts each condition's ids name, counted up to ``NARROW + 1``."""
    sizes: list[int | None] = []
    for condition in found:
        if condition.ids is None:
            sizes.append(None)
            continue
        row = await db.fetchone(f"SELECT COUNT(*) AS n FROM ({condition.ids} LIMIT ?)",
                                [*condition.ids_params, NARROW + 1])
        sizes.append(int(row["n"]) if row else None)
    return sizes


def _clause(found: list[Condition], driver: int | None) -> tuple[str, list[object]]:
    """The conditions ANDed ('' for none), the driver's as ids and the others as checks."""
    parts: list[str] = []
    params: list[object] = []
    for i, condition in enumerate(found):
        if i == driver and condition.ids is not None:
            # The check as well: it also holds what the ids cannot (words too short
            # for the trigram index), and costs little on a few thousand rows.
            parts.append(f"c.id IN ({condition.ids}) AND {condition.check}")
            params.extend((*condition.ids_params, *condition.check_params))
        else:
            parts.append(condition.check)
            params.extend(condition.check_params)
    return " AND ".join(parts), params


async def where_sql(db: Database, where: ContactFilter, region: str,
                    area_code: str) -> tuple[str, list[object]]:
    """SQL conditions on ``contacts c`` for ``where`` ('' for none), and parameters,
    driven by the narrowest condition if one is narrow enough."""
    found = conditions(where, region, area_code)
    return _clause(found, choose_driver(await _sizes(db, found)))


# Rows of the name index a broad search reads before it falls back to sorting every
# match: matches can bunch up at the end of the alphabet ("zofia" is a first name, and
# names start with it), where walking from "a" would read nearly every row.
WALK_ROWS = 20_000
# What the bounded walk's inner query hands on: every column a check may test.
_WALKED = "SELECT id, name_key, search_key, owner_id, company_id FROM contacts"
_ORDER = " ORDER BY c.name_key, c.id LIMIT ? OFFSET ?"


async def _page_ids(db: Database, found: list[Condition], offset: int,
                    limit: int) -> list[int]:
    """The ids of one page, in name order (``limit`` of them from ``offset``)."""
    sizes = await _sizes(db, found)
    driver = choose_driver(sizes)
    if driver is None and any(size is not None for size in sizes):
        # Every indexed condition matches many: the first page is most likely near the
        # start of the name index. Read a bounded stretch of it.
        # No ORDER BY outside: SQLite runs the inner query as a co-routine and hands its
        # rows on in its order, so the outer one stops after a page instead of reading
        # (and sorting) the whole stretch.
        clause, params = _clause(found, None)
        rows = await db.fetchall(
            f"SELECT c.id FROM ({_WALKED} ORDER BY name_key, id LIMIT ?) c"
            f" WHERE {clause} LIMIT ? OFFSET ?", [WALK_ROWS + 50 * offset, *params,
                                                 limit, offset])
        if len(rows) == limit:
            return [int(row["id"]) for row in rows]
        driver = min((size, i) for i, size in enumerate(sizes) if size is not None)[1]
    clause, params = _clause(found, driver)
    where = f" WHERE {clause}" if clause else ""
    rows = await db.fetchall(f"SELECT c.id FROM contacts c{where}{_ORDER}",
                             [*params, limit, offset])
    return [int(row["id"]) for row in rows]


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
    # One row more than the page tells whether there is a next page without a COUNT.
    ids = await _page_ids(db, conditions(where, region, area_code), (page - 1) * per_page,
                          per_page + 1)
    shown = ids[:per_page]
    if not shown:
        return ContactPage((), page, False)
    rows = await db.fetchall(
        f"{contacts.SELECT} WHERE c.id IN ({', '.join('?' * len(shown))})", shown)
    by_id = {int(row["id"]): row for row in rows}
    found = await contacts.assemble(db, [by_id[i] for i in shown if i in by_id])
    return ContactPage(tuple(found), page, len(ids) > per_page)


async def iter_contacts(db: Database, where: ContactFilter, *, region: str = "ES",
                        area_code: str = "", batch: int = 500) -> AsyncIterator[Contact]:
    """Every contact matching ``where``, by id, fetched ``batch`` at a time (an export):
    each batch is one short read, so the server keeps answering others in between."""
    found, params = await where_sql(db, where, region, area_code)
    after = 0
    while True:
        sql = contacts.SELECT + " WHERE " + " AND ".join([p for p in (found, "c.id > ?") if p])
        rows = await db.fetchall(sql + " ORDER BY c.id LIMIT ?", [*params, after, batch])
        for contact in await contacts.assemble(db, rows):
            yield contact
        if len(rows) < batch:
            return
        after = int(rows[-1]["id"])
