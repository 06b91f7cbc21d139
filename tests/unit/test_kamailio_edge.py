"""The shipped Kamailio edge snippet (deploy/kamailio/scanners.cfg) drops the same user
agents the worker refuses (sip_bridge/screening.py), and Kamailio accepts it as shipped.
Its effect on real traffic: tests/reliability/test_edge_scanners.py."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from sip_bridge.screening import SCANNER_AGENTS
from tests.lab.kamailio import EDGE_SCANNERS, KAMAILIO, render_config


def test_the_snippet_names_the_workers_scanner_list() -> None:
    pattern = re.search(r'\$ua =~ "([^"]+)"', EDGE_SCANNERS.read_text())
    assert pattern is not None
    assert sorted(pattern.group(1).split("|")) == sorted(SCANNER_AGENTS)


def test_the_lab_config_with_the_snippet_parses(tmp_path: Path) -> None:
    if not Path(KAMAILIO).exists():
        pytest.skip("kamailio is not installed")
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(render_config("127.0.0.1", 5060, {"1001": "pw"}, {}))
    assert f'include_file "{EDGE_SCANNERS}"' in cfg.read_text()
    checked = subprocess.run([KAMAILIO, "-c", "-f", str(cfg)], capture_output=True,
                             text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
