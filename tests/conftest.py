"""Shared lab for tests that cross a process or a network: Kamailio as the PBX with
three agent extensions, and SIPp lines behind numbers it routes to."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.settings import (
    CodecSettings,
    IceSettings,
    Settings,
    SipSettings,
    WorkerSettings,
)
from tests.lab.kamailio import Kamailio
from tests.lab.ports import free_udp_port_range
from tests.lab.sipp import Sipp, uas_busy, uas_echo, uas_hangup, uas_noanswer

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


def gateway_settings(tmp: Path, registrar: str, agents_per_worker: int = 2,
                     register_timeout: float = 8.0, offline_grace: float = 20.0,
                     ring_timeout: float = 60.0,
                     browser_codec: str = "") -> Settings:
    # One run for both: found apart, the RTP ports could cover a worker's SIP port.
    sip_low = free_udp_port_range(8 + 1600)
    rtp_low = sip_low + 8
    codecs = CodecSettings(browser=(browser_codec,)) if browser_codec else CodecSettings()
    return Settings(
        data_dir=str(tmp),
        offline_grace=offline_grace,
        codecs=codecs,
        sip=SipSettings(registrar=registrar, register_timeout=register_timeout,
                        ring_timeout=ring_timeout),
        ice=IceSettings(host_addresses=("127.0.0.1",)),
        workers=WorkerSettings(sip_ports=(sip_low, sip_low + 7),
                               rtp_ports=(rtp_low, rtp_low + 1599),
                               agents_per_worker=agents_per_worker, bind="127.0.0.1"),
    )


