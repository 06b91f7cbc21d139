"""Caller-ID matching: which contact is calling, from the number the PBX presents.

``decide`` is the pure part: given the number as read (crm/phone_numbers.py) and the
contacts found for it, it says what the softphone offers. ``match`` is the adapter: it
reads the number, runs one indexed lookup on ``contact_phones.e164`` and decides.

- one contact  -> ``Outcome.ONE``: open that contact;
- several      -> ``Outcome.SEVERAL``: a pick list;
- none         -> ``Outcome.NONE``: create a contact, or add the number to an existing one
                  (``number`` is the E.164 to prefill);
- no number    -> ``Outcome.EXTENSION`` (an internal call) or ``Outcome.UNREADABLE``
                  (withheld, "anonymous", garbage): nothing to look up.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from crm import contacts, phone_numbers
from crm.contacts import ContactRef
from crm.db import Database
from crm.errors import InvalidValue
from crm.phone_numbers import Kind, PhoneNumber

# A switchboard number shared by a whole company: the pick list shows this many.
MAX_MATCHES = 20


class Outcome(enum.StrEnum):
    ONE = "one"
    SEVERAL = "several"
    NONE = "none"
    EXTENSION = "extension"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class CallerMatch:
    outcome: Outcome
    # E.164 for a public number, the digits for an extension, "" when unreadable.
    number: str
    matches: tuple[ContactRef, ...] = ()

    @property
    def kind(self) -> str:
        """``number``, ``extension`` or ``unknown``: what the number is."""
        if self.outcome is Outcome.EXTENSION:
            return Kind.EXTENSION.value
        return "unknown" if self.outcome is Outcome.UNREADABLE else Kind.NUMBER.value


def read_number(raw: str, region: str, area_code: str) -> PhoneNumber | None:
    """The presented number as the CRM stores it, or None if it cannot be read."""
    try:
        return phone_numbers.parse(raw, region, area_code)
    except InvalidValue:
        return None


def decide(number: PhoneNumber | None, found: Sequence[ContactRef]) -> CallerMatch:
    """What to offer for ``number`` given the contacts that have it."""
    if number is None:
        return CallerMatch(Outcome.UNREADABLE, "")
    if number.is_extension:
        return CallerMatch(Outcome.EXTENSION, number.value)
    if not found:
        return CallerMatch(Outcome.NONE, number.value)
    outcome = Outcome.ONE if len(found) == 1 else Outcome.SEVERAL
    return CallerMatch(outcome, number.value, tuple(found))


async def match(db: Database, raw_number: str, region: str, area_code: str = "") -> CallerMatch:
    """Who is calling from ``raw_number`` (as the PBX presents it)."""
    number = read_number(raw_number, region, area_code)
    found: list[ContactRef] = []
    if number is not None and not number.is_extension:
        found = await contacts.contacts_with_numbers(
            db, phone_numbers.match_keys(number.value), MAX_MATCHES)
    return decide(number, found)
