"""crm.phone_numbers: real formats from the first call centres' countries, and PBX habits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm import phone_numbers
from crm.errors import InvalidValue
from crm.phone_numbers import Kind, PhoneNumber, display, match_keys, parse


@pytest.mark.parametrize(("raw", "region", "area_code", "e164"), [
    # Spain: 9 digits, no trunk prefix; PBXs send 0034, 34 or +34.
    ("912 345 678", "ES", "", "+34912345678"),
    ("91 234 56 78", "ES", "", "+34912345678"),
    ("612345678", "ES", "", "+34612345678"),
    ("+34 612 34 56 78", "ES", "", "+34612345678"),
    ("0034912345678", "ES", "", "+34912345678"),
    ("34612345678", "ES", "", "+34612345678"),
    ("tel:+34-912-345-678", "ES", "", "+34912345678"),
    # Mexico: 10 digits since 2019; the old 01, 044, 045 and +52 1 still turn up.
    ("55 1234 5678", "MX", "", "+525512345678"),
    ("01 55 1234 5678", "MX", "", "+525512345678"),
    ("044 55 1234 5678", "MX", "", "+525512345678"),
    ("045 33 1234 5678", "MX", "", "+523312345678"),
    ("+52 1 55 1234 5678", "MX", "", "+525512345678"),
    ("5215512345678", "MX", "", "+525512345678"),
    ("525512345678", "MX", "", "+525512345678"),
    ("+52 1 55 1234 5678", "ES", "", "+525512345678"),
    # Argentina: trunk 0, area codes, mobiles 9 internationally / 15 locally.
    ("011 4123-4567", "AR", "", "+541141234567"),
    ("0 11 4123 4567", "AR", "", "+541141234567"),
    ("11 4123-4567", "AR", "", "+541141234567"),
    ("4123 4567", "AR", "11", "+541141234567"),
    ("011 15 2345-6789", "AR", "", "+5491123456789"),
    ("15 2345 6789", "AR", "11", "+5491123456789"),
    ("+54 9 11 2345-6789", "AR", "", "+5491123456789"),
    ("00 54 9 11 2345 6789", "ES", "", "+5491123456789"),
    # Uruguay: 8 digits; mobiles 09x nationally.
    ("2901 1234", "UY", "", "+59829011234"),
    ("099 123 456", "UY", "", "+59899123456"),
    ("99123456", "UY", "", "+59899123456"),
    ("+598 99 123 456", "UY", "", "+59899123456"),
    # Brazil: area code + 8 (landline) or 9 (mobile) digits; trunk 0 with carrier code.
    ("(11) 3456-7890", "BR", "", "+551134567890"),
    ("11 99999-8888", "BR", "", "+5511999998888"),
    ("011 99999 8888", "BR", "", "+5511999998888"),
    ("0 21 11 99999 8888", "BR", "", "+5511999998888"),
    ("3456-7890", "BR", "11", "+551134567890"),
    ("99999-8888", "BR", "11", "+5511999998888"),
    ("999998888", "BR", "21", "+5521999998888"),
    # Old 8-digit mobiles get their ninth digit.
    ("8888-7777", "BR", "11", "+5511988887777"),
    ("(11) 8888-7777", "BR", "", "+5511988887777"),
    ("+55 11 8888-7777", "ES", "", "+5511988887777"),
    ("0055 11 99999 8888", "BR", "", "+5511999998888"),
    ("5511999998888", "BR", "", "+5511999998888"),
    ("+55 (11) 99999-8888", "PL", "", "+5511999998888"),
    # Poland: 9 digits, no trunk prefix; PBXs send 0048, 48 or +48.
    ("22 123 45 67", "PL", "", "+48221234567"),
    ("601 234 567", "PL", "", "+48601234567"),
    ("0048 22 123 45 67", "PL", "", "+48221234567"),
    ("0048601234567", "PL", "", "+48601234567"),
    ("+48 601 234 567", "PL", "", "+48601234567"),
    ("48221234567", "PL", "", "+48221234567"),
    ("48 601 234 567", "PL", "", "+48601234567"),
    ("0048 601 234 567", "ES", "", "+48601234567"),
    # The area code does not get in the way of complete numbers.
    ("(21) 3456-7890", "BR", "11", "+552134567890"),
    ("+48 22 123 45 67", "BR", "11", "+48221234567"),
    # A lower-case region is still the region.
    ("612345678", "es", "", "+34612345678"),
])
def test_parses_to_e164(raw: str, region: str, area_code: str, e164: str) -> None:
    assert parse(raw, region, area_code) == PhoneNumber(Kind.NUMBER, e164)


@pytest.mark.parametrize(("raw", "digits"), [
    ("12", "12"), ("100", "100"), ("2001", "2001"), ("20 01", "2001"), ("123456", "123456"),
])
def test_short_numbers_are_extensions(raw: str, digits: str) -> None:
    number = parse(raw, "BR", "11")
    assert number.kind is Kind.EXTENSION and number.value == digits and number.is_extension


@pytest.mark.parametrize(("raw", "region", "area_code", "key"), [
    ("", "ES", "", "phone.empty"),
    ("   ", "ES", "", "phone.empty"),
    ("1" * 65, "ES", "", "phone.too_long"),
    ("abc", "ES", "", "phone.invalid"),
    ("+", "ES", "", "phone.invalid"),
    ("1", "ES", "", "phone.invalid"),
    ("612 345 67", "ES", "", "phone.invalid"),
    ("9123456789012345678901", "ES", "", "phone.invalid"),
    ("+34 91 234 56 78 ext 12", "ES", "", "phone.invalid"),
    ("+34 91<script>", "ES", "", "phone.invalid"),
    ("++48221234567", "PL", "", "phone.invalid"),
    ("0221234567", "PL", "", "phone.invalid"),
    # A local number without the deployment's area code cannot be read.
    ("3456-7890", "BR", "", "phone.invalid"),
    ("1234567", "ES", "", "phone.invalid"),
    ("612345678", "XX", "", "phone.invalid"),
])
def test_refuses_with_a_key(raw: str, region: str, area_code: str, key: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse(raw, region, area_code)
    assert caught.value.key == key


def test_invalid_names_the_number_for_the_message() -> None:
    with pytest.raises(InvalidValue) as caught:
        parse("  12-abc  ", "ES")
    assert caught.value.params == {"number": "12-abc"}


def test_unknown_region_still_reads_international_numbers() -> None:
    assert parse("+48 22 123 45 67", "XX").value == "+48221234567"


def test_international_number_unknown_to_metadata_is_kept_if_possible() -> None:
    # +34 7xx is unassigned in Spain's metadata but has the right length.
    assert parse("+34 712 345 678", "PL").value == "+34712345678"


@pytest.mark.parametrize(("e164", "region", "shown"), [
    ("+34912345678", "ES", "912 34 56 78"),
    ("+34912345678", "PL", "+34 912 34 56 78"),
    ("+5511999998888", "BR", "(11) 99999-8888"),
    ("+5511999998888", "ES", "+55 11 99999-8888"),
    ("+48601234567", "PL", "601 234 567"),
    ("+525512345678", "MX", "55 1234 5678"),
    ("+5491123456789", "AR", "011 15-2345-6789"),
    ("+59899123456", "UY", "099 123 456"),
    ("+59899123456", "XX", "+598 99 123 456"),
    ("2001", "ES", "2001"),
    ("+", "ES", "+"),
])
def test_display(e164: str, region: str, shown: str) -> None:
    assert display(e164, region) == shown


def test_match_keys_cover_argentine_mobile_with_and_without_nine() -> None:
    assert match_keys("+5491123456789") == ("+5491123456789", "+541123456789")
    assert match_keys("+541123456789") == ("+541123456789", "+5491123456789")
    assert match_keys("+48221234567") == ("+48221234567",)


@pytest.mark.parametrize(("region", "ok"), [("ES", True), ("BR", True), ("PL", True),
                                            ("XX", False), ("", False), ("es", False)])
def test_is_region(region: str, ok: bool) -> None:
    assert phone_numbers.is_region(region) is ok


@pytest.mark.parametrize(("area_code", "ok"), [("", True), ("11", True), ("011", True),
                                               ("123456", False), ("1a", False),
                                               ("\u0661\u0661", False)])
def test_is_area_code(area_code: str, ok: bool) -> None:
    assert phone_numbers.is_area_code(area_code) is ok


REGIONS = st.sampled_from(["ES", "MX", "AR", "UY", "BR", "PL", "US", "XX", ""])
AREA_CODES = st.sampled_from(["", "11", "21", "351", "x"])
PHONEISH = st.text(alphabet="0123456789+ -().", max_size=30)


@given(st.one_of(st.text(max_size=80), PHONEISH), REGIONS, AREA_CODES)
def test_parse_raises_only_invalid_value(raw: str, region: str, area_code: str) -> None:
    try:
        number = parse(raw, region, area_code)
    except InvalidValue as exc:
        assert exc.key in ("phone.empty", "phone.too_long", "phone.invalid")
        return
    if number.kind is Kind.NUMBER:
        assert number.value.startswith("+") and number.value[1:].isdigit()
        # A key is stable: reading it again gives itself.
        assert parse(number.value, region, area_code) == number
        assert display(number.value, region)
    else:
        assert number.value.isdigit() and 2 <= len(number.value) <= 6
