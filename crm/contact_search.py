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
before), never with an OFFSET, so page 2,000 costs what page 1 does (``Cursor``). The
list is by name whenever that is cheap, and the page says so otherwise
(``choose_order``): without a search always, and for a search when some condition
matches at most ``NARROW`` contacts; a search matching more lists the newest contacts
first (by id), because putting 40,000 matches of a common first name in name order means
reading and sorting all of them. The pager's links keep the order of the first page.

Every page is one of two reads, both bounded by the page, never by the table:

- a condition matching at most ``NARROW`` contacts (each counted with that cap) drives:
  its ids are fetched, the other conditions checked and the few rows sorted;
- otherwise the list walks its order's index from the cursor, at most ``WALK_ROWS``
  entries, testing each (in name order the filters on the contact itself are answered
  by the index, migration 0020; tags and lists are a probe of their primary keys).
  When those entries hold fewer matches than a page (a sparse combination of broad
  filters), the page shows what they held and its "next" link, "keep looking", goes on
  from where the walk stopped, as CRMs with capped searches do.

``page_queries`` writes both reads (pure, so the tests read their query plans). Export
walks by id (``iter_contacts``).
"""

from __future__ import annotations

import enum
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


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: right after the contact ``id`` (the next page), or, with
    ``before``, it ends right before it (the previous page)."""

    id: int
    before: bool = False


class ListOrder(enum.StrEnum):
    """The orders a list can be read in cheaply: each is an index walked from a cursor."""

    NAME = "name"
    NEWEST = "newest"


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
    # The orders in which an index holds just the rows passing ``check``, in that order
    # (the owner's (owner_id, name_key, id); a disposition's (last_disposition_id, id)):
    # a walk can go along it instead of the whole list.
    walks: tuple[ListOrder, ...] = ()
    # Counting its ids costs more than a page (words merged from the trigram index:
    # ~15 ms for two common words at a million contacts): counted only when it decides
    # something (``_sizes``).
    dear_count: bool = False


# A condition matching at most this many contacts drives the query: its ids are fetched,
# their rows read and sorted (a few milliseconds; and counting a two-word search's
# trigram matches this far costs ~15 ms at a million contacts). Above it, walking an
# index finds a page's rows sooner.
NARROW = 2000


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
                             _SEARCHED)
        marks = ", ".join("?" * len(keys))
        return Condition(
            f"({_KEY_HAS} OR EXISTS (SELECT 1 FROM contact_phones p"
            f" WHERE p.contact_id = c.id AND p.e164 IN ({marks})))",
            (_like(digits), *keys),
            f"{_FTS} UNION SELECT contact_id FROM contact_phones WHERE e164 IN ({marks})",
            (_phrase(digits), *keys), _SEARCHED)
    words = fold(text).split()
    long_words = [w for w in words if len(w) >= MIN_INDEXED]
    if not long_words:
        prefix = " ".join(words)
        return Condition("c.name_key >= ? AND c.name_key < ?", (prefix, prefix + _MAX_CHAR),
                         "SELECT id FROM contacts WHERE name_key >= ? AND name_key < ?",
                         (prefix, prefix + _MAX_CHAR), ("name_key",))
    return Condition(" AND ".join([_KEY_HAS] * len(words)),
                     tuple(_like(w) for w in words),
                     _FTS, (" AND ".join(_phrase(w) for w in long_words),), _SEARCHED,
                     dear_count=True)


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
                               ("owner_id",), (ListOrder.NAME,)))
    if where.activity is not None:
        found.append(_activity(where.activity))
    if where.disposition_id is not None:
        found.append(Condition(
            "c.last_disposition_id = ?", (where.disposition_id,),
            "SELECT id FROM contacts WHERE last_disposition_id = ?", (where.disposition_id,),
            ("last_disposition_id",), (ListOrder.NEWEST,)))
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
                 order: ListOrder | None = None) -> list[int | None]:
    """How many contacts each condition's ids name, counted up to ``NARROW + 1`` (None
    for a condition without ids, or not counted): a few thousand index entries each.
    A condition dear to count (``dear_count``) is counted last, and only when nothing
    counted so far is narrow and the list is not already known to go newest first (a
    later page of a broad search): then its size could choose the driver or the order."""
    sizes: list[int | None] = [None] * len(found)
    for dear in (False, True):
        for i, condition in enumerate(found):
            if condition.ids is None or condition.dear_count != dear:
                continue
            if dear and (order is ListOrder.NEWEST or choose_driver(sizes) is not None):
                continue
            row = await db.fetchone(f"SELECT COUNT(*) AS n FROM ({condition.ids} LIMIT ?)",
                                    [*condition.ids_params, NARROW + 1])
            sizes[i] = int(row["n"]) if row else None
    return sizes


def _clause(found: list[Condition], driver: int | None,
            skip: int | None = None) -> tuple[str, list[object]]:
    """The conditions ANDed ('' for none), the driver's as ids and the others as checks
    (but ``skip``, which the walk's index already holds)."""
    parts: list[str] = []
    params: list[object] = []
    for i, condition in enumerate(found):
        if i == skip:
            continue
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


# Rows a page's walk reads at most. When they hold fewer matches than a page, the page
# shows what they held and its "next" link goes on from the last row read ("keep
# looking"), so no request reads more than this, however sparse the matches.
WALK_ROWS = 10_000


def choose_order(searching: bool, sizes: list[int | None]) -> ListOrder:
    """The order a list is shown in when none was asked for.

    By name, as an agent expects, whenever that is cheap: always without a search
    (filters walk the name index), and for a search when some condition matches at
    most ``NARROW`` contacts (their rows are read and sorted). A search with more
    matches than that lists the newest contacts first: putting 40,000 matches in name
    order means reading and sorting all of them, and walking the name index instead
    finds nothing for a while when the matches bunch up ("zofia" at the end)."""
    if not searching or choose_driver(sizes) is not None:
        return ListOrder.NAME
    return ListOrder.NEWEST


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


_ORDERS = {ListOrder.NAME: _Order(("name_key", "id"), ascending=True),
           ListOrder.NEWEST: _Order(("id",), ascending=False)}
# What a walk in name order hands on from the index to the checks: the columns of
# contacts_name (migration 0020), so filters on them never read the row.
_NAME_WALK = ("id", "name_key", "last_activity_at", "last_disposition_id", "owner_id",
              "company_id")


async def _cursor_key(db: Database, order: ListOrder, cursor: Cursor | None
                      ) -> tuple[object, ...] | None:
    """The cursor row's sort key (None: from the start; a deleted row's id still works
    in id order, in name order its page starts over)."""
    if cursor is None:
        return None
    if order is ListOrder.NEWEST:
        return (cursor.id,)
    row = await db.fetchone("SELECT name_key FROM contacts WHERE id = ?", (cursor.id,))
    return None if row is None else (row["name_key"], cursor.id)


@dataclass(frozen=True)
class _Found:
    """A page's ids in the order read, and, when the walk stopped at ``WALK_ROWS``
    before the page was full, the last row it read (where to keep looking)."""

    ids: list[int]
    stopped_at: int | None = None


def choose_walk(found: list[Condition], order: ListOrder,
                sizes: list[int | None]) -> int | None:
    """Which condition's own index a walk in ``order`` goes along (None: the order's
    index over every contact): the one matching fewest, since the walk then reads only
    its rows, and the other conditions' matches are denser among them."""
    able = [(size if size is not None else NARROW + 1, i) for i, (condition, size)
            in enumerate(zip(found, sizes, strict=True)) if order in condition.walks]
    return min(able)[1] if able else None


def _walk(found: list[Condition], order: ListOrder, key: tuple[object, ...] | None,
          backward: bool, via: int | None) -> tuple[str, list[object]]:
    """The index walk a bounded page reads (no LIMIT yet): from the cursor, in order,
    along ``via``'s index when there is one, handing on what the checks read."""
    shape = _ORDERS[order]
    start, params = shape.after(key, backward) if key is not None else ("", [])
    parts = [start] if start else []
    if via is not None:
        parts.insert(0, found[via].check)
        params = [*found[via].check_params, *params]
    columns = dict.fromkeys(_NAME_WALK if order is ListOrder.NAME else ("id",))
    columns.update(dict.fromkeys(col for c in found for col in c.columns))
    where = " WHERE " + " AND ".join(parts) if parts else ""
    return (f"SELECT {', '.join(columns)} FROM contacts c{where}"
            f" ORDER BY {shape.by(backward)}", params)


def page_queries(found: list[Condition], order: ListOrder, key: tuple[object, ...] | None,
                 backward: bool, limit: int, driver: int | None, via: int | None = None
                 ) -> tuple[str, list[object], bool]:
    """The SQL reading one page's ids and its parameters, and whether it is a bounded
    walk (``WALK_ROWS`` entries of the order's index, or of ``via``'s) rather than an
    exact answer. Pure: the tests read its query plans."""
    if driver is not None or not found:
        # The driver's few ids, checked and sorted; or, with nothing to test, the
        # order's index itself is the list.
        shape = _ORDERS[order]
        start, start_params = shape.after(key, backward) if key is not None else ("", [])
        clause, params = _clause(found, driver)
        where = " AND ".join(p for p in (clause, start) if p)
        return (f"SELECT c.id FROM contacts c{' WHERE ' + where if where else ''}"
                f" ORDER BY {shape.by(backward)} LIMIT ?",
                [*params, *start_params, limit], False)
    # Walk a bounded stretch of the index from the cursor, testing each row. No ORDER BY
    # outside: SQLite runs the inner query as a co-routine and hands its rows on in its
    # order, so the outer one stops after a page instead of reading (and sorting) the
    # whole stretch.
    walk, walk_params = _walk(found, order, key, backward, via)
    clause, params = _clause(found, None, via)
    return (f"SELECT c.id FROM ({walk} LIMIT ?) c{' WHERE ' + clause if clause else ''}"
            f" LIMIT ?", [*walk_params, WALK_ROWS, *params, limit], True)


async def _page_ids(db: Database, found: list[Condition], order: ListOrder,
                    key: tuple[object, ...] | None, backward: bool, limit: int,
                    sizes: list[int | None]) -> _Found:
    """The ids of one page in the order read (``limit`` of them past ``key``)."""
    via = choose_walk(found, order, sizes)
    sql, params, bounded = page_queries(found, order, key, backward, limit,
                                        choose_driver(sizes), via)
    ids = [int(row["id"]) for row in await db.fetchall(sql, params)]
    if not bounded or len(ids) == limit:
        return _Found(ids)
    # Fewer than a page in WALK_ROWS entries: where the walk stopped, if it goes on.
    walk, walk_params = _walk(found, order, key, backward, via)
    row = await db.fetchone(f"SELECT id FROM ({walk} LIMIT 1 OFFSET ?)",
                            [*walk_params, WALK_ROWS - 1])
    return _Found(ids, None if row is None else int(row["id"]))


@dataclass(frozen=True)
class ContactPage:
    """One page of the list. ``next_after``/``prev_before`` are the cursors of the pages
    beside it (None: none); ``stopped`` says the page's walk read ``WALK_ROWS`` rows
    without filling it, so more may match past ``next_after`` (or before
    ``prev_before``, going back)."""

    contacts: tuple[Contact, ...]
    order: ListOrder = ListOrder.NAME
    next_after: int | None = None
    prev_before: int | None = None
    stopped: bool = False

    @property
    def has_next(self) -> bool:
        return self.next_after is not None

    @property
    def has_prev(self) -> bool:
        return self.prev_before is not None

    @property
    def newest_first(self) -> bool:
        return self.order is ListOrder.NEWEST


async def list_contacts(
    db: Database,
    where: ContactFilter = ContactFilter(),
    *,
    cursor: Cursor | None = None,
    order: ListOrder | None = None,
    per_page: int = PER_PAGE,
    region: str = "ES",
    area_code: str = "",
) -> ContactPage:
    """One page of contacts matching ``where`` in ``order`` (None: ``choose_order``).
    ``cursor`` names the row the page follows (or, ``before``, precedes);
    ``region``/``area_code`` read a number typed into the search box."""
    found = conditions(where, region, area_code)
    sizes = await _sizes(db, found, order)
    order = order or choose_order(bool(where.query.strip()), sizes)
    key = await _cursor_key(db, order, cursor)
    backward = key is not None and cursor is not None and cursor.before
    # One row more than the page tells whether there is another page without a COUNT.
    page = await _page_ids(db, found, order, key, backward, per_page + 1, sizes)
    shown = page.ids[:per_page]
    # The far side: past the last row shown when there is more, else where the walk
    # stopped (None when it reached the end of the index).
    far = shown[-1] if len(page.ids) > per_page else page.stopped_at
    # The near side: the first row shown. An empty page after a cursor has none (the
    # list's "first" link leads back).
    near = shown[0] if shown else None
    if backward:
        shown.reverse()
        next_after, prev_before = near, far
    else:
        next_after, prev_before = far, near if key is not None else None
    rows = await db.fetchall(
        f"{contacts.SELECT} WHERE c.id IN ({', '.join('?' * len(shown))})", shown
    ) if shown else []
    by_id = {int(row["id"]): row for row in rows}
    listed = await contacts.assemble(db, [by_id[i] for i in shown if i in by_id])
    return ContactPage(tuple(listed), order, next_after, prev_before,
                       page.stopped_at is not None)


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
