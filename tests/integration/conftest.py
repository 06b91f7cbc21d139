"""Fixtures for the call-path tests: Kamailio, SIPp lines, and a running gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crm.db import Database, open_database
from crm.secret_key import SecretBox, load_or_create_key
from gateway.lines import Lines
from gateway.settings import IceSettings, Settings, SipSettings, WorkerSettings
from tests.lab.kamailio import Kamailio
from tests.lab.ports import free_udp_port, free_udp_port_range
from tests.lab.sipp import Sipp, uas_busy, uas_echo, uas_hangup, uas_noanswer
from tests.support.gateway import Agent, make_agent_user
from webrtc.ice import restrict_host_addresses

AGENTS = {"1001": "pw-1001-secret", "1002": "pw-1002-secret", "1003": "pw-1003-secret"}
ECHO = "5550100"
HANGS_UP = "5550101"
BUSY = "5550102"
NO_ANSWER = "5550103"


@dataclass
class Lab:
    kamailio: Kamailio
    lines: dict[str, Sipp] = field(default_factory=dict)


@pytest.fixture
def lab() -> Iterator[Lab]:
    peers = {ECHO: uas_echo(), HANGS_UP: uas_hangup(1500), BUSY: uas_busy(),
             NO_ANSWER: uas_noanswer()}
    for peer in peers.values():
        peer.start()
    kamailio = Kamailio(users=AGENTS, routes={n: p.hostport for n, p in peers.items()})
    try:
        with kamailio:
            yield Lab(kamailio, peers)
    finally:
        for peer in peers.values():
            peer.terminate()


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


def gateway_settings(tmp: Path, registrar: str, agents_per_worker: int = 2,
                     register_timeout: float = 8.0) -> Settings:
    sip_low = free_udp_port_range(8)
    rtp_low = free_udp_port_range(1600)
    return Settings(
        data_dir=str(tmp),
        sip=SipSettings(registrar=registrar, register_timeout=register_timeout),
        ice=IceSettings(host_addresses=("127.0.0.1",)),
        workers=WorkerSettings(sip_ports=(sip_low, sip_low + 7),
                               rtp_ports=(rtp_low, rtp_low + 1599),
                               agents_per_worker=agents_per_worker),
    )


@pytest.fixture
def gateway_options() -> dict[str, float]:
    """Overridden by a test module (or ``pytest.mark.parametrize``) to change settings."""
    return {}


@pytest.fixture
async def gateway(tmp_path: Path, lab: Lab,
                  gateway_options: dict[str, float]) -> AsyncIterator[Gateway]:
    restrict_host_addresses(["127.0.0.1"])
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
