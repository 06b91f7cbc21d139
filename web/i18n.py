"""Message catalogues (web/locales/<lang>/*.json) and choosing a user's language.

Each language is a folder of JSON files, one per area of the product (core, contacts,
history, ...), merged into one catalogue; a key defined in two files is an error, so areas
can grow apart without stepping on each other.

Keys are dotted names (``softphone.hangup``); values are ``str.format`` templates with
named parameters (``{name}``). English is the reference catalogue: a key missing from
another catalogue falls back to English, and one missing from English shows as the key
itself, so a gap is visible but never breaks a page. Parameters are plain text; escaping
is the template engine's job, so a translated string is never marked safe.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)

LANGUAGES = ("en", "es", "pt-BR", "pl")
FALLBACK = "en"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The messages of one language (read once, then cached)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}")
    folder = resources.files("web") / "locales" / lang
    messages: dict[str, str] = {}
    for part in sorted((p for p in folder.iterdir() if p.name.endswith(".json")),
                       key=lambda p: p.name):
        loaded = json.loads(part.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
        ):
            raise ValueError(f"locales/{lang}/{part.name}: must be one object of strings")
        twice = sorted(messages.keys() & loaded.keys())
        if twice:
            raise ValueError(f"locales/{lang}/{part.name}: {', '.join(twice)} defined twice")
        messages.update(loaded)
    return messages


def translate(lang: str, key: str, **params: Any) -> str:
    """The message ``key`` in ``lang`` with ``params`` filled in."""
    template = catalogue(lang if lang in LANGUAGES else FALLBACK).get(key)
    if template is None:
        template = catalogue(FALLBACK).get(key)
        if template is None:
            log.error("message %r is in no catalogue", key)
            return key
    try:
        return template.format_map(params)
    except (KeyError, IndexError, ValueError):
        log.error("message %r in %s: parameters %s do not fit", key, lang, sorted(params))
        return template


def messages(lang: str, prefix: str) -> dict[str, str]:
    """Every message whose key starts with ``prefix``, English filling any gaps.

    The browser gets the softphone's strings this way, unformatted.
    """
    merged = {k: v for k, v in catalogue(FALLBACK).items() if k.startswith(prefix)}
    if lang in LANGUAGES:
        merged.update((k, v) for k, v in catalogue(lang).items() if k.startswith(prefix))
    return merged


def _match(tag: str) -> str | None:
    """Our language for one BCP 47 tag, matching the region only where we have one."""
    wanted = tag.strip().lower()
    for lang in LANGUAGES:
        if lang.lower() == wanted:
            return lang
    primary = wanted.split("-", 1)[0]
    for lang in LANGUAGES:
        # Only pt-BR exists: a Portuguese speaker reads it better than English.
        if lang.lower().split("-", 1)[0] == primary:
            return lang
    return None


def parse_accept_language(header: str) -> list[str]:
    """The tags of an Accept-Language header, most preferred first (q=0 dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, options = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for option in options.split(";"):
            name, _, value = option.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(user_language: str | None, accept_language: str | None,
              default: str = FALLBACK) -> str:
    """The language to speak: the user's choice, else the browser's, else ``default``."""
    if user_language in LANGUAGES:
        return user_language
    for tag in parse_accept_language(accept_language or ""):
        lang = _match(tag)
        if lang is not None:
            return lang
    return default if default in LANGUAGES else FALLBACK
