"""Row ids and page numbers as a browser sends them, in a path, a query or a form (pure).

An id is 1 to 18 ASCII digits: every such number fits SQLite's signed 64-bit INTEGER, and
nothing else (a sign, inner spaces, another script's digits, SQL) is taken for one. The
call history and the tickets read their ids and pages here.
"""

from __future__ import annotations

from crm.errors import InvalidValue

MAX_ID_DIGITS = 18
MAX_PAGE_DIGITS = 6


def _digits(text: str, most: int) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= most


def row_id(text: str) -> int | None:
    """``text`` as a row id, or ``None`` when it is not one (a path: not found)."""
    return int(text) if _digits(text, MAX_ID_DIGITS) else None


def picked_id(text: str, key: str) -> int | None:
    """A row picked from a list: ``None`` when none was (empty), else its id; anything
    else raises ``InvalidValue`` with the message ``key``."""
    value = text.strip()
    if not value:
        return None
    found = row_id(value)
    if found is None:
        raise InvalidValue(f"id {value[:20]!r}", key=key)
    return found


def page_number(text: str) -> int:
    """A list's ``?page=``: 1 unless it is a number of at most six digits."""
    return max(1, int(text)) if _digits(text, MAX_PAGE_DIGITS) else 1
