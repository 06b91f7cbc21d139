"""How the CRM writes and reads instants: aware UTC datetimes in Python, ISO-8601 text in SQL.

One fixed format (``2024-05-01T09:30:00.000+00:00``) keeps stored times sortable as text,
which is what the indexes on ``started_at`` rely on.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def to_db(at: datetime) -> str:
    """Format an aware datetime for storage; naive datetimes are refused, not guessed."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: pass an aware datetime (e.g. clock.utc_now())")
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def from_db(text: str) -> datetime:
    """Parse a stored instant back into an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def from_db_optional(text: str | None) -> datetime | None:
    return None if text is None else from_db(text)
