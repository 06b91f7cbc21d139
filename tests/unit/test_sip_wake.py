"""The engine's poke: a CRLF keep-alive to the worker's own SIP port, from this host."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from sip_bridge import source_filter
from sip_bridge.wake import KEEP_ALIVE, EngineWake


@pytest.fixture
def sip_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


@pytest.mark.parametrize("bind", ["127.0.0.1", "0.0.0.0"])
def test_a_poke_is_a_keep_alive_from_the_address_the_filter_is_told(
        sip_socket: socket.socket, bind: str) -> None:
    wake = EngineWake(bind, sip_socket.getsockname()[1])
    try:
        wake.poke()
        data, (host, _) = sip_socket.recvfrom(100)
    finally:
        wake.close()
    assert data == KEEP_ALIVE == b"\r\n\r\n"  # pjsip reads it as a keep-alive and moves on
    assert host == wake.source == "127.0.0.1"


def test_the_filter_lets_the_poke_through_and_still_drops_strangers(
        sip_socket: socket.socket) -> None:
    if not source_filter.availability()[0]:
        pytest.skip("no socket filters on this platform")
    port = sip_socket.getsockname()[1]
    wake = EngineWake("127.0.0.1", port)
    # The engine attaches the PBX's addresses plus the poke's source (engine.py).
    assert source_filter.attach(port, {"192.0.2.10", wake.source}) == 1
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        stranger.bind(("127.0.0.2", 0))
        stranger.sendto(b"OPTIONS sip:x SIP/2.0\r\n\r\n", ("127.0.0.1", port))
        wake.poke()
        data, (host, _) = sip_socket.recvfrom(100)
        assert (data, host) == (KEEP_ALIVE, "127.0.0.1")  # the stranger's went nowhere
    finally:
        stranger.close()
        wake.close()


def test_poking_a_stopped_engine_is_harmless() -> None:
    wake = EngineWake("127.0.0.1", 9)
    wake.close()
    wake.poke()
