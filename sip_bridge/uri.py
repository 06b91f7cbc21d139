"""Reading numbers out of SIP URIs and building request URIs (pure string work)."""

from __future__ import annotations

import re

_NAME_ADDR = re.compile(
    r'^\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<token>[^<]*?))\s*<(?P<uri>[^>]*)>'
)
_USER = re.compile(r"^(?:sips?|tel):(?P<user>[^@;>?]*)")
_SAFE_TARGET = re.compile(r"^[0-9A-Za-z*#+._-]{1,64}$")


def parse_remote(header: str) -> tuple[str, str]:
    """``'"Ana" <sip:+34911@pbx>'`` -> ``("+34911", "Ana")``; unknown parts are empty."""
    name = ""
    uri = header.strip()
    match = _NAME_ADDR.match(header)
    if match:
        name = (match.group("quoted") or match.group("token") or "").strip()
        name = name.replace('\\"', '"')
        uri = match.group("uri")
    user = _USER.match(uri.strip())
    number = user.group("user") if user else ""
    return number, name[:128]


def request_uri(target: str, domain: str) -> str:
    """The URI to INVITE for a dial string already validated by the gateway."""
    if not _SAFE_TARGET.match(target):
        raise ValueError(f"unsafe dial target {target!r}")
    return f"sip:{target}@{domain}"
