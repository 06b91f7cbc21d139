"""The calendar grid (crm/calendar.py) and the iCalendar writer (crm/ical.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm import ical
from crm.calendar import View, period, place, shift, timing, weeks


def test_month_grid_covers_whole_weeks_from_the_locale_first_day() -> None:
    p = period(View.MONTH, date(2026, 3, 18), first_weekday=0)  # Monday
    assert p.first == date(2026, 2, 23) and p.last == date(2026, 4, 5)
    assert len(p.days) % 7 == 0
    sunday_first = period(View.MONTH, date(2026, 3, 18), first_weekday=6)
    assert sunday_first.first == date(2026, 3, 1) and sunday_first.first.weekday() == 6
    assert sunday_first.last == date(2026, 4, 4)


def test_week_and_day() -> None:
    p = period(View.WEEK, date(2026, 3, 5), first_weekday=0)
    assert (p.first, p.last) == (date(2026, 3, 2), date(2026, 3, 8))
    assert period(View.DAY, date(2026, 3, 5)).days == [date(2026, 3, 5)]


@pytest.mark.parametrize("view, anchor, steps, expected", [
    (View.MONTH, date(2026, 1, 31), 1, date(2026, 2, 28)),
    (View.MONTH, date(2026, 12, 15), 1, date(2027, 1, 15)),
    (View.MONTH, date(2026, 1, 15), -1, date(2025, 12, 15)),
    (View.MONTH, date(2024, 3, 31), -1, date(2024, 2, 29)),
    (View.WEEK, date(2026, 3, 5), -1, date(2026, 2, 26)),
    (View.DAY, date(2026, 2, 28), 1, date(2026, 3, 1)),
])
def test_shift(view: View, anchor: date, steps: int, expected: date) -> None:
    assert shift(view, anchor, steps) == expected


def test_items_land_on_their_local_day_in_time_order() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    p = period(View.WEEK, date(2026, 3, 5))
    late = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)   # 00:30 on the 6th in Madrid
    early = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)
    earlier = datetime(2026, 3, 5, 7, 0, tzinfo=UTC)
    days = place(p, [(late, "late"), (early, "early"), (earlier, "earlier")], madrid)
    by_day = {d.day: d.items for d in days}
    assert by_day[date(2026, 3, 5)] == ("earlier", "early")
    assert by_day[date(2026, 3, 6)] == ("late",)
    assert p.start(madrid) == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert p.end(madrid) - p.start(madrid) == timedelta(days=7)


def test_month_marks_days_outside_it_and_cuts_weeks() -> None:
    p = period(View.MONTH, date(2026, 3, 1))
    rows = weeks(place(p, list[tuple[datetime, str]](), UTC))
    assert all(len(row) == 7 for row in rows)
    assert not rows[0][0].in_month and rows[1][0].in_month


def test_escape_text() -> None:
    assert ical.escape_text("a\\b;c,d\r\ne\nf") == "a\\\\b\\;c\\,d\\ne\\nf"
    assert ical.escape_text("bell\x07 tab\t") == "bell tab"
    assert ical.escape_text("=cmd|' /C calc'!A0") == "=cmd|' /C calc'!A0"


def test_fold_line_keeps_octets_and_characters_whole() -> None:
    line = "DESCRIPTION:" + "ł" * 100
    folded = ical.fold_line(line)
    parts = folded.split("\r\n")
    assert all(len(part.encode()) <= 75 for part in parts)
    assert all(part.startswith(" ") for part in parts[1:])
    assert "".join(part[1:] if i else part for i, part in enumerate(parts)) == line
    assert ical.fold_line("SUMMARY:short") == "SUMMARY:short"
    exactly = "X" * 75
    assert ical.fold_line(exactly) == exactly
    assert ical.fold_line(exactly + "Y") == exactly + "\r\n Y"


def test_calendar_document() -> None:
    start = datetime(2026, 3, 5, 14, 30, tzinfo=ZoneInfo("Europe/Madrid"))
    text = ical.calendar([ical.Event(uid="callback-1@host", start=start,
                                     end=start + timedelta(minutes=15),
                                     summary="Rellamada: Lucía; <script>",
                                     description="line1\nline2", url="https://h/x\r\nBAD:1")],
                         stamp=datetime(2026, 3, 1, tzinfo=UTC), name="Headset")
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")
    assert "DTSTART:20260305T133000Z" in lines
    assert "DTSTAMP:20260301T000000Z" in lines
    assert "UID:callback-1@host" in lines
    assert "SUMMARY:Rellamada: Lucía\\; <script>" in lines
    assert "DESCRIPTION:line1\\nline2" in lines
    assert "URL:https://h/xBAD:1" in lines  # no property smuggled onto a new line
    assert "BAD:1" not in lines
    with pytest.raises(ValueError):
        ical.utc_stamp(datetime(2026, 1, 1))


def test_timing_of_dated_items() -> None:
    now = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    assert timing(now + timedelta(hours=1), now, closed=False) == "upcoming"
    assert timing(now + timedelta(minutes=15), now, closed=False) == "due_soon"
    assert timing(now, now, closed=False) == "overdue"
    assert timing(now - timedelta(days=1), now, closed=True) == "closed"
