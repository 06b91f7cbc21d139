"""The calendar's shape: which days a month, week or day view shows, and where items go.

Pure date arithmetic: the view asks for a grid around a day (weeks start on the locale's
first weekday, 0 = Monday), places items on the local day they happen, and links to the
previous and next period. Times are turned into local days by the caller's time zone.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Generic, TypeVar

T = TypeVar("T")


class View(enum.StrEnum):
    MONTH = "month"
    WEEK = "week"
    DAY = "day"


@dataclass(frozen=True)
class Period:
    """The days a view shows, [first, last], and the day it was asked around."""

    view: View
    anchor: date
    first: date
    last: date

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def start(self, zone: tzinfo) -> datetime:
        """The first instant shown, in UTC."""
        return datetime.combine(self.first, time(), zone).astimezone(UTC)

    def end(self, zone: tzinfo) -> datetime:
        """The instant after the last one shown, in UTC."""
        return datetime.combine(self.last + timedelta(days=1), time(), zone).astimezone(UTC)


def _week_start(day: date, first_weekday: int) -> date:
    return day - timedelta(days=(day.weekday() - first_weekday) % 7)


def period(view: View, anchor: date, first_weekday: int = 0) -> Period:
    """The days ``view`` shows around ``anchor``: whole weeks covering the month, the
    week containing it, or the day itself."""
    if view is View.DAY:
        return Period(view, anchor, anchor, anchor)
    if view is View.WEEK:
        first = _week_start(anchor, first_weekday)
        return Period(view, anchor, first, first + timedelta(days=6))
    month_first = anchor.replace(day=1)
    next_month = (month_first + timedelta(days=32)).replace(day=1)
    first = _week_start(month_first, first_weekday)
    last = _week_start(next_month - timedelta(days=1), first_weekday) + timedelta(days=6)
    return Period(view, anchor, first, last)


def shift(view: View, anchor: date, steps: int) -> date:
    """The anchor ``steps`` periods away (a month keeps its day where it can)."""
    if view is View.DAY:
        return anchor + timedelta(days=steps)
    if view is View.WEEK:
        return anchor + timedelta(weeks=steps)
    months = anchor.year * 12 + anchor.month - 1 + steps
    year, month = divmod(months, 12)
    month += 1
    following = date(year + (month // 12), month % 12 + 1, 1)
    return date(year, month, min(anchor.day, (following - timedelta(days=1)).day))


@dataclass(frozen=True)
class Day(Generic[T]):
    day: date
    in_month: bool
    items: tuple[T, ...]


def place(p: Period, items: Iterable[tuple[datetime, T]], zone: tzinfo) -> list[Day[T]]:
    """Every day of ``p`` with the items that happen on it locally, in time order."""
    by_day: dict[date, list[tuple[datetime, T]]] = {}
    for at, item in items:
        by_day.setdefault(at.astimezone(zone).date(), []).append((at, item))
    return [Day(day, p.view is not View.MONTH or day.month == p.anchor.month,
                tuple(item for _, item in sorted(by_day.get(day, []), key=lambda pair: pair[0])))
            for day in p.days]


def timing(due_at: datetime, now: datetime, closed: bool,
           soon: timedelta = timedelta(minutes=15)) -> str:
    """How an item with a due time reads at ``now``: ``closed``, ``overdue``, ``due_soon``
    (within ``soon``) or ``upcoming`` (the same words as a callback's urgency)."""
    if closed:
        return "closed"
    if now >= due_at:
        return "overdue"
    return "due_soon" if due_at - now <= soon else "upcoming"


def weeks(days: Sequence[Day[T]]) -> list[list[Day[T]]]:
    """Days cut into rows of seven (a month grid)."""
    return [list(days[n:n + 7]) for n in range(0, len(days), 7)]
