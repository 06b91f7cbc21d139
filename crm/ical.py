"""A small iCalendar (RFC 5545) writer: a VCALENDAR of VEVENTs, nothing else.

Text values are escaped (backslash, semicolon, comma, newline: section 3.3.11) and every
content line is folded at 75 octets with CRLF + space (section 3.1), never inside a UTF-8
character. Times are written in UTC (``YYYYMMDDTHHMMSSZ``), so no VTIMEZONE is needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

LINE_OCTETS = 75
PRODID = "-//Headset//Callbacks//EN"


@dataclass(frozen=True)
class Event:
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    url: str = ""


def escape_text(value: str) -> str:
    """A TEXT value: ``\\`` ``;`` ``,`` escaped, line breaks as ``\\n``, other controls dropped."""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch in ";,":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            continue
        else:
            out.append(ch)
    return "".join(out)


def fold_line(line: str) -> str:
    """One content line cut into chunks of at most 75 octets, joined by CRLF + space."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    limit = LINE_OCTETS
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            chunks.append("".join(current))
            # Continuation lines start with a space, which counts towards their 75.
            current, size, limit = [], 0, LINE_OCTETS - 1
        current.append(ch)
        size += width
    chunks.append("".join(current))
    return "\r\n ".join(chunks)


def utc_stamp(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one")
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _uri(value: str) -> str:
    # A URI value is not TEXT: no escaping, but it must stay on its property's line.
    return "".join(ch for ch in value if ord(ch) >= 0x20 and ord(ch) != 0x7F)


def calendar(events: Iterable[Event], stamp: datetime, name: str = "") -> str:
    """The whole VCALENDAR text, CRLF line ends, ``stamp`` as every event's DTSTAMP."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH"]
    if name:
        lines.append(f"X-WR-CALNAME:{escape_text(name)}")
    for event in events:
        lines += ["BEGIN:VEVENT", f"UID:{escape_text(event.uid)}",
                  f"DTSTAMP:{utc_stamp(stamp)}", f"DTSTART:{utc_stamp(event.start)}",
                  f"DTEND:{utc_stamp(event.end)}", f"SUMMARY:{escape_text(event.summary)}"]
        if event.description:
            lines.append(f"DESCRIPTION:{escape_text(event.description)}")
        if event.url:
            lines.append(f"URL:{_uri(event.url)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(fold_line(line) + "\r\n" for line in lines)
