"""The HTTP SMS gateway setting: where an SMS from a missed-call row is posted, and how.

An administrator gives the gateway's URL, the method (POST or PUT), a body template in
which ``{to}`` (the number, E.164) and ``{text}`` (the message) are replaced, the body's
format (JSON, form or plain text: each value is escaped for it, so a quote in a message
cannot break a JSON body), an optional token sent as ``Authorization: Bearer`` and the
message's default text. The token is write-only like the SMTP password: ``SmsGateway``
holds only its ciphertext, an empty field keeps it.

``clean_form`` and ``render_body`` are pure; crm/sms_sender.py posts; ``load``/``save``
keep the one row of ``sms_gateway`` (migration 0017). No row, or no URL: no gateway.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import quote_plus, urlsplit

from crm import clock
from crm.db import Database
from crm.errors import CrmError, InvalidValue

METHODS = ("POST", "PUT")
FORMATS = ("json", "form", "text")
MAX_URL = 500
MAX_TEMPLATE = 2000
MAX_TOKEN = 500
MAX_MESSAGE = 480  # three SMS segments
_PLACEHOLDER = re.compile(r"\{(to|text)\}")
CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded",
                 "text": "text/plain; charset=utf-8"}


@dataclass(frozen=True)
class SmsGateway:
    url: str = ""
    method: str = "POST"
    body_format: str = "json"
    body_template: str = ""
    token_encrypted: str = ""
    message: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @property
    def has_token(self) -> bool:
        return bool(self.token_encrypted)

    def __repr__(self) -> str:
        # Logs need neither the ciphertext nor the template.
        return f"SmsGateway(url={self.url!r}, method={self.method!r})"


class SmsGatewayInvalid(CrmError):
    """One or more fields of the gateway form are wrong; ``errors`` maps field -> error."""

    key = "sms.error.invalid"

    def __init__(self, errors: Mapping[str, InvalidValue]) -> None:
        super().__init__("invalid SMS gateway: " + ", ".join(sorted(errors)))
        self.errors = dict(errors)


def _bad(field: str, key: str, **params: object) -> InvalidValue:
    return InvalidValue(f"{field}: not acceptable", key=key, **params)


def _has_controls(text: str, allowed: str = "") -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed for ch in text)


def clean_url(text: str) -> str:
    """An http(s) URL with a host, or '' (no gateway)."""
    url = text.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if (len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname
            or _has_controls(url) or " " in url or parts.username or parts.password):
        raise _bad("url", "sms.error.url")
    return url


def clean_template(text: str, body_format: str) -> str:
    template = text.strip()
    if not template:
        raise _bad("body_template", "sms.error.template_needed")
    if len(template) > MAX_TEMPLATE or _has_controls(template, "\n\r\t"):
        raise _bad("body_template", "sms.error.template", max=MAX_TEMPLATE)
    if "{to}" not in template or "{text}" not in template:
        raise _bad("body_template", "sms.error.template_placeholders")
    if body_format == "json":
        try:
            json.loads(render_body(template, "json", "+34600000000", 'a "quoted" text'))
        except ValueError:
            raise _bad("body_template", "sms.error.template_json") from None
    return template


def clean_message(text: str) -> str:
    """An SMS text: 1 to 480 characters, no control characters but line breaks."""
    message = text.strip()
    if not message:
        raise _bad("message", "sms.error.message_needed")
    if len(message) > MAX_MESSAGE or _has_controls(message, "\n\r"):
        raise _bad("message", "sms.error.message", max=MAX_MESSAGE)
    return message


def check_token(text: str) -> None:
    if len(text) > MAX_TOKEN or _has_controls(text) or any(ch.isspace() for ch in text):
        raise _bad("token", "sms.error.token", max=MAX_TOKEN)


@dataclass(frozen=True)
class TokenChange:
    """What the form asks for the token: keep it, set a new one, or clear it."""

    new: str | None = None
    clear: bool = False


FORM_FIELDS = ("url", "method", "body_format", "body_template", "message", "token")


def clean_form(form: Mapping[str, str], current: SmsGateway,
               token: TokenChange) -> tuple[SmsGateway, str | None]:
    """The gateway the form asks for, and the new token in clear (None = keep).

    An empty URL turns the gateway off (the rest is kept for next time). Raises
    ``SmsGatewayInvalid`` naming every wrong field; nothing is half-applied.
    """
    errors: dict[str, InvalidValue] = {}
    values: dict[str, str] = {}
    try:
        values["url"] = clean_url(form.get("url", ""))
    except InvalidValue as exc:
        errors["url"] = exc
    method = form.get("method", "")
    if method not in METHODS:
        errors["method"] = _bad("method", "sms.error.method")
    body_format = form.get("body_format", "")
    if body_format not in FORMATS:
        errors["body_format"] = _bad("body_format", "sms.error.body_format")
    values["method"], values["body_format"] = method, body_format
    off = not values.get("url") and "url" not in errors
    for name, check in (("body_template", lambda t: clean_template(t, body_format)),
                        ("message", clean_message)):
        typed = form.get(name, "")
        if off and not typed.strip():
            values[name] = ""
            continue
        try:
            values[name] = check(typed)
        except InvalidValue as exc:
            errors[name] = exc
    new_token: str | None = None
    if token.new and not token.clear:
        try:
            check_token(token.new)
            new_token = token.new
        except InvalidValue as exc:
            errors["token"] = exc
    if errors:
        raise SmsGatewayInvalid(errors)
    cleaned = replace(current, **values)
    if token.clear:
        cleaned = replace(cleaned, token_encrypted="")
    return cleaned, new_token


def _escape(value: str, body_format: str) -> str:
    if body_format == "json":
        return json.dumps(value, ensure_ascii=False)[1:-1]  # inside the template's quotes
    if body_format == "form":
        return quote_plus(value)
    return value


def render_body(template: str, body_format: str, to: str, text: str) -> str:
    """The request body: ``{to}`` and ``{text}`` replaced, escaped for ``body_format``.

    Only those two names are replaced, in one pass (a ``{text}`` inside the message is
    not expanded again; no other braces are interpreted).
    """
    values = {"to": _escape(to, body_format), "text": _escape(text, body_format)}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


# -- storage -------------------------------------------------------------------------------

_COLUMNS = ("url", "method", "body_format", "body_template", "token_encrypted", "message")


async def load(db: Database) -> SmsGateway:
    """The saved gateway, or none (an empty one)."""
    row = await db.fetchone(f"SELECT {', '.join(_COLUMNS)} FROM sms_gateway WHERE id = 1")
    return SmsGateway() if row is None else SmsGateway(**{n: row[n] for n in _COLUMNS})


async def save(db: Database, gateway: SmsGateway, user_id: int | None) -> None:
    names = ", ".join(_COLUMNS)
    marks = ", ".join("?" for _ in _COLUMNS)
    updates = ", ".join(f"{n} = excluded.{n}" for n in (*_COLUMNS, "updated_at", "updated_by"))
    await db.execute(
        f"INSERT INTO sms_gateway (id, {names}, updated_at, updated_by)"
        f" VALUES (1, {marks}, ?, ?) ON CONFLICT (id) DO UPDATE SET {updates}",
        (*(getattr(gateway, n) for n in _COLUMNS), clock.to_db(clock.utc_now()), user_id))
