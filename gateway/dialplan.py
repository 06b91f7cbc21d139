"""What a dial string means (pure): the echo test, or a number/extension to INVITE.

Agents paste numbers from e-mails and spreadsheets, so visual separators are dropped
(spaces, dashes, dots, parentheses, NBSP); what remains may hold only digits, ``*``,
``#`` and one leading ``+``. Anything else is refused with ``invalid_number`` before a
worker or the PBX sees it. Turning national formats into E.164 for the CRM is the
CRM's job (crm/ phone numbers); the PBX gets what the agent dialled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[\s\-.()/\u00a0\u2010-\u2015]")
_DIALABLE = re.compile(r"^\+?[0-9*#]{1,32}$")


class InvalidNumber(ValueError):
    """The dial string is not a phone number or extension."""


@dataclass(frozen=True)
class Target:
    number: str
    echo: bool = False


def parse_dial_string(text: str, echo_number: str) -> Target:
    cleaned = _SEPARATORS.sub("", text)
    if cleaned == echo_number:
        return Target(number=cleaned, echo=True)
    if not _DIALABLE.match(cleaned):
        raise InvalidNumber(text)
    return Target(number=cleaned)
