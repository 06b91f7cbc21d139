"""web.i18n: complete catalogues and language negotiation."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.call_flow import Outcome
from web import i18n

REFERENCE = i18n.catalogue("en")


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_locale_has_every_key(lang: str) -> None:
    keys = set(i18n.catalogue(lang))
    assert set(REFERENCE) - keys == set(), "missing"
    assert keys - set(REFERENCE) == set(), "not in en.json"


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_placeholders_match_english(lang: str) -> None:
    for key, text in i18n.catalogue(lang).items():
        assert _fields(text) == _fields(REFERENCE[key]), key
        assert text.strip(), key


# Words that really are spelt the same in that language.
SAME_AS_ENGLISH = {"role.admin"}


@pytest.mark.parametrize("lang", ["es", "pt-BR", "pl"])
def test_translations_are_translated(lang: str) -> None:
    same = [k for k, v in i18n.catalogue(lang).items()
            if v == REFERENCE[k] and len(v) > 12
            and not k.startswith("language.") and k not in SAME_AS_ENGLISH]
    assert same == []


def test_call_outcomes_all_have_labels() -> None:
    for outcome in Outcome:
        assert f"call.outcome.{outcome.value}" in REFERENCE


def test_translate_fills_params_and_falls_back() -> None:
    assert i18n.translate("pl", "home.welcome", name="Zofia") == "Witaj, Zofia."
    assert i18n.translate("xx", "home.welcome", name="Ann") == "Welcome, Ann."
    assert i18n.translate("es", "no.such.key") == "no.such.key"
    # A missing parameter shows the template rather than failing the page.
    assert "{name}" in i18n.translate("en", "home.welcome")


def test_params_are_not_reinterpreted() -> None:
    assert i18n.translate("en", "home.welcome", name="{name}<b>") == "Welcome, {name}<b>."


def test_softphone_messages_for_browser() -> None:
    messages = i18n.messages("pt-BR", "softphone.")
    assert messages["softphone.hangup"] == "Desligar"
    assert all(k.startswith("softphone.") for k in messages)


@pytest.mark.parametrize(("user", "header", "expected"), [
    ("pl", "es-ES,es;q=0.9", "pl"),
    ("", "es-MX,es;q=0.9,en;q=0.8", "es"),
    ("", "pt-PT,pt;q=0.9", "pt-BR"),
    ("", "pt-br", "pt-BR"),
    ("", "de-DE,pl;q=0.5,en;q=0.3", "pl"),
    ("", "en;q=0.1,es;q=0.9", "es"),
    ("", "es;q=0,fr", "en"),
    ("", "", "en"),
    (None, None, "en"),
    ("", "*", "en"),
    ("", "pl;q=abc,es", "es"),
])
def test_negotiate(user: str | None, header: str | None, expected: str) -> None:
    assert i18n.negotiate(user, header) == expected


def test_negotiate_default() -> None:
    assert i18n.negotiate("", "de", default="es") == "es"


@given(st.text(max_size=200))
def test_negotiate_never_fails(header: str) -> None:
    assert i18n.negotiate("", header) in i18n.LANGUAGES


def test_no_stray_markup_in_catalogues() -> None:
    for lang in i18n.LANGUAGES:
        for key, text in i18n.catalogue(lang).items():
            assert not re.search(r"[<>]", text), (lang, key)
