"""The softphone's shortcut mapping (web/static/softphone-shortcuts.js), a pure function,
run in Node: which key combinations act, and which are left to the page."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from playwright._impl._driver import compute_driver_executable

MODULE = (Path(__file__).parents[2] / "web" / "static" / "softphone-shortcuts.js").as_uri()
# Playwright (a test dependency) ships its own Node: no system install needed.
NODE = Path(compute_driver_executable()[0])

SCRIPT = """
const { shortcutAction, keysOf, SHORTCUTS } = await import(process.argv[1]);
const cases = JSON.parse(process.argv[2]);
console.log(JSON.stringify({
  actions: cases.map((event) => shortcutAction(event)),
  keys: SHORTCUTS.map(({ action }) => keysOf(action)),
  unknown: keysOf("nothing"),
}));
"""


def run(cases: list[dict[str, object]]) -> dict[str, object]:
    out = subprocess.run([NODE, "--input-type=module", "-e", SCRIPT, MODULE, json.dumps(cases)],
                         capture_output=True, text=True, check=True, timeout=30)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def key(code: str, **mods: bool) -> dict[str, object]:
    return {"code": code, "altKey": False, "shiftKey": False, "ctrlKey": False,
            "metaKey": False, "repeat": False} | mods


def test_alt_shift_letters_map_to_actions_and_nothing_else_does() -> None:
    result = run([
        key("KeyA", altKey=True, shiftKey=True),
        key("KeyX", altKey=True, shiftKey=True),
        key("KeyH", altKey=True, shiftKey=True),
        key("KeyM", altKey=True, shiftKey=True),
        key("KeyK", altKey=True, shiftKey=True),
        key("KeyA"),  # typing in a form
        key("KeyA", shiftKey=True),  # a capital letter
        key("KeyA", altKey=True),  # menus, and AltGr layouts
        key("KeyA", altKey=True, shiftKey=True, ctrlKey=True),  # Polish AltGr+Shift
        key("KeyA", altKey=True, shiftKey=True, metaKey=True),
        key("KeyA", altKey=True, shiftKey=True, repeat=True),  # held down: once only
        key("KeyZ", altKey=True, shiftKey=True),
    ])
    assert result["actions"] == ["answer", "hangup", "hold", "mute", "keypad",
                                 None, None, None, None, None, None, None]
    assert result["keys"] == ["Alt+Shift+A", "Alt+Shift+X", "Alt+Shift+H", "Alt+Shift+M",
                              "Alt+Shift+K"]
    assert result["unknown"] == ""
