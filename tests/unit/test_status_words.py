"""The phone's line state and the agent's working state never share a word.

Both sit one above the other in the dock: the agent status ("Not taking calls",
"Available"...) and the softphone's line pill ("Offline", "Online"). Polish once
called an online phone "Dostępny", the word for an available agent, and Spanish
called both a logged-out agent and an offline phone "Desconectado", so a screen
could read "Desconectado ... Conectado" for an agent with the phone on.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from web import i18n

SOFTPHONE_WORDS = Path(__file__).resolve().parents[2] / "web/static/softphone-i18n.js"
JS_NAMES = {"en": "en", "es": "es", "pt-BR": "ptBR", "pl": "pl"}
LINE_KEYS = ("line_offline", "line_registering", "line_registered", "line_failed")
AGENT_STATES = ("logged_out", "available", "paused", "wrap_up")


def line_words(lang: str) -> dict[str, str]:
    text = SOFTPHONE_WORDS.read_text(encoding="utf-8")
    section = re.search(rf"\nconst {JS_NAMES[lang]} = \{{(.*?)\n\}};", text, re.S)
    assert section is not None, lang
    words = dict(re.findall(r'^\s+(line_[a-z]+): "([^"]*)",', section.group(1), re.M))
    return {key: words[key] for key in LINE_KEYS}


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_line_and_agent_states_use_different_words(lang: str) -> None:
    catalogue = i18n.catalogue(lang)
    agent = {catalogue[f"agent.status.{state}"].casefold() for state in AGENT_STATES}
    line = {word.casefold() for word in line_words(lang).values()}
    assert agent & line == set()
