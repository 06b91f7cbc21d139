import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.dialplan import (
    AgentCode,
    InvalidNumber,
    Target,
    parse_agent_code,
    parse_dial_string,
)


@pytest.mark.parametrize(("text", "number"), [
    ("+34 911 23 45 67", "+34911234567"),
    ("(011) 4555-1234", "01145551234"),
    ("600.123.456", "600123456"),
    ("22\u00a0123\u00a045\u00a067", "221234567"),
    ("1001", "1001"),
    ("*72#", "*72#"),
])
def test_separators_are_dropped(text: str, number: str) -> None:
    assert parse_dial_string(text, "*43") == Target(number=number)


def test_echo_number_is_recognised() -> None:
    assert parse_dial_string("*43", "*43") == Target(number="*43", echo=True)


@pytest.mark.parametrize("text", ["", "abc", "1001; DROP TABLE", "sip:1001@evil", "++34",
                                  "<script>", "1" * 33, "12+34"])
def test_not_a_number_is_refused(text: str) -> None:
    with pytest.raises(InvalidNumber):
        parse_dial_string(text, "*43")


@given(st.text(max_size=40))
def test_accepted_numbers_are_safe_for_a_sip_uri(text: str) -> None:
    try:
        target = parse_dial_string(text, "*43")
    except InvalidNumber:
        return
    assert set(target.number) <= set("+0123456789*#")


@pytest.mark.parametrize(("text", "code"), [
    ("**1", AgentCode("login")),
    ("**11001", AgentCode("login", "1001")),
    ("**2 7", AgentCode("pause", "7")),
    ("**27#", AgentCode("pause", "7")),
    ("**3", AgentCode("resume")),
    ("**0", AgentCode("logout")),
])
def test_agent_codes(text: str, code: AgentCode) -> None:
    assert parse_agent_code(text) == code


@pytest.mark.parametrize("text", ["**2", "**3123", "**05"])
def test_agent_codes_with_a_wrong_argument_are_refused(text: str) -> None:
    with pytest.raises(InvalidNumber):
        parse_agent_code(text)


@pytest.mark.parametrize("text", ["*43", "1001", "*72#", "+34911234567", "**4", "**", "***1"])
def test_other_dial_strings_are_not_agent_codes(text: str) -> None:
    assert parse_agent_code(text) is None
