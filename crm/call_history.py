"""Call history: which call records a user may see, filtered, a page at a time.

Theory of operation
-------------------
``read_filter`` turns what a person typed (query-string values) into a ``HistoryFilter``
and a per-field error for every value it cannot accept, so a form shows all its mistakes
at once. Dates and times are read in the deployment's time zone and kept as UTC instants:
``since`` inclusive, ``until`` exclusive (a date alone runs to the end of that day; a
time to the end of that minute).

``build_query`` is pure: filter + ``Viewer`` + page -> SQL and parameters. The
authorization rule lives there, in one place, so no page can forget it: an agent sees
only their own calls, whatever agent the filter names; supervisors and admins see
everyone's. Each filter field is one entry in ``_CLAUSES``; a later filter is one more
field, one more clause and one more ``read_filter`` line, with no change to the pages'
plumbing (the disposition and the queue-or-campaign filters were added that way).

``fetch_page`` and ``fetch_all`` are the thin adapters that run the query.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TypeVar, cast

from crm import clock, contacts, phone_numbers
from crm.call_flow import DIRECTIONS, CallState, Direction, Outcome
from crm.db import Database, Row
from crm.errors import InvalidValue
from crm.ids import picked_id
from crm.queues import Kind as QueueKind
from crm.queues import parse_ref
from crm.viewer import Viewer

T = TypeVar("T")

PER_PAGE = 50
RECENT = 50
MAX_PAGE = 10_000
# An export is one response built in memory: this many rows at most (years of one agent).
MAX_EXPORT = 50_000
MAX_DATE_INPUT = 32
MAX_LIST_INPUT = contacts.MAX_LIST



@dataclass(frozen=True)
class HistoryFilter:
    """What the history shows; None/"" means "any"."""

    direction: Direction | None = None
    since: datetime | None = None   # inclusive, aware
    until: datetime | None = None   # exclusive, aware
    contact_id: int | None = None
    agent_id: int | None = None
    company_id: int | None = None
    list: str = ""
    outcome: Outcome | None = None
    disposition_id: int | None = None
    queue_id: int | None = None       # calls that came through this queue
    campaign_id: int | None = None    # calls of this campaign
    # The remote number: its E.164 keys (crm.phone_numbers.match_keys), or an extension.
    number_keys: tuple[str, ...] = ()
    extension: str = ""


@dataclass(frozen=True)
class FilterReading:
    """A filter read from a form: what could be read, and why the rest could not."""

    filter: HistoryFilter
    errors: Mapping[str, InvalidValue] = field(default_factory=dict)


class Precision(enum.Enum):
    """How much of a moment was typed: it decides where an "until" ends."""

    DAY = timedelta(days=1)
    MINUTE = timedelta(minutes=1)
    SECOND = timedelta(seconds=1)


def parse_moment(text: str, zone: tzinfo) -> tuple[datetime, Precision]:
    """A date (``2026-03-01``) or date and time (``2026-03-01T09:30``, seconds optional)
    typed in ``zone``, as a UTC instant and how precise it was. Raises ``InvalidValue``
    (``history.error.bad_date``)."""
    value = text.strip()
    bad = InvalidValue(f"{value[:MAX_DATE_INPUT]!r} is not a date",
                       key="history.error.bad_date", value=value[:MAX_DATE_INPUT])
    if not value or len(value) > MAX_DATE_INPUT or not value.isascii():
        raise bad
    date_only = len(value) == 10
    if not date_only and (len(value) < 16 or value[10] not in "T "):
        raise bad
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad from None
    if date_only:
        precision = Precision.DAY
    elif parsed.second or parsed.microsecond or len(value) > 16:
        precision = Precision.SECOND
    else:
        precision = Precision.MINUTE
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC), precision


def parse_direction(text: str) -> Direction | None:
    value = text.strip()
    if not value:
        return None
    if value not in DIRECTIONS:
        raise InvalidValue(f"direction {value[:20]!r}", key="history.error.bad_direction")
    return cast(Direction, value)


def parse_outcome(text: str) -> Outcome | None:
    value = text.strip()
    if not value:
        return None
    try:
        return Outcome(value)
    except ValueError:
        raise InvalidValue(f"outcome {value[:20]!r}", key="history.error.bad_outcome") from None


def parse_id(text: str) -> int | None:
    """A row id picked from a list ("" for any)."""
    return picked_id(text, "history.error.bad_choice")


def parse_list(text: str) -> str:
    value = text.strip()
    if len(value) > MAX_LIST_INPUT:
        raise InvalidValue("list name too long", key="history.error.bad_choice")
    return value


def parse_number(text: str, region: str, area_code: str = "") -> tuple[tuple[str, ...], str]:
    """A number typed to look for, read like a contact's: (E.164 keys, "") for a public
    number, ((), digits) for an extension, ((), "") when empty. Raises ``InvalidValue``
    (``phone.*`` keys) for anything else."""
    if not text.strip():
        return (), ""
    number = phone_numbers.parse(text, region, area_code)
    if number.is_extension:
        return (), number.value
    return phone_numbers.match_keys(number.value), ""


def parse_queue(text: str) -> tuple[int | None, int | None]:
    """A queue-or-campaign select's value (``queue:3``, ``campaign:7``, '' = any) as
    (queue_id, campaign_id)."""
    ref = parse_ref(text)
    if ref is None:
        return None, None
    kind, item_id = ref
    return (item_id, None) if kind is QueueKind.QUEUE else (None, item_id)


def read_filter(params: Mapping[str, str], zone: tzinfo, region: str = "",
                area_code: str = "") -> FilterReading:
    """The filter the form ``params`` ask for (keys: direction, from, to, number, contact,
    agent, company, list, outcome, disposition, queue), with an error per field that could not be
    read; a field in error filters nothing. ``region``/``area_code`` read the number."""
    errors: dict[str, InvalidValue] = {}

    def read(name: str, parse: Callable[[str], T], default: T) -> T:
        try:
            return parse(params.get(name, ""))
        except InvalidValue as exc:
            errors[name] = exc
            return default

    def moment(name: str) -> tuple[datetime, Precision] | None:
        text = params.get(name, "")
        return read(name, lambda t: parse_moment(t, zone), None) if text.strip() else None

    since = moment("from")
    to = moment("to")
    until = None if to is None else to[0] + to[1].value
    nothing: tuple[tuple[str, ...], str] = ((), "")
    keys, extension = read("number", lambda t: parse_number(t, region, area_code), nothing)
    no_queue: tuple[int | None, int | None] = (None, None)
    queue = read("queue", parse_queue, no_queue)
    found = HistoryFilter(
        direction=read("direction", parse_direction, None),
        since=None if since is None else since[0],
        until=until,
        contact_id=read("contact", parse_id, None),
        agent_id=read("agent", parse_id, None),
        company_id=read("company", parse_id, None),
        list=read("list", parse_list, ""),
        outcome=read("outcome", parse_outcome, None),
        disposition_id=read("disposition", parse_id, None),
        queue_id=queue[0],
        campaign_id=queue[1],
        number_keys=keys,
        extension=extension,
    )
    if found.since is not None and found.until is not None and found.since >= found.until:
        errors["to"] = InvalidValue("the range ends before it starts",
                                    key="history.error.range")
        found = replace(found, until=None)
    return FilterReading(found, errors)


# -- the query ------------------------------------------------------------------------

Clause = tuple[str, tuple[object, ...]]


def _direction(f: HistoryFilter) -> Clause | None:
    return None if f.direction is None else ("cr.direction = ?", (f.direction,))


def _since(f: HistoryFilter) -> Clause | None:
    return None if f.since is None else ("cr.started_at >= ?", (clock.to_db(f.since),))


def _until(f: HistoryFilter) -> Clause | None:
    return None if f.until is None else ("cr.started_at < ?", (clock.to_db(f.until),))


def _contact(f: HistoryFilter) -> Clause | None:
    # Also calls from the contact's numbers that were not linked to it: the number was
    # shared by several contacts, or the contact was created after the call.
    if f.contact_id is None:
        return None
    return ("(cr.contact_id = ? OR cr.remote_e164 IN"
            " (SELECT e164 FROM contact_phones WHERE contact_id = ?))",
            (f.contact_id, f.contact_id))


def _agent(f: HistoryFilter) -> Clause | None:
    return None if f.agent_id is None else ("cr.user_id = ?", (f.agent_id,))


def _company(f: HistoryFilter) -> Clause | None:
    if f.company_id is None:
        return None
    return ("cr.contact_id IN (SELECT id FROM contacts WHERE id = ? OR company_id = ?)",
            (f.company_id, f.company_id))


def _list(f: HistoryFilter) -> Clause | None:
    if not f.list:
        return None
    return ("cr.contact_id IN (SELECT contact_id FROM contact_lists WHERE list_key = ?)",
            (contacts.fold(f.list.strip()),))


def _outcome(f: HistoryFilter) -> Clause | None:
    return None if f.outcome is None else ("cr.outcome = ?", (f.outcome.value,))


def _number(f: HistoryFilter) -> Clause | None:
    if f.number_keys:
        return (f"cr.remote_e164 IN ({', '.join('?' * len(f.number_keys))})", f.number_keys)
    if f.extension:
        return ("cr.remote_number = ?", (f.extension,))
    return None


def _disposition(f: HistoryFilter) -> Clause | None:
    if f.disposition_id is None:
        return None
    return ("w.disposition_id = ?", (f.disposition_id,))


def _queue(f: HistoryFilter) -> Clause | None:
    if f.queue_id is not None:
        return ("w.queue_id = ?", (f.queue_id,))
    if f.campaign_id is not None:
        return ("w.campaign_id = ?", (f.campaign_id,))
    return None


# One entry per filter field.
_CLAUSES: tuple[Callable[[HistoryFilter], Clause | None], ...] = (
    _direction, _since, _until, _number, _contact, _agent, _company, _list, _outcome,
    _disposition, _queue,
)

_SELECT = (
    "SELECT cr.id, cr.user_id, u.display_name AS agent_name, cr.direction,"
    " cr.local_number, cr.remote_number, cr.remote_e164, cr.remote_name, cr.contact_id,"
    " c.name AS contact_name, cr.state, cr.outcome, cr.sip_code, cr.started_at,"
    " cr.answered_at, cr.ended_at, d.name AS disposition_name"
    # LEFT JOIN (every record has its user) keeps call_records the outer loop, so the
    # newest-first index serves the ORDER BY ... LIMIT; with JOIN, SQLite may start from
    # the few users and sort every call (seconds at 200,000 calls).
    " FROM call_records cr LEFT JOIN users u ON u.id = cr.user_id"
    " LEFT JOIN contacts c ON c.id = cr.contact_id"
    # The agent's disposition of the call (crm/disposition_catalog.py), if any.
    " LEFT JOIN call_work w ON w.call_id = cr.id"
    " LEFT JOIN dispositions d ON d.id = w.disposition_id"
)


def scoped(where: HistoryFilter, viewer: Viewer) -> HistoryFilter:
    """``where`` as ``viewer`` may have it: an agent's history is their own calls."""
    if viewer.sees_everyone:
        return where
    return replace(where, agent_id=viewer.user_id)


@dataclass(frozen=True)
class Query:
    sql: str
    params: tuple[object, ...]


def build_query(where: HistoryFilter, viewer: Viewer, *, limit: int,
                offset: int = 0) -> Query:
    """The SQL listing what ``viewer`` may see of ``where``, newest first."""
    conditions: list[str] = []
    params: list[object] = []
    for clause in _CLAUSES:
        found = clause(scoped(where, viewer))
        if found is not None:
            conditions.append(found[0])
            params.extend(found[1])
    sql = _SELECT
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    # rowid breaks ties because every index on started_at already ends with it: the
    # index gives the whole order and the LIMIT stops the scan early (cr.id would make
    # SQLite sort, and sometimes choose to sort the whole table).
    sql += " ORDER BY cr.started_at DESC, cr.rowid DESC LIMIT ? OFFSET ?"
    return Query(sql, (*params, limit, offset))


# -- rows -----------------------------------------------------------------------------

@dataclass(frozen=True)
class HistoryCall:
    """One line of the history."""

    id: str
    agent_id: int
    agent_name: str
    direction: Direction
    remote_number: str         # as the PBX or the agent gave it
    remote_e164: str | None    # E.164 key; "" not a public number; None not read yet
    remote_name: str
    contact_id: int | None
    contact_name: str | None
    state: CallState
    outcome: Outcome | None
    sip_code: int | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    disposition_name: str | None = None

    @property
    def talk_seconds(self) -> float | None:
        """Seconds from answer to end; None if never answered or still going."""
        if self.answered_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.answered_at).total_seconds()

    @property
    def dial_target(self) -> str:
        """What to dial to call back: the E.164 key, else the number as given."""
        return self.remote_e164 or self.remote_number


def _call(row: Row) -> HistoryCall:
    return HistoryCall(
        id=row["id"],
        agent_id=int(row["user_id"]),
        agent_name=row["agent_name"],
        direction=cast(Direction, row["direction"]),
        remote_number=row["remote_number"],
        remote_e164=row["remote_e164"],
        remote_name=row["remote_name"],
        contact_id=row["contact_id"],
        contact_name=row["contact_name"],
        state=CallState(row["state"]),
        outcome=None if row["outcome"] is None else Outcome(row["outcome"]),
        sip_code=row["sip_code"],
        started_at=clock.from_db(row["started_at"]),
        answered_at=clock.from_db_optional(row["answered_at"]),
        ended_at=clock.from_db_optional(row["ended_at"]),
        disposition_name=row["disposition_name"],
    )


@dataclass(frozen=True)
class HistoryPage:
    calls: Sequence[HistoryCall]
    page: int
    has_next: bool


async def fetch_page(db: Database, where: HistoryFilter, viewer: Viewer, *, page: int = 1,
                     per_page: int = PER_PAGE) -> HistoryPage:
    """One page of the history (pages count from 1)."""
    page = min(max(1, page), MAX_PAGE)
    # One row more than the page tells whether there is a next page without a COUNT.
    query = build_query(where, viewer, limit=per_page + 1, offset=(page - 1) * per_page)
    rows = await db.fetchall(query.sql, query.params)
    return HistoryPage(tuple(_call(r) for r in rows[:per_page]), page, len(rows) > per_page)


async def fetch_all(db: Database, where: HistoryFilter, viewer: Viewer,
                    limit: int = MAX_EXPORT) -> list[HistoryCall]:
    """Everything the filter finds, newest first, up to ``limit`` rows (the export)."""
    query = build_query(where, viewer, limit=limit)
    return [_call(r) for r in await db.fetchall(query.sql, query.params)]
