"""Every message key a template names literally exists in the catalogues.

``translate`` falls back to the key itself, so a template key missing from the
catalogues would show "reports.something" on the page instead of failing; the
catalogue test (test_web_i18n) then makes sure all four languages have it.
"""

from __future__ import annotations

import re
from pathlib import Path

from web import i18n

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
# t("key") or t('key', name=...); keys built at render time (t("a." ~ x)) are not literal.
LITERAL_KEY = re.compile(r"""\bt\(\s*(["'])([A-Za-z0-9_.\-]+)\1\s*[,)]""")


def literal_keys() -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for path in sorted(TEMPLATES.glob("*.html")):
        for match in LITERAL_KEY.finditer(path.read_text(encoding="utf-8")):
            used.setdefault(match.group(2), []).append(path.name)
    return used


def test_the_scan_finds_keys() -> None:
    used = literal_keys()
    # The scan itself must keep working: base.html names the app and the main nav.
    assert {"app.name", "nav.home"} <= set(used)
    assert len(used) > 300


def test_every_literal_template_key_is_in_the_catalogue() -> None:
    catalogue = i18n.catalogue("en")
    missing = {key: files for key, files in literal_keys().items() if key not in catalogue}
    assert missing == {}
