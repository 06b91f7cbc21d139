"""Notes and tags an agent writes during a call: what is acceptable, without I/O.

The call window autosaves the note while the agent types (debounced) and once more when
the tab is hidden or closed, so writes can overtake each other: a slow debounced save may
arrive after the one sent as the tab closed. Every write therefore carries the client's
*revision*, a number that only grows while the agent types (the browser uses a
millisecond clock, kept increasing); ``accepts`` says whether a write is newer than what
is stored. Equal revisions are a retry of the same text and change nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from crm.errors import InvalidValue

MAX_NOTE = 20_000
MAX_TAG = 40
MAX_TAGS = 20
# JavaScript's Number.MAX_SAFE_INTEGER: the browser's revisions never exceed it.
MAX_REVISION = 2**53 - 1


def clean_note(body: object) -> str:
    """The note as stored: line endings made \\n; refuses non-text, control characters
    (except tab and newline) and more than ``MAX_NOTE`` characters. Blank is allowed
    (the agent deleted what they wrote)."""
    if not isinstance(body, str):
        raise InvalidValue("note is not text", key="calls.error.note_invalid")
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > MAX_NOTE:
        raise InvalidValue(f"note of {len(text)} characters", key="calls.error.note_too_long",
                           max=MAX_NOTE)
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        raise InvalidValue("note has control characters", key="calls.error.note_invalid")
    return text


def parse_revision(value: object) -> int:
    """A client revision: an integer 1..2**53-1 (JSON numbers beyond lose precision)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REVISION:
        raise InvalidValue(f"revision {value!r}", key="calls.error.revision")
    return value


def accepts(stored: int | None, incoming: int) -> bool:
    """Whether a write with revision ``incoming`` replaces the stored one."""
    return stored is None or incoming > stored


def clean_tags(tags: object) -> tuple[str, ...]:
    """A call's tags: trimmed, blanks and repeats (ignoring case) dropped, order kept."""
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise InvalidValue("tags are not a list of text", key="calls.error.tag_invalid",
                           max=MAX_TAG)
    cleaned: dict[str, str] = {}
    for raw in _strings(tags):
        tag = unicodedata.normalize("NFC", raw).strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in tag):
            raise InvalidValue(f"tag {tag[:MAX_TAG]!r}", key="calls.error.tag_invalid",
                               max=MAX_TAG)
        cleaned.setdefault(tag_key(tag), tag)
    if len(cleaned) > MAX_TAGS:
        raise InvalidValue(f"{len(cleaned)} tags", key="calls.error.too_many_tags",
                           max=MAX_TAGS)
    return tuple(cleaned.values())


def tag_key(tag: str) -> str:
    return unicodedata.normalize("NFC", tag).strip().casefold()


def _strings(items: Iterable[object]) -> Iterable[str]:
    return (item for item in items if isinstance(item, str))
