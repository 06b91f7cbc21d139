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

Filters (company, tag, list, owner, last call, last disposition) are indexed lookups too.

Order and pages. Pages are found from a cursor (the row a page starts after or ends
before), never with an OFFSET, so page 2,000 costs what page 1 does (``Cursor``).
Without a search the list is in name order (``contacts_name``); a search lists the
newest contacts first (by id), because name order cannot be had cheaply for a search: a
word as common as a first name matches 40,000 of a million contacts, and putting those in
name order means reading and sorting all of them (0.3-0.5 s here), or walking the name
index until the matches come, which is far when they bunch up late in the alphabet
("zofia"). In id order the table itself is the index: walking it is sequential.

Each ``Condition`` can be run two ways, and ``_page_ids`` picks per page: when one
matches few contacts (at most ``NARROW``, counted with a cap), its ids are fetched and
ordered; otherwise the list walks its order's index from the cursor and tests each row,
which fills a page after a few hundred steps when many match. The walk is bounded
(``WALK_ROWS``): when it comes back short, the matches are sparse, and the narrowest
condition drives after all. Export walks by id (``iter_contacts``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from crm import contacts, phone_numbers
from crm.contact_activity import ActivitySpan, span_bounds
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
    # Contacts whose latest call falls in this span, or never called.
    activity: ActivitySpan | None = None
    # Contacts whose latest call with a disposition got this one.
    disposition_id: int | None = None

    @property
    def newest_first(self) -> bool:
        """Whether the list is by newest contact (a search) rather than by name."""
        return bool(self.query.strip())


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: right after the contact ``id`` (the next page), or, with
    ``before``, it ends right before it (the previous page)."""

    id: int
    before: bool = False


@dataclass(frozen=True)
class ContactPage:
    contacts: tuple[Contact, ...]
    has_next: bool
    has_prev: bool = False
    newest_first: bool = False

    @property
    def first_id(self) -> int | None:
        return self.contacts[0].id if self.contacts else None

    @property
    def last_id(self) -> int | None:
        return self.contacts[-1].id if self.contacts else None


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
    # Columns of ``contacts`` the check reads (besides id): what a walk must hand on.
    columns: tuple[str, ...] = ()
    # Cheap to count with a cap, and usually matching few (a typed number): count it
    # before walking.
    selective: bool = False


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
_SEARCHED = ("search_key",)
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
            return Condition(_KEY_HAS, (_like(digits),), _FTS, (_phrase(digits),),
                             _SEARCHED, selective=True)
        marks = ", ".join("?" * len(keys))
        return Condition(
            f"({_KEY_HAS} OR EXISTS (SELECT 1 FROM contact_phones p"
            f" WHERE p.contact_id = c.id AND p.e164 IN ({marks})))",
            (_like(digits), *keys),
            f"{_FTS} UNION SELECT contact_id FROM contact_phones WHERE e164 IN ({marks})",
            (_phrase(digits), *keys), _SEARCHED, selective=True)
    words = fold(text).split()
    long_words = [w for w in words if len(w) >= MIN_INDEXED]
    if not long_words:
        prefix = " ".join(words)
        return Condition("c.name_key >= ? AND c.name_key < ?", (prefix, prefix + _MAX_CHAR),
                         "SELECT id FROM contacts WHERE name_key >= ? AND name_key < ?",
                         (prefix, prefix + _MAX_CHAR), ("name_key",))
    return Condition(" AND ".join([_KEY_HAS] * len(words)),
                     tuple(_like(w) for w in words),
                     _FTS, (" AND ".join(_phrase(w) for w in long_words),), _SEARCHED)


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
            (where.company_id, where.company_id), ("company_id",)))
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
        found.append(Condition("c.owner_id = ?", (where.owner_id,),
                               "SELECT id FROM contacts WHERE owner_id = ?", (where.owner_id,),
                               ("owner_id",)))
    if where.activity is not None:
        found.append(_activity(where.activity))
    if where.disposition_id is not None:
        found.append(Condition(
            "c.last_disposition_id = ?", (where.disposition_id,),
            "SELECT id FROM contacts WHERE last_disposition_id = ?", (where.disposition_id,),
            ("last_disposition_id",)))
    return found


def _activity(span: ActivitySpan) -> Condition:
    """The "last call" filter: a range on ``contacts_last_activity`` (migration 0015)."""
    if span.never:
        return Condition("c.last_activity_at IS NULL", (),
                         "SELECT id FROM contacts WHERE last_activity_at IS NULL", (),
                         ("last_activity_at",))
    since, until = span_bounds(span)
    parts = [f"c.last_activity_at {op} ?" for op, bound in ((">=", since), ("<", until))
             if bound is not None]
    params = tuple(bound for bound in (since, until) if bound is not None)
    check = " AND ".join(parts) or "c.last_activity_at IS NOT NULL"
    return Condition(check, params,
                     "SELECT id FROM contacts c WHERE " + check, params, ("last_activity_at",))


def choose_driver(sizes: list[int | None]) -> int | None:
    """Which condition's ids to start from: the smallest set of at most ``NARROW`` ids
    (``sizes`` are counts capped at NARROW + 1, None for a condition without ids)."""
    narrow = [(size, i) for i, size in enumerate(sizes) if size is not None and size <= NARROW]
    return min(narrow)[1] if narrow else None


async def _sizes(db: Database, found: list[Condition],
                 cap: int | None = None, row_cap: int | None = None) -> list[int | None]:
    """How many contacts each condition's ids name, counted up to ``cap`` (by default
    ``NARROW + 1``), or ``row_cap`` for one whose check reads the contact row."""
    sizes: list[int | None] = []
    for condition in found:
        if condition.ids is None:
            sizes.append(None)
            continue
        limit = NARROW + 1 if cap is None else cap
        if row_cap is not None and condition.columns:
            limit = row_cap
        row = await db.fetchone(f"SELECT COUNT(*) AS n FROM ({condition.ids} LIMIT ?)",
                                [*condition.ids_params, limit])
        sizes.append(int(row["n"]) if row else None)
    return sizes


# A filter matching at most this many is tested in a walk as membership of its ids.
MEMBERSHIP = 60_000
# Rows a search walks on, after the bounded walk found some matches, rather than count.
SEARCH_WALK_MORE = 40_000
# Filters without a search are ranges and lookups on plain indexes, cheap to count this
# far: enough to compare a driver's size with what the walk is likely still to read.
FILTER_COUNT_CAP = 200_000


def cheaper_driver(sizes: list[int | None], walked: int, hits: int, wanted: int) -> int | None:
    """After a walk of ``walked`` rows found ``hits`` of the ``wanted``: the condition
    whose ids cost less to fetch and order than walking on at that rate would, if any."""
    known = [(size, i) for i, size in enumerate(sizes) if size is not None]
    if not known:
        return None
    size, best = min(known)
    still = (wanted - hits) * walked / hits if hits else float("inf")
    return best if size < still else None


def _clause(found: list[Condition], driver: int | None,
            members: frozenset[int] = frozenset()) -> tuple[str, list[object]]:
    """The conditions ANDed ('' for none), the driver's as ids and the others as checks;
    ``members`` as membership of their ids (SQLite builds the set once, and a row is
    then tested without being read: for filters, ids and check say the same)."""
    parts: list[str] = []
    params: list[object] = []
    for i, condition in enumerate(found):
        if i in members and condition.ids is not None:
            parts.append(f"c.id IN ({condition.ids})")
            params.extend(condition.ids_params)
        elif i == driver and condition.ids is not None:
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


# Rows a page's walk reads before it gives up on the walk (the matches are sparse then,
# and the narrowest condition drives instead): enough for a page when 1 row in 400 matches.
WALK_ROWS = 10_000


@dataclass(frozen=True)
class _Order:
    """A list order: the key columns and SQL for pages after / before a cursor."""

    columns: tuple[str, ...]   # the row's key, last column the id
    ascending: bool            # the order of the "next" direction

    def by(self, backward: bool) -> str:
        up = self.ascending != backward
        return ", ".join(f"c.{col}" + ("" if up else " DESC") for col in self.columns)

    def after(self, key: tuple[object, ...], backward: bool) -> tuple[str, list[object]]:
        """Rows past ``key`` in the direction read."""
        greater = self.ascending != backward
        op = ">" if greater else "<"
        if len(self.columns) == 1:
            return f"c.{self.columns[0]} {op} ?", [key[0]]
        first, last = self.columns
        return (f"c.{first} {op}= ? AND (c.{first} {op} ? OR c.{last} {op} ?)",
                [key[0], key[0], key[1]])


BY_NAME = _Order(("name_key", "id"), ascending=True)
NEWEST = _Order(("id",), ascending=False)


async def _cursor_key(db: Database, order: _Order, cursor: Cursor | None
                      ) -> tuple[object, ...] | None:
    """The cursor row's sort key (None: from the start; a deleted row's id still works
    in id order, in name order its page starts over)."""
    if cursor is None:
        return None
    if order is NEWEST:
        return (cursor.id,)
    row = await db.fetchone("SELECT name_key FROM contacts WHERE id = ?", (cursor.id,))
    return None if row is None else (row["name_key"], cursor.id)


async def _page_ids(db: Database, found: list[Condition], order: _Order,
                    key: tuple[object, ...] | None, backward: bool, limit: int) -> list[int]:
    """The ids of one page in the order read (``limit`` of them past ``key``)."""
    start, start_params = order.after(key, backward) if key is not None else ("", [])
    by = order.by(backward)

    async def query(driver: int | None) -> list[int]:
        clause, params = _clause(found, driver)
        where = " AND ".join(p for p in (clause, start) if p)
        rows = await db.fetchall(
            f"SELECT c.id FROM contacts c{' WHERE ' + where if where else ''}"
            f" ORDER BY {by} LIMIT ?", [*params, *start_params, limit])
        return [int(row["id"]) for row in rows]

    if not any(condition.ids is not None for condition in found):
        return await query(None)   # nothing to look up: the order's index is the list
    members: frozenset[int] = frozenset()
    if order is BY_NAME or any(condition.selective for condition in found):
        # Filters and typed numbers are index lookups, cheap to count: a narrow one
        # drives at once.
        sizes = await _sizes(db, found, None,
                             MEMBERSHIP + 1 if order is BY_NAME else None)
        driver = choose_driver(sizes)
        if driver is not None:
            return await query(driver)
        if order is BY_NAME:
            # A filter that reads the contact row (last call, disposition, owner) would
            # make the walk read a row per step, scattered over the table; tested as
            # membership of its ids instead, the walk stays on the name index.
            members = frozenset(i for i, size in enumerate(sizes) if size is not None
                                and size <= MEMBERSHIP and found[i].columns)
    # Walk a bounded stretch of the order's index from the cursor, testing each row.
    # No ORDER BY outside: SQLite runs the inner query as a co-routine and hands its rows
    # on in its order, so the outer one stops after a page instead of reading (and
    # sorting) the whole stretch.
    columns = dict.fromkeys(("id", *order.columns, *(col for i, c in enumerate(found)
                                                      if i not in members for col in c.columns)))
    clause, params = _clause(found, None, members)
    rows = await db.fetchall(
        f"SELECT c.id FROM (SELECT {', '.join(columns)} FROM contacts c"
        f"{' WHERE ' + start if start else ''} ORDER BY {by} LIMIT ?) c"
        f" WHERE {clause} LIMIT ?", [*start_params, WALK_ROWS, *params, limit])
    if len(rows) == limit:
        return [int(row["id"]) for row in rows]
    if order is BY_NAME:
        # Filters only: count them properly, and let the smallest drive when the rest
        # of the walk, at the rate it found matches, would read more rows.
        sizes = await _sizes(db, found, FILTER_COUNT_CAP)
        return await query(cheaper_driver(sizes, WALK_ROWS, len(rows), limit))
    # A search that found some: walking on at that rate is cheap enough (the table is
    # read in order); counting a common word's trigram matches is not.
    if rows and (limit - len(rows)) * WALK_ROWS / len(rows) <= SEARCH_WALK_MORE:
        return await query(None)
    # Sparse: the narrowest condition drives if it is narrow enough; otherwise the rest
    # of the walk, unbounded (sparse matches of broad conditions: the slow case).
    return await query(choose_driver(await _sizes(db, found)))


async def list_contacts(
    db: Database,
    where: ContactFilter = ContactFilter(),
    *,
    cursor: Cursor | None = None,
    per_page: int = PER_PAGE,
    region: str = "ES",
    area_code: str = "",
) -> ContactPage:
    """One page of contacts matching ``where``: by name (then id), or newest first for a
    search. ``cursor`` names the row the page follows (or, ``before``, precedes);
    ``region``/``area_code`` read a number typed into the search box."""
    order = NEWEST if where.newest_first else BY_NAME
    key = await _cursor_key(db, order, cursor)
    backward = key is not None and cursor is not None and cursor.before
    # One row more than the page tells whether there is another page without a COUNT.
    ids = await _page_ids(db, conditions(where, region, area_code), order, key, backward,
                          per_page + 1)
    more = len(ids) > per_page
    shown = ids[:per_page]
    if backward:
        shown.reverse()
    if not shown:
        return ContactPage((), False, False, where.newest_first)
    rows = await db.fetchall(
        f"{contacts.SELECT} WHERE c.id IN ({', '.join('?' * len(shown))})", shown)
    by_id = {int(row["id"]): row for row in rows}
    found = await contacts.assemble(db, [by_id[i] for i in shown if i in by_id])
    has_next, has_prev = (True, more) if backward else (more, key is not None)
    return ContactPage(tuple(found), has_next, has_prev, where.newest_first)


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
