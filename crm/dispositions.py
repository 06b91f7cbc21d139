"""Dispositions (tabulation): what is acceptable, decided without I/O.

Administrators define *categories* (each a success or a failure), *dispositions* (each in
a category, optionally with a *form*: fields of type text, number, choice or date, some
required) and where each is offered: everywhere, in one campaign or in the calls of one
inbound queue, and in the scenarios inbound, manual (the agent dialled) and dialer.

When the agent presses "Save and finish" the call gets either a disposition with its
form's values, or one of the wrap-up shortcuts (wrong number, voicemail, schedule a
callback with a date and time), or nothing when the campaign does not require it.
``check_submission`` decides; it raises ``InvalidSubmission`` carrying one message key per
field, so the page can show every mistake at once and nothing is saved.

crm/disposition_catalog.py and crm/call_work.py store what this module accepts.
"""

from __future__ import annotations

import enum
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from crm.errors import InvalidValue

MAX_NAME = 80
MAX_LABEL = 80
MAX_CHOICES = 50
MAX_CHOICE = 80
MAX_FIELDS = 30
MAX_TEXT_VALUE = 1000
# Numbers a form can hold exactly as typed (no float rounding).
MAX_NUMBER_DIGITS = 15
# A callback further ahead than this is a typo (year 2205), not a plan.
MAX_CALLBACK_AHEAD = timedelta(days=366)
_DECIMAL = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")


class Kind(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


class FieldType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    CHOICE = "choice"
    DATE = "date"


class Scenario(enum.StrEnum):
    INBOUND = "inbound"
    MANUAL = "manual"
    DIALER = "dialer"


class WrapUp(enum.StrEnum):
    """Shortcuts that close a call without choosing a disposition from the list."""

    CALLBACK = "callback"
    WRONG_NUMBER = "wrong_number"
    VOICEMAIL = "voicemail"


class InvalidSubmission(InvalidValue):
    """A submitted disposition is not acceptable; ``errors`` maps field -> (key, params).

    The field ``_disposition`` is the choice itself, ``_callback_at`` the callback time.
    """

    key = "calls.error.invalid_submission"

    def __init__(self, errors: Mapping[str, tuple[str, Mapping[str, Any]]]) -> None:
        super().__init__(f"invalid disposition: {', '.join(sorted(errors))}")
        self.errors = dict(errors)


@dataclass(frozen=True)
class FieldDef:
    """One field of a disposition form."""

    name: str
    label: str
    type: FieldType
    required: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Disposition:
    id: int
    name: str
    category_id: int
    category: str
    kind: Kind
    form_id: int | None = None
    campaign_id: int | None = None
    scenarios: frozenset[Scenario] = frozenset(Scenario)
    active: bool = True
    queue_id: int | None = None  # offered only in calls of this inbound queue


@dataclass(frozen=True)
class Submission:
    """What "Save and finish" stores: a disposition or a shortcut, or neither."""

    disposition_id: int | None = None
    wrap_up: WrapUp | None = None
    callback_at: datetime | None = None
    values: dict[str, str] = field(default_factory=dict)


# -- names and definitions --------------------------------------------------------------

def fold(text: str) -> str:
    """Case-folded, NFC: the key names are unique under."""
    return unicodedata.normalize("NFC", text).strip().casefold()


def _has_control(text: str, allow_newlines: bool = False) -> bool:
    allowed = "\n\t" if allow_newlines else ""
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed for ch in text)


def clean_name(text: str, *, limit: int = MAX_NAME) -> str:
    """A category, disposition or form name: trimmed, 1..``limit``, no control characters."""
    name = unicodedata.normalize("NFC", text).strip()
    if not name:
        raise InvalidValue("name is empty", key="calls.error.empty_name")
    if len(name) > limit or _has_control(name):
        raise InvalidValue(f"name {name[:limit]!r} is too long or has control characters",
                           key="calls.error.invalid_name", max=limit)
    return name


def parse_kind(value: str) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        raise InvalidValue(f"category kind {value!r}: use success or failure",
                           key="calls.error.invalid_kind") from None


def parse_field_type(value: str) -> FieldType:
    try:
        return FieldType(value)
    except ValueError:
        raise InvalidValue(f"field type {value!r}: use text, number, choice or date",
                           key="calls.error.invalid_field_type") from None


def parse_scenarios(values: Iterable[str]) -> frozenset[Scenario]:
    """The scenarios ticked; at least one, or the disposition could never be offered."""
    try:
        scenarios = frozenset(Scenario(v) for v in values)
    except ValueError:
        raise InvalidValue("unknown scenario", key="calls.error.invalid_scenario") from None
    if not scenarios:
        raise InvalidValue("no scenario", key="calls.error.no_scenario")
    return scenarios


def field_name(label: str) -> str:
    """The storage key of a field labelled ``label``: lower-case letters, digits and _."""
    decomposed = unicodedata.normalize("NFKD", label.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    slug = re.sub(r"[^a-z0-9]+", "_", plain).strip("_")
    return slug[:40] or "field"


def split_choices(text: str) -> list[str]:
    """Choices as typed in one box, one per line."""
    return text.splitlines()


def clean_field(label: str, type_: str, required: bool, choices: Sequence[str],
                existing: Iterable[str] = ()) -> FieldDef:
    """A new field for a form whose fields are named ``existing``."""
    clean_label = clean_name(label, limit=MAX_LABEL)
    kind = parse_field_type(type_)
    options: dict[str, str] = {}
    for raw in choices:
        choice = unicodedata.normalize("NFC", raw).strip()
        if not choice:
            continue
        if len(choice) > MAX_CHOICE or _has_control(choice):
            raise InvalidValue(f"choice {choice[:MAX_CHOICE]!r} is too long",
                               key="calls.error.invalid_choice_option", max=MAX_CHOICE)
        options.setdefault(fold(choice), choice)
    if kind is FieldType.CHOICE and not options:
        raise InvalidValue("a choice field needs options", key="calls.error.no_choices")
    if len(options) > MAX_CHOICES:
        raise InvalidValue("too many choices", key="calls.error.too_many_choices",
                           max=MAX_CHOICES)
    taken = set(existing)
    if len(taken) >= MAX_FIELDS:
        raise InvalidValue("too many fields", key="calls.error.too_many_fields", max=MAX_FIELDS)
    base = name = field_name(clean_label)
    counter = 2
    while name in taken:
        name = f"{base}_{counter}"
        counter += 1
    return FieldDef(name=name, label=clean_label, type=kind, required=required,
                    choices=tuple(options.values()) if kind is FieldType.CHOICE else ())


# -- what is offered --------------------------------------------------------------------

def scenario_of(direction: str) -> Scenario:
    """The scenario of a call: inbound, or manual for a call the agent dialled.

    The dialer (issue 5) will mark its own calls; until then every outbound call is manual.
    """
    return Scenario.INBOUND if direction == "inbound" else Scenario.MANUAL


def offered(dispositions: Iterable[Disposition], scenario: Scenario,
            campaign_id: int | None, queue_id: int | None = None) -> list[Disposition]:
    """The active dispositions for a call in ``scenario`` of ``campaign_id`` that came
    through ``queue_id``.

    One with neither a campaign nor a queue is offered everywhere; one with a campaign
    only in that campaign's calls, one with a queue only in that queue's calls.
    """
    return [d for d in dispositions
            if d.active and scenario in d.scenarios
            and (d.campaign_id is None or d.campaign_id == campaign_id)
            and (d.queue_id is None or d.queue_id == queue_id)]


PolicyScope = tuple[int | None, int | None]  # (campaign id, queue id); (None, None): default


def policy_scopes(campaign_id: int | None, queue_id: int | None) -> tuple[PolicyScope, ...]:
    """Which "must disposition" settings decide for a call, first one stored wins.

    A campaign's call follows its campaign alone (no setting stored: not required). A
    queue's call follows its queue, or the default while the queue has no setting of
    its own. Any other call follows the default. crm/call_work.py's blocking query says
    the same in SQL.
    """
    if campaign_id is not None:
        return ((campaign_id, None),)
    if queue_id is not None:
        return ((None, queue_id), (None, None))
    return ((None, None),)


# -- values -------------------------------------------------------------------------------

def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def clean_value(spec: FieldDef, value: object) -> str:
    """One submitted value as stored (text); raises ``InvalidValue`` naming the problem."""
    if spec.type is FieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidValue("not a number", key="calls.error.not_a_number")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidValue("not a number", key="calls.error.not_a_number")
        # Plain decimals only (a comma is a decimal point in es, pt-BR and pl): no
        # exponents, so "1e999" cannot turn into a thousand digits.
        text = str(value).strip().replace(",", ".")
        if not _DECIMAL.match(text) or sum(ch.isdigit() for ch in text) > MAX_NUMBER_DIGITS:
            raise InvalidValue("not a number", key="calls.error.not_a_number")
        return format(Decimal(text).normalize(), "f")
    if not isinstance(value, str):
        raise InvalidValue("not text", key="calls.error.invalid_value")
    text = unicodedata.normalize("NFC", value).strip()
    if spec.type is FieldType.TEXT:
        if len(text) > MAX_TEXT_VALUE or _has_control(text, allow_newlines=True):
            raise InvalidValue("text too long", key="calls.error.text_too_long",
                               max=MAX_TEXT_VALUE)
        return text
    if spec.type is FieldType.CHOICE:
        for choice in spec.choices:
            if fold(choice) == fold(text):
                return choice
        raise InvalidValue("not one of the choices", key="calls.error.not_a_choice")
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise InvalidValue("not a date", key="calls.error.not_a_date") from None


def clean_values(fields: Sequence[FieldDef],
                 submitted: Mapping[str, object]) -> dict[str, str]:
    """The form's values, every field checked; raises ``InvalidSubmission`` listing all."""
    errors: dict[str, tuple[str, Mapping[str, Any]]] = {}
    values: dict[str, str] = {}
    for spec in fields:
        raw = submitted.get(spec.name)
        if _blank(raw):
            if spec.required:
                errors[spec.name] = ("calls.error.required", {"label": spec.label})
            continue
        try:
            values[spec.name] = clean_value(spec, raw)
        except InvalidValue as exc:
            errors[spec.name] = (exc.key, {"label": spec.label, **exc.params})
    if errors:
        raise InvalidSubmission(errors)
    return values


def parse_callback_at(text: object, now: datetime, tz_offset_minutes: int = 0) -> datetime:
    """A callback's date and time as typed in the browser (``YYYY-MM-DDTHH:MM``, local
    time ``tz_offset_minutes`` east of UTC), in UTC; it must be in the future."""
    if not isinstance(text, str) or not 16 <= len(text.strip()) <= 19:
        raise InvalidValue("callback time missing", key="calls.error.callback_at")
    try:
        local = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidValue("callback time unreadable", key="calls.error.callback_at") from None
    if local.tzinfo is not None:
        raise InvalidValue("callback time with zone", key="calls.error.callback_at")
    at = (local - timedelta(minutes=tz_offset_minutes)).replace(tzinfo=UTC)
    if at <= now:
        raise InvalidValue("callback in the past", key="calls.error.callback_in_past")
    if at - now > MAX_CALLBACK_AHEAD:
        raise InvalidValue("callback too far", key="calls.error.callback_too_far")
    return at


def check_submission(*, offered: Sequence[Disposition], forms: Mapping[int, Sequence[FieldDef]],
                     disposition_id: object, wrap_up: object, callback_at: object,
                     values: object, required: bool, now: datetime,
                     tz_offset_minutes: int = 0) -> Submission:
    """What "Save and finish" may store, or ``InvalidSubmission`` with every problem.

    ``offered`` are the dispositions available for the call, ``forms`` the fields of their
    forms by form id, ``required`` whether the campaign demands a disposition.
    """
    raw_values = values if isinstance(values, Mapping) else {}
    if values is not None and not isinstance(values, Mapping):
        raise InvalidSubmission({"_disposition": ("calls.error.invalid_value", {})})
    if wrap_up not in (None, ""):
        try:
            shortcut = WrapUp(str(wrap_up))
        except ValueError:
            raise InvalidSubmission(
                {"_disposition": ("calls.error.unknown_disposition", {})}) from None
        if disposition_id not in (None, ""):
            raise InvalidSubmission({"_disposition": ("calls.error.two_choices", {})})
        if shortcut is not WrapUp.CALLBACK:
            return Submission(wrap_up=shortcut)
        try:
            at = parse_callback_at(callback_at, now, tz_offset_minutes)
        except InvalidValue as exc:
            raise InvalidSubmission({"_callback_at": (exc.key, exc.params)}) from None
        return Submission(wrap_up=shortcut, callback_at=at)
    if disposition_id in (None, ""):
        if required:
            raise InvalidSubmission({"_disposition": ("calls.error.disposition_required", {})})
        return Submission()
    chosen = next((d for d in offered if str(d.id) == str(disposition_id)), None)
    if chosen is None or isinstance(disposition_id, bool):
        raise InvalidSubmission({"_disposition": ("calls.error.unknown_disposition", {})})
    fields = forms.get(chosen.form_id, ()) if chosen.form_id is not None else ()
    return Submission(disposition_id=chosen.id,
                      values=clean_values(fields, raw_values))
