"""Every error code the phone side can send has words in every language: in the
server's catalogue (the ``message`` of an error event) and in the softphone's own."""

import re
from pathlib import Path

import pytest

from web import i18n

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("en", "es", "pt-BR", "pl")
SOURCES = ["gateway/signalling.py", "gateway/lines.py", "gateway/line_worker.py",
           "sip_bridge/engine.py", "gateway/websocket.py", "gateway/agent_presence.py"]
PATTERN = re.compile(
    r'(?:BadMessage|_Refused|CodeRefused|EngineError|self\.error\(session,|lines\.error\(session,)'
    r'\(?\s*"([a-z_]+)"')


def error_codes() -> set[str]:
    codes: set[str] = set()
    for source in SOURCES:
        codes.update(PATTERN.findall((ROOT / source).read_text()))
    return codes


def test_the_scan_finds_the_codes() -> None:
    assert {"invalid_number", "not_online", "malformed_message", "invalid_dtmf",
            "no_such_call", "worker_full"} <= error_codes()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_server_catalogue_has_every_code(lang: str) -> None:
    catalogue = i18n.catalogue(lang)
    missing = sorted(c for c in error_codes() if f"softphone.error.{c}" not in catalogue)
    assert missing == []


def test_softphone_catalogue_has_every_code_in_every_language() -> None:
    text = (ROOT / "web/static/softphone-i18n.js").read_text()
    sections = re.split(r"\nconst \w+ = \{", text)[1:]
    assert len(sections) == len(LANGUAGES)
    for section in sections:
        missing = sorted(c for c in error_codes() if f"error_{c}:" not in section)
        assert missing == []
