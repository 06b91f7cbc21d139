"""What a dial string means (pure): the echo test, an agent code, or a number to INVITE.

Agent codes are the ones call-centre agents already dial on desk phones: ``**1<agent>``
log in (the agent's own extension, or nothing), ``**2<code>`` pause with a pause code,
``**3`` resume, ``**0`` log out. They never reach the PBX.

Agents paste numbers from e-mails and spreadsheets, so visual separators are dropped
(spaces, dashes, dots, parentheses, NBSP); what remains may hold only digits, ``*``,
``#`` and one leading ``+``. Anything else is refused with ``invalid_number`` before a
worker or the PBX sees it. Turning national formats into E.164 for the CRM is the
CRM's job (crm/ phone numbers); the PBX gets what the agent dialled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_SEPARATORS = re.compile(r"[\s\-.()/\u00a0\u2010-\u2015]")
_DIALABLE = re.compile(r"^\+?[0-9*#]{1,32}$")
_AGENT_CODE = re.compile(r"^\*\*([0-3])([0-9]{0,15})#?$")
_AGENT_ACTIONS: dict[str, AgentAction] = {"1": "login", "2": "pause", "3": "resume",
                                          "0": "logout"}


AgentAction = Literal["login", "pause", "resume", "logout"]


class InvalidNumber(ValueError):
    """The dial string is not a phone number or extension."""


@dataclass(frozen=True)
class Target:
    number: str
    echo: bool = False


@dataclass(frozen=True)
class AgentCode:
    """A keypad code that changes the agent's state; ``argument`` is the digits after it."""

    action: AgentAction
    argument: str = ""


def parse_agent_code(text: str) -> AgentCode | None:
    """The agent code ``text`` spells, or None if it is not one (then it is a number).

    Raises ``InvalidNumber`` for a code with a missing or extra argument, so a mistyped
    pause never turns into a call to ``**3123``.
    """
    match = _AGENT_CODE.match(_SEPARATORS.sub("", text))
    if match is None:
        return None
    action = _AGENT_ACTIONS[match.group(1)]
    argument = match.group(2)
    if (action == "pause") != bool(argument) and action != "login":
        raise InvalidNumber(text)
    return AgentCode(action, argument)


def parse_dial_string(text: str, echo_number: str) -> Target:
    cleaned = _SEPARATORS.sub("", text)
    if cleaned == echo_number:
        return Target(number=cleaned, echo=True)
    if not _DIALABLE.match(cleaned):
        raise InvalidNumber(text)
    return Target(number=cleaned)
