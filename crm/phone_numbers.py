"""Phone numbers: what an agent types or a PBX sends, read into one E.164 key.

``parse(raw, region, area_code)`` is pure and raises only ``InvalidValue`` (keys
``phone.empty``, ``phone.too_long``, ``phone.invalid``). It answers a ``PhoneNumber``
of one of two kinds:

- ``NUMBER``: a public number, ``value`` in E.164 (``+48221234567``);
- ``EXTENSION``: a short internal number (2-6 digits, no ``+``), ``value`` the digits.

The deployment's region (``ES``, ``BR``, ``PL``...) reads national numbers; its local
area code completes the 8/9-digit local numbers Brazilian PBXs send. A national reading
must be a *valid* number (libphonenumber's metadata), since a merely possible one can be
the wrong key (``3456-7890`` in Brazil is not area code 34). Readings are tried in order,
the first valid one wins:

1. as written, in the region (``+48 ...``, ``0048 ...``, ``0 11 ...``, ``(11) 9...``);
2. legacy national prefixes libphonenumber no longer strips (Mexico's ``01``/``044``/
   ``045``, ``+52 1`` mobiles), and Brazil's old 8-digit mobiles (ninth digit added);
3. the local area code in front (local numbers, Argentina's local ``15`` mobiles);
4. ``00`` as the international prefix where the region's own differs (Brazil's needs a
   carrier code), or the country code without any prefix (``48221234567`` from a trunk).

Input written internationally (``+``/``00``) that is possible but unknown to the metadata
(a brand-new range) is kept, as typed.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from crm.errors import InvalidValue

MAX_INPUT = 64
EXTENSION_DIGITS = (2, 6)
# Grouping characters people and PBXs put between digits.
_PUNCTUATION = str.maketrans("", "", " -.()/\u00a0\t")
_DIALLABLE = re.compile(r"^\+?[0-9]+$")
# E.164 allows 15 digits; an international prefix (00) and a trunk digit come on top.
_MAX_DIGITS = 20

# National prefixes abolished by Mexico's 2019 numbering reform; PBXs and old contact
# lists still have them (01 long distance, 044/045 mobile local/national).
_LEGACY_NATIONAL_PREFIXES = {"MX": ("044", "045", "01")}


class Kind(enum.StrEnum):
    NUMBER = "number"
    EXTENSION = "extension"


@dataclass(frozen=True)
class PhoneNumber:
    kind: Kind
    value: str

    @property
    def is_extension(self) -> bool:
        return self.kind is Kind.EXTENSION


def is_region(region: str) -> bool:
    """Whether ``region`` is a region code libphonenumber knows (``ES``, ``BR``...)."""
    return region in phonenumbers.SUPPORTED_REGIONS


def is_area_code(area_code: str) -> bool:
    """Whether ``area_code`` can be a local area code: empty, or 1-5 digits."""
    return area_code == "" or (area_code.isascii() and area_code.isdigit()
                               and len(area_code) <= 5)


def _invalid(raw: str) -> InvalidValue:
    return InvalidValue(f"{raw!r} is not a phone number", key="phone.invalid",
                        number=raw.strip()[:MAX_INPUT])


def parse(raw: str, region: str, area_code: str = "") -> PhoneNumber:
    """Read ``raw`` as the deployment in ``region`` (with ``area_code``) would dial it.

    Raises ``InvalidValue`` (and nothing else) when it is empty, too long or not a
    phone number.
    """
    text = raw.strip()
    if not text:
        raise InvalidValue("phone number is empty", key="phone.empty")
    if len(text) > MAX_INPUT:
        raise InvalidValue("phone number is too long", key="phone.too_long", max=MAX_INPUT)
    if text[:4].lower() == "tel:":
        text = text[4:]
    dial = text.translate(_PUNCTUATION)
    if not _DIALLABLE.match(dial) or len(dial) > _MAX_DIGITS + 1:
        raise _invalid(raw)
    if not dial.startswith("+") and EXTENSION_DIGITS[0] <= len(dial) <= EXTENSION_DIGITS[1]:
        return PhoneNumber(Kind.EXTENSION, dial)
    region = region.upper() if is_region(region.upper()) else "ZZ"
    area_code = area_code if is_area_code(area_code) else ""
    international = dial.startswith(("+", "00"))
    for candidate, candidate_region in _readings(dial, region, area_code):
        number = _parse_one(candidate, candidate_region)
        if number is not None and phonenumbers.is_valid_number(number):
            return PhoneNumber(Kind.NUMBER, _e164(number))
    if international:
        number = _parse_one("+" + dial.removeprefix("+").removeprefix("00"), "ZZ")
        if number is not None and phonenumbers.is_possible_number(number):
            return PhoneNumber(Kind.NUMBER, _e164(number))
    raise _invalid(raw)


def _readings(dial: str, region: str, area_code: str) -> list[tuple[str, str]]:
    """The ways to read ``dial`` (digits, maybe a leading +), most likely first."""
    readings = [(dial, region)]
    if dial.startswith("+"):
        return [*readings, *_international_fixes(dial[1:])]
    for prefix in _LEGACY_NATIONAL_PREFIXES.get(region, ()):
        if dial.startswith(prefix):
            readings.append((dial[len(prefix):], region))
            break
    if region == "BR":
        readings.extend(_brazil_ninth_digit(dial.removeprefix("0"), area_code))
    if area_code and not dial.startswith("0") and len(dial) <= 10:
        readings.append((area_code + dial, region))
    if dial.startswith("00"):
        readings.append(("+" + dial[2:], "ZZ"))
        readings.extend(_international_fixes(dial[2:]))
    elif not dial.startswith("0") and len(dial) >= 8:
        readings.append(("+" + dial, "ZZ"))
        readings.extend(_international_fixes(dial))
    return readings


def _international_fixes(digits: str) -> list[tuple[str, str]]:
    """Readings of international digits (no +) in formats libphonenumber refuses."""
    # +52 1 XX: Mexican mobiles before 2019 carried a 1 after the country code.
    if digits.startswith("521") and len(digits) == 13:
        return [("+52" + digits[3:], "ZZ")]
    if digits.startswith("55"):
        return [(candidate, "BR") for candidate, _ in _brazil_ninth_digit(digits[2:], "")]
    return []


def _brazil_ninth_digit(national: str, area_code: str) -> list[tuple[str, str]]:
    """A Brazilian mobile written with 8 digits (before 2016) with its ninth digit added."""
    if len(national) == 8 and area_code:
        national = area_code + national
    if len(national) == 10 and national.isdigit() and national[2] in "6789":
        return [(national[:2] + "9" + national[2:], "BR")]
    return []


def _parse_one(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def display(e164: str, region: str) -> str:
    """How a person in ``region`` reads the number: national format at home,
    international otherwise. Anything that is not E.164 is returned as it is."""
    if not e164.startswith("+"):
        return e164
    number = _parse_one(e164, "ZZ")
    if number is None:
        return e164
    home = phonenumbers.country_code_for_region(region.upper()) if is_region(region.upper()) else 0
    style = PhoneNumberFormat.NATIONAL if number.country_code == home else (
        PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, style)


def match_keys(e164: str) -> tuple[str, ...]:
    """The stored keys that are the same line as ``e164``, itself first.

    Argentine mobiles are stored with the 9 (``+54 9 11 ...``) but often presented by
    the network without it; either form finds the other.
    """
    keys = [e164]
    if e164.startswith("+549") and len(e164) == 14:
        keys.append("+54" + e164[4:])
    elif e164.startswith("+54") and len(e164) == 13:
        alternative = _parse_one("+549" + e164[3:], "ZZ")
        if alternative is not None and phonenumbers.is_valid_number(alternative):
            keys.append("+549" + e164[3:])
    return tuple(keys)


def digits(text: str) -> str:
    """Only the digits of ``text`` (what a phone search compares)."""
    return "".join(ch for ch in text if "0" <= ch <= "9")
