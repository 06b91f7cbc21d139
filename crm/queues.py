"""Queues (inbound) and campaigns (outbound), as data and rules; no I/O.

A **queue** is where inbound calls wait at the PBX: its name, and the number the PBX
sends with a call of it (the queue's number, an extension, or the DID the caller
dialled), so the gateway can tell which queue a call came through. A **campaign** is a
body of outbound work: its name, whether it is running (``active`` or ``paused``, and an
optional first and last day), whether calls must be dispositioned before the next one,
and which dispositions it offers. Both have agents as members; an agent logs in and out
of those they belong to (crm/agent_queues.py).

Neither is deleted once anything refers to it: it is archived, which takes it out of
every choice while the rows that name it keep their meaning. Storage is
crm/queue_store.py.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm import ids
from crm.contacts import fold
from crm.errors import InvalidValue

MAX_NAME = 60
MAX_PBX_NUMBER = 40
# Queue numbers, extensions, DIDs (+, digits) and Asterisk-style queue names.
_PBX_NUMBER = re.compile(r"^[A-Za-z0-9+*#._-]+$")


class Kind(enum.StrEnum):
    QUEUE = "queue"
    CAMPAIGN = "campaign"


class CampaignState(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


@dataclass(frozen=True)
class Queue:
    id: int
    name: str
    pbx_number: str
    archived: bool
    members: frozenset[int] = frozenset()

    kind = Kind.QUEUE

    @property
    def ref(self) -> str:
        return ref(Kind.QUEUE, self.id)


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    state: CampaignState
    starts_on: date | None
    ends_on: date | None
    archived: bool
    must_disposition: bool = False
    members: frozenset[int] = frozenset()

    kind = Kind.CAMPAIGN

    @property
    def ref(self) -> str:
        return ref(Kind.CAMPAIGN, self.id)

    def running(self, today: date) -> bool:
        """Whether agents may work it today: active, not archived, within its dates."""
        return (self.state is CampaignState.ACTIVE and not self.archived
                and (self.starts_on is None or self.starts_on <= today)
                and (self.ends_on is None or today <= self.ends_on))

    def over(self, today: date) -> bool:
        """Whether its last day has passed."""
        return self.ends_on is not None and self.ends_on < today


def day_in(zone_name: str, at: datetime) -> date:
    """The deployment's date at ``at``: campaigns' first and last days are days where the
    call centre is, as the pages show them (an unknown zone name reads as UTC)."""
    try:
        zone: tzinfo = ZoneInfo(zone_name) if zone_name and zone_name != "UTC" else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return at.astimezone(zone).date()


def clean_name(name: str) -> str:
    """One line of 1-``MAX_NAME`` characters, spaces folded."""
    text = " ".join(name.split())
    if not text or len(text) > MAX_NAME or any(
            unicodedata.category(ch).startswith("C") for ch in text):
        raise InvalidValue(f"name {name!r}: 1-{MAX_NAME} characters",
                           key="queues.error.name", max=MAX_NAME)
    return text


def name_key(name: str) -> str:
    """What two names must not share (case and accents do not tell queues apart)."""
    return fold(clean_name(name))


def clean_pbx_number(number: str) -> str:
    """The PBX's number for a queue ('' = none): digits, +, *, #, letters, . _ -."""
    text = number.strip()
    if text and (len(text) > MAX_PBX_NUMBER or not _PBX_NUMBER.match(text)):
        raise InvalidValue(f"PBX number {number!r}", key="queues.error.pbx_number",
                           max=MAX_PBX_NUMBER)
    return text


def pbx_key(number: str) -> str:
    """The form a PBX number is matched in: case-folded, a leading + dropped (PBXs send
    a DID with or without it)."""
    return number.strip().casefold().removeprefix("+")


def parse_day(text: str, field: str) -> date | None:
    """An optional YYYY-MM-DD date typed in the campaign form ('' = no limit)."""
    value = text.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"{field}: {text!r} is not a date",
                           key="queues.error.date") from None


def check_dates(starts_on: date | None, ends_on: date | None) -> None:
    if starts_on is not None and ends_on is not None and ends_on < starts_on:
        raise InvalidValue("the campaign ends before it starts",
                           key="queues.error.dates_order")


def clean_state(text: str) -> CampaignState:
    try:
        return CampaignState(text)
    except ValueError:
        raise InvalidValue(f"campaign state {text!r}", key="queues.error.state") from None


def ref(kind: Kind, item_id: int) -> str:
    """How a queue or campaign is named in a form's select: ``queue:3``, ``campaign:7``."""
    return f"{kind.value}:{item_id}"


def parse_ref(text: str) -> tuple[Kind, int] | None:
    """A select's value back to (kind, id); None for '' (no queue or campaign).

    Anything else that does not parse raises ``InvalidValue``: a form only offers refs.
    """
    value = text.strip()
    if not value:
        return None
    kind_text, _, digits = value.partition(":")
    row = ids.row_id(digits)
    if kind_text not in (Kind.QUEUE.value, Kind.CAMPAIGN.value) or row is None:
        raise InvalidValue(f"queue or campaign {text!r}", key="queues.error.unknown")
    return Kind(kind_text), row
