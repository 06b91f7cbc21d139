"""Which PBX queue an inbound call came through, read from the INVITE; no I/O.

A PBX that hands a queue's call to an agent's extension sends the agent an INVITE whose
To is the agent, so the queue has to come from elsewhere. These headers are read, in
this order, and the user part (or the bare token) of the first one present is the
call's *called* number, which crm/queue_store.py matches to a queue's PBX number:

- ``X-Headset-Queue``: set explicitly in the PBX dialplan (Asterisk:
  ``Set(PJSIP_HEADER(add,X-Headset-Queue)=600)``), a number or a queue name;
- ``P-Called-Party-ID`` (RFC 3455): the number the caller dialled, the DID;
- ``Diversion`` (RFC 5806): the number a queue or a forward redirected the call from
  (the top one, the latest redirection).

The admin page (/admin/queues) documents the same list for administrators.
"""

from __future__ import annotations

import re

HEADERS = ("x-headset-queue", "p-called-party-id", "diversion")
MAX_CALLED = 40
_TOKEN = re.compile(r"^[A-Za-z0-9+*#._-]+$")
_URI = re.compile(r"^(?:sips?|tel):([^@;>?]+)", re.IGNORECASE)


def _headers(message: str) -> dict[str, str]:
    """Each header's first value, by lower-case name (the head of the message only)."""
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0]
    found: dict[str, str] = {}
    for line in head.split("\n")[1:]:
        name, sep, value = line.partition(":")
        if sep and not line[:1].isspace():
            found.setdefault(name.strip().lower(), value.strip())
    return found


def _number(value: str) -> str:
    """The user part of a name-addr / addr-spec, or a bare token; '' if neither."""
    text = value.split(",", 1)[0].strip()
    if "<" in text:
        text = text[text.index("<") + 1:].split(">", 1)[0]
    match = _URI.match(text)
    token = match[1] if match else text.split(";", 1)[0].strip()
    if not token or len(token) > MAX_CALLED or not _TOKEN.match(token):
        return ""
    return token


def called_number(message: str) -> str:
    """The queue number / DID a PBX sent with this INVITE ('' when none says)."""
    headers = _headers(message)
    for name in HEADERS:
        number = _number(headers.get(name, ""))
        if number:
            return number
    return ""
