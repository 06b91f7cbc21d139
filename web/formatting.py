"""Dates, times, durations, numbers and phone numbers as the reader's locale writes them.

Babel (CLDR data) does the locale work: ``5/3/26, 14:07`` in Spanish, ``05/03/2026 14:07``
in Brazilian Portuguese, ``5.03.2026, 14:07`` in Polish, ``3/5/26, 2:07 PM`` in English.
Instants are stored in UTC and shown in the deployment's time zone; Headset has no
time-zone setting yet, so that is UTC (``deployment_zone`` is the one place to change).

``install`` registers the functions as Jinja filters (``{{ call.started_at|datetime }}``,
``|date``, ``|time``, ``|duration``, ``|number``, ``|phone``); they read ``lang``,
``time_zone`` and ``phone_region`` from the page context (web/templating.py).
``|phone_text`` is the number as shown, without the link; ``is dialable`` tells whether a
value can be called.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from babel import dates, numbers
from markupsafe import Markup, escape

from crm import phone_numbers
from web import i18n

# Babel spells regions with an underscore.
_BABEL_LOCALES = {lang: lang.replace("-", "_") for lang in i18n.LANGUAGES}


def babel_locale(lang: str) -> str:
    """The Babel locale for one of our languages (English for anything else)."""
    return _BABEL_LOCALES.get(lang, "en")


# The deployment's zone for the request being handled (set by a middleware in
# web/deployment_setup.py); UTC outside a request.
_REQUEST_ZONE: ContextVar[tzinfo] = ContextVar("deployment_zone", default=UTC)


def deployment_zone(name: str | None = None) -> tzinfo:
    """The time zone pages show instants in and read typed dates in.

    With no ``name``: the deployment's, for the request being handled. With an IANA
    ``name``: that zone, or UTC when the name is empty or unknown to this system (a zone
    database that lost a name must not break a page).
    """
    if name is None:
        return _REQUEST_ZONE.get()
    if not name or name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def use_zone(zone: tzinfo) -> Token[tzinfo]:
    """Make ``zone`` the one ``deployment_zone()`` answers in this request."""
    return _REQUEST_ZONE.set(zone)


def forget_zone(token: Token[tzinfo]) -> None:
    _REQUEST_ZONE.reset(token)


def format_datetime(at: datetime, lang: str, zone: tzinfo = UTC) -> str:
    """Short date and time (``5/3/26, 14:07``)."""
    return dates.format_datetime(at, "short", tzinfo=zone, locale=babel_locale(lang))


def format_date(at: datetime, lang: str, zone: tzinfo = UTC) -> str:
    """A date with the month in words (``5 mar 2026``): no day/month order to misread."""
    return dates.format_date(at.astimezone(zone), "medium", locale=babel_locale(lang))


def format_time(at: datetime, lang: str, zone: tzinfo = UTC) -> str:
    return dates.format_time(at, "short", tzinfo=zone, locale=babel_locale(lang))


def format_duration(seconds: float | None) -> str:
    """A call's length as a clock reads it: ``0:42``, ``12:05``, ``1:02:03`` ("" if none).

    The same in all four languages, and it lines up in a table column.
    """
    if seconds is None:
        return ""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_number(value: float, lang: str) -> str:
    """A number with the locale's grouping and decimal marks (``1.234,5`` in Spanish)."""
    return numbers.format_decimal(value, locale=babel_locale(lang))


def csv_delimiter(lang: str) -> str:
    """The separator a spreadsheet in ``lang`` splits a double-clicked CSV on: ``;``
    where the decimal mark is a comma (es, pt-BR, pl), else ``,``."""
    return ";" if numbers.get_decimal_symbol(babel_locale(lang)) == "," else ","


def dial_target(value: str) -> str | None:
    """What a click may dial for ``value``: an E.164 number or an extension's digits;
    None for anything else (withheld, "anonymous", garbage)."""
    text = value.strip()
    if text.startswith("+") and text[1:].isascii() and text[1:].isdigit():
        return text
    low, high = phone_numbers.EXTENSION_DIGITS
    if text.isascii() and text.isdigit() and low <= len(text) <= high:
        return text
    return None


def phone_link(value: str, region: str) -> Markup:
    """``value`` shown for a reader in ``region`` (national format at home), as a
    click-to-dial link: ``href="tel:<E.164>"`` for any phone, ``data-dial`` for the
    softphone (web/static/click-to-dial.js). Text that is not a number stays text."""
    target = dial_target(value)
    if target is None:
        return escape(value)
    shown = phone_numbers.display(target, region)
    return Markup('<a class="tel" href="tel:{0}" data-dial="{0}">{1}</a>').format(target, shown)


# -- Jinja filters ----------------------------------------------------------------------

def _lang(ctx: jinja2.runtime.Context) -> str:
    return str(ctx.get("lang", i18n.FALLBACK))


def _zone(ctx: jinja2.runtime.Context) -> tzinfo:
    zone = ctx.get("time_zone")
    return zone if isinstance(zone, tzinfo) else UTC


@jinja2.pass_context
def _datetime_filter(ctx: jinja2.runtime.Context, at: datetime | None) -> str:
    return "" if at is None else format_datetime(at, _lang(ctx), _zone(ctx))


@jinja2.pass_context
def _date_filter(ctx: jinja2.runtime.Context, at: datetime | None) -> str:
    return "" if at is None else format_date(at, _lang(ctx), _zone(ctx))


@jinja2.pass_context
def _time_filter(ctx: jinja2.runtime.Context, at: datetime | None) -> str:
    return "" if at is None else format_time(at, _lang(ctx), _zone(ctx))


@jinja2.pass_context
def _number_filter(ctx: jinja2.runtime.Context, value: float) -> str:
    return format_number(value, _lang(ctx))


@jinja2.pass_context
def _phone_filter(ctx: jinja2.runtime.Context, value: str) -> Markup:
    return phone_link(value, str(ctx.get("phone_region", "")))


@jinja2.pass_context
def _phone_text_filter(ctx: jinja2.runtime.Context, value: str) -> str:
    target = dial_target(value)
    return value if target is None else phone_numbers.display(
        target, str(ctx.get("phone_region", "")))


def _is_dialable(value: str) -> bool:
    return dial_target(value) is not None


FILTERS: dict[str, Any] = {
    "datetime": _datetime_filter,
    "date": _date_filter,
    "time": _time_filter,
    "duration": format_duration,
    "number": _number_filter,
    "phone": _phone_filter,
    "phone_text": _phone_text_filter,
}


def install(env: jinja2.Environment) -> None:
    """Register the formatting filters on a template environment."""
    env.filters.update(FILTERS)
    env.tests["dialable"] = _is_dialable
