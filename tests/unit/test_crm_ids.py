"""Row ids and page numbers read from a browser's text (crm/ids.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.errors import InvalidValue
from crm.ids import page_number, picked_id, row_id


@given(st.text(max_size=25))
def test_an_id_is_one_to_eighteen_ascii_digits(text: str) -> None:
    is_id = text.isascii() and text.isdigit() and 1 <= len(text) <= 18
    assert row_id(text) == (int(text) if is_id else None)


@pytest.mark.parametrize("text", ["-1", "1 2", "1e3", "١٢", "1 OR 1=1", "9" * 19, "0x10"])
def test_what_is_not_an_id(text: str) -> None:
    assert row_id(text) is None
    with pytest.raises(InvalidValue) as error:
        picked_id(text, "history.error.bad_choice")
    assert error.value.key == "history.error.bad_choice"


def test_a_pick_may_be_empty_and_is_trimmed() -> None:
    assert picked_id("", "k") is None and picked_id("   ", "k") is None
    assert picked_id(" 42 ", "k") == 42
    assert row_id(" 42 ") is None  # a path segment is taken as it is
    assert row_id("9" * 18) == 10**18 - 1 < 2**63


@pytest.mark.parametrize(("text", "page"), [
    ("", 1), ("0", 1), ("1", 1), ("7", 7), ("999999", 999999), ("1000000", 1), ("-2", 1),
    ("\uff12", 1), ("3.0", 1)])
def test_page_numbers(text: str, page: int) -> None:
    assert page_number(text) == page
