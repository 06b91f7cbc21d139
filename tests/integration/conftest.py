"""Fixtures for the call-path tests: the gateway's control plane with real workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crm.db import Database, open_database
from crm.secret_key import SecretBox, load_or_create_key
from gateway.lines import Lines
from gateway.settings import Settings
from sip_bridge import direct_media
from tests.conftest import AGENTS, Lab, gateway_settings
from tests.lab.ports import free_udp_port
from tests.support.gateway import Agent, make_agent_user
from webrtc.ice import restrict_host_addresses


@dataclass
class Gateway:
    lines: Lines
    db: Database
    box: SecretBox
    settings: Settings
    agents: list[Agent] = field(default_factory=list)

    async def agent(self, name: str, extension: str | None, tone: float = 1000) -> Agent:
        password = AGENTS.get(extension or "", "")
        user = await make_agent_user(self.db, self.box, name, extension, password)
        agent = Agent(self.lines, user, tone)
        self.agents.append(agent)
        return agent


@pytest.fixture
def gateway_options() -> dict[str, float | str]:
    """Overridden by a test module (or ``pytest.mark.parametrize``) to change settings."""
    return {}


@pytest.fixture
def sip_media() -> str:
    """Who carries the SIP leg's audio in this test's workers: "" lets them choose
    (sip_bridge/direct_media.py); ``pytest.mark.parametrize("sip_media", ["pjmedia",
    "direct"])`` runs a test both ways."""
    return ""


@pytest.fixture
async def gateway(tmp_path: Path, lab: Lab, gateway_options: dict[str, float | str],
                  sip_media: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    restrict_host_addresses(["127.0.0.1"])
    if sip_media:
        monkeypatch.setenv(direct_media.ENV, sip_media)  # the workers inherit it
    options = dict(gateway_options)
    # "registrar_down": point the gateway at a port where no registrar listens.
    registrar = (f"127.0.0.1:{free_udp_port()}" if options.pop("registrar_down", 0)
                 else lab.kamailio.hostport)
    settings = gateway_settings(tmp_path, registrar, **options)  # type: ignore[arg-type]
    db = await open_database(settings.database_path)
    box = load_or_create_key(tmp_path)
    lines = Lines(settings, db, box, lambda lang, key: key)
    await lines.start()
    gw = Gateway(lines, db, box, settings)
    try:
        yield gw
        # Nothing leaked: no live call in the gateway or in any worker's pjsua2.
        assert lines.active_calls() == 0
        await _wait_workers_idle(lines)
    finally:
        for agent in gw.agents:
            await agent.close()
        await lines.close()
        workers_left = [w.pid for w in lines.supervisor.workers.values()]
        await db.close()
    assert workers_left == []
    # No stray task and no open peer connection (each holds tasks) in this process.
    stray = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()
             and not t.done()]
    assert stray == [], stray


async def _wait_workers_idle(lines: Lines, timeout: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        busy = {w.worker_id: w.sip_calls for w in lines.supervisor.workers.values()
                if w.sip_calls}
        if not busy:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"workers still hold SIP calls: {busy}")
        await asyncio.sleep(0.2)
