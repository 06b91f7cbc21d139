"""Deployment settings an admin edits in the browser: numbering, talk-time target, company
name, default language, time zone, missed-call retention and the SMTP server.

The TOML file (gateway/settings.py) gives the starting values (``defaults_from``); once an
admin saves the page, the row in ``deployment_settings`` wins. ``LiveDeployment`` is the
one object the running app reads at request time (``current``), so a saved change applies
to the next request and the next ringing call without a restart.

``clean_form`` is pure: it takes the submitted text and answers a new ``Deployment`` or
raises ``DeploymentInvalid`` with one ``InvalidValue`` per wrong field (keys in
web/locales/*/settings.json), so a form with any error saves nothing. The SMTP password
is write-only: ``Deployment`` only holds its ciphertext, an empty field keeps it.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING

from crm import clock, phone_numbers
from crm.errors import CrmError, InvalidValue

if TYPE_CHECKING:
    from crm.db import Database
    from crm.secret_key import SecretBox
    from gateway.settings import Settings

LANGUAGES = ("en", "es", "pt-BR", "pl")  # the same as web.i18n.LANGUAGES (a test checks)
SMTP_SECURITY = ("starttls", "tls", "none")
TALK_SECONDS = (10, 3600)
RETENTION_DAYS = (1, 365)
MAX_COMPANY = 100
MAX_HOST = 253
MAX_SMTP_USER = 200
MAX_SMTP_PASSWORD = 200
# A practical address check: something@host.tld without spaces or angle brackets, so it
# cannot smuggle a second header or recipient into a message.
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Deployment:
    region: str = "ES"
    area_code: str = ""
    target_talk_seconds: int = 180
    company_name: str = ""
    language: str = "en"
    # IANA name; pages show instants in it (stored instants stay UTC).
    time_zone: str = "UTC"
    missed_retention_days: int = 30
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_from: str = ""
    smtp_user: str = ""
    smtp_password_encrypted: str = ""

    @property
    def smtp_configured(self) -> bool:
        """Whether e-mail can be sent at all (a host and a sender)."""
        return bool(self.smtp_host and self.smtp_from)

    @property
    def has_smtp_password(self) -> bool:
        return bool(self.smtp_password_encrypted)

    def __repr__(self) -> str:
        # Ciphertext is not a secret without the key, but logs need none of it.
        return (f"Deployment(region={self.region!r}, area_code={self.area_code!r}, "
                f"language={self.language!r}, smtp_host={self.smtp_host!r})")


class DeploymentInvalid(CrmError):
    """One or more fields of the settings form are wrong; ``errors`` maps field -> error."""

    key = "settings.error.invalid"

    def __init__(self, errors: Mapping[str, InvalidValue]) -> None:
        super().__init__("invalid deployment settings: " + ", ".join(sorted(errors)))
        self.errors = dict(errors)


def defaults_from(settings: Settings) -> Deployment:
    """The values the TOML file and environment give, before any admin saves the page."""
    return Deployment(region=settings.region, area_code=settings.area_code,
                      language=settings.language)


# -- pure checks, one per field ------------------------------------------------------------

def _bad(field: str, key: str, **params: object) -> InvalidValue:
    return InvalidValue(f"{field}: not acceptable", key=key, **params)


def clean_region(text: str) -> str:
    region = text.strip().upper()
    if not phone_numbers.is_region(region):
        raise _bad("region", "settings.error.region", value=text.strip()[:10])
    return region


def clean_area_code(text: str) -> str:
    area_code = text.strip()
    if not phone_numbers.is_area_code(area_code):
        raise _bad("area_code", "settings.error.area_code")
    return area_code


def _whole_number(field: str, text: str, bounds: tuple[int, int], key: str) -> int:
    value = text.strip()
    low, high = bounds
    if not (value.isascii() and value.isdigit() and len(value) <= 6
            and low <= int(value) <= high):
        raise _bad(field, key, min=low, max=high)
    return int(value)


def clean_talk_seconds(text: str) -> int:
    return _whole_number("target_talk_seconds", text, TALK_SECONDS, "settings.error.talk_time")


def clean_retention_days(text: str) -> int:
    return _whole_number("missed_retention_days", text, RETENTION_DAYS,
                         "settings.error.retention")


def clean_company_name(text: str) -> str:
    """Spaces collapsed, control and formatting characters refused, at most 100 long."""
    if any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in " \t" for ch in text):
        raise _bad("company_name", "settings.error.company_chars")
    name = " ".join(text.split())
    if len(name) > MAX_COMPANY:
        raise _bad("company_name", "settings.error.company_long", max=MAX_COMPANY)
    return name


def clean_language(text: str) -> str:
    if text not in LANGUAGES:
        raise _bad("language", "settings.error.language")
    return text


@cache
def time_zones() -> tuple[str, ...]:
    """Every IANA time zone name this system knows, sorted (the form's suggestions)."""
    return tuple(sorted(zoneinfo.available_timezones()))


def clean_time_zone(text: str) -> str:
    name = text.strip()
    if name not in time_zones():
        raise _bad("time_zone", "settings.error.time_zone", value=name[:40])
    return name


def clean_smtp_host(text: str) -> str:
    host = text.strip()
    if host and (len(host) > MAX_HOST or not _HOST.match(host)):
        raise _bad("smtp_host", "settings.error.smtp_host")
    return host


def clean_smtp_port(text: str) -> int:
    return _whole_number("smtp_port", text, (1, 65535), "settings.error.smtp_port")


def clean_smtp_security(text: str) -> str:
    if text not in SMTP_SECURITY:
        raise _bad("smtp_security", "settings.error.smtp_security")
    return text


def clean_email(text: str, field: str = "email") -> str:
    """An e-mail address (one, plain), or ``InvalidValue`` ``settings.error.email``."""
    address = text.strip()
    if not _EMAIL.match(address):
        raise _bad(field, "settings.error.email")
    return address


def clean_smtp_user(text: str) -> str:
    user = text.strip()
    if len(user) > MAX_SMTP_USER or any(unicodedata.category(ch) == "Cc" for ch in user):
        raise _bad("smtp_user", "settings.error.smtp_user")
    return user


def check_smtp_password(text: str) -> None:
    if len(text) > MAX_SMTP_PASSWORD or any(unicodedata.category(ch) == "Cc" for ch in text):
        raise _bad("smtp_password", "settings.error.smtp_password", max=MAX_SMTP_PASSWORD)


# The form's fields, in page order, with their checks.
_CHECKS = {
    "region": clean_region,
    "area_code": clean_area_code,
    "target_talk_seconds": clean_talk_seconds,
    "company_name": clean_company_name,
    "language": clean_language,
    "time_zone": clean_time_zone,
    "missed_retention_days": clean_retention_days,
    "smtp_host": clean_smtp_host,
    "smtp_port": clean_smtp_port,
    "smtp_security": clean_smtp_security,
    "smtp_user": clean_smtp_user,
}
FORM_FIELDS = (*_CHECKS, "smtp_from", "smtp_password")


@dataclass(frozen=True)
class PasswordChange:
    """What the form asks for the SMTP password: keep it, set a new one, or clear it."""

    new: str | None = None
    clear: bool = False


def clean_form(form: Mapping[str, str], current: Deployment,
               password: PasswordChange) -> tuple[Deployment, str | None]:
    """The settings the form asks for, and the new SMTP password in clear (None = keep).

    Raises ``DeploymentInvalid`` naming every wrong field; nothing is half-applied.
    """
    errors: dict[str, InvalidValue] = {}
    values: dict[str, object] = {}
    for name, check in _CHECKS.items():
        try:
            values[name] = check(form.get(name, ""))
        except InvalidValue as exc:
            errors[name] = exc
    sender = form.get("smtp_from", "").strip()
    if sender:
        try:
            values["smtp_from"] = clean_email(sender, "smtp_from")
        except InvalidValue as exc:
            errors["smtp_from"] = exc
    else:
        values["smtp_from"] = ""
    if values.get("smtp_host") and not sender and "smtp_from" not in errors:
        errors["smtp_from"] = _bad("smtp_from", "settings.error.smtp_from_needed")
    new_password: str | None = None
    if password.new and not password.clear:
        try:
            check_smtp_password(password.new)
            new_password = password.new
        except InvalidValue as exc:
            errors["smtp_password"] = exc
    if errors:
        raise DeploymentInvalid(errors)
    cleaned = replace(current, **values)  # type: ignore[arg-type]
    if password.clear:
        cleaned = replace(cleaned, smtp_password_encrypted="")
    return cleaned, new_password


# -- storage -------------------------------------------------------------------------------

_COLUMNS = ("region", "area_code", "target_talk_seconds", "company_name", "language",
            "time_zone", "missed_retention_days", "smtp_host", "smtp_port", "smtp_security",
            "smtp_from", "smtp_user", "smtp_password_encrypted")


async def load(db: Database, defaults: Deployment) -> Deployment:
    """The saved settings, or ``defaults`` when no admin has saved the page yet."""
    row = await db.fetchone(f"SELECT {', '.join(_COLUMNS)} FROM deployment_settings"
                            " WHERE id = 1")
    if row is None:
        return defaults
    return Deployment(**{name: row[name] for name in _COLUMNS})


async def save(db: Database, deployment: Deployment, user_id: int | None) -> None:
    """Store the settings (the whole row, in one statement)."""
    names = ", ".join(_COLUMNS)
    marks = ", ".join("?" for _ in _COLUMNS)
    updates = ", ".join(f"{n} = excluded.{n}" for n in (*_COLUMNS, "updated_at", "updated_by"))
    await db.execute(
        f"INSERT INTO deployment_settings (id, {names}, updated_at, updated_by)"
        f" VALUES (1, {marks}, ?, ?) ON CONFLICT (id) DO UPDATE SET {updates}",
        (*(getattr(deployment, n) for n in _COLUMNS), clock.to_db(clock.utc_now()), user_id),
    )


class LiveDeployment:
    """The settings in force, read by request handlers and the gateway at use time."""

    def __init__(self, defaults: Deployment) -> None:
        self.defaults = defaults
        self.current = defaults

    def numbering(self) -> tuple[str, str]:
        """(region, area code) for reading phone numbers, as in force right now."""
        return self.current.region, self.current.area_code

    async def load(self, db: Database) -> Deployment:
        self.current = await load(db, self.defaults)
        return self.current

    async def save(self, db: Database, box: SecretBox, deployment: Deployment,
                   new_password: str | None, user_id: int | None) -> Deployment:
        """Encrypt a new SMTP password, store, and put the result in force."""
        if new_password is not None:
            deployment = replace(deployment, smtp_password_encrypted=box.encrypt(new_password))
        await save(db, deployment, user_id)
        self.current = deployment
        return deployment
