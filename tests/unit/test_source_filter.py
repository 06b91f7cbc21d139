"""The SIP port's socket filter: the program (pure) and the kernel applying it to a real
loopback socket (the same call the engine makes on pjsip's socket)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sip_bridge.source_filter import Instruction, attach, program, trusted_ipv4

_RET = 0x06


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def _send(source: str, port: int, data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.sendto(data, ("127.0.0.1", port))


def test_only_the_trusted_source_gets_through(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    assert attach(port, ["127.0.0.1", "::1", "not an address"]) == 1
    _send("127.0.0.2", port, b"OPTIONS from a scanner")
    _send("127.0.0.1", port, b"OPTIONS from the PBX")
    # In order on loopback: had the scanner's datagram been kept, it would come first.
    assert listener.recv(100) == b"OPTIONS from the PBX"


def test_with_no_trusted_address_nothing_gets_through(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    assert attach(port, []) == 1
    _send("127.0.0.1", port, b"INVITE")
    listener.settimeout(0)
    with pytest.raises(BlockingIOError):
        listener.recv(100)


def test_a_port_nobody_holds_gets_no_filter(listener: socket.socket) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert attach(free, ["127.0.0.1"]) == 0


def test_ipv6_and_names_are_left_out() -> None:
    assert trusted_ipv4(["10.0.0.5", "::1", "pbx.example", "10.0.0.5"]) == [
        int(ipaddress.IPv4Address("10.0.0.5"))]


@given(st.lists(st.ip_addresses(v=4).map(str), max_size=30))
def test_every_match_jumps_to_the_keep(addresses: list[str]) -> None:
    code = program(addresses)
    keep, drop = len(code) - 1, len(code) - 2
    assert code[keep] == Instruction(_RET, 0, 0, 0xFFFFFFFF)
    assert code[drop] == Instruction(_RET, 0, 0, 0)
    compared = code[1:drop]
    assert sorted(i.k for i in compared) == trusted_ipv4(addresses)
    for index, insn in enumerate(compared, start=1):
        assert index + 1 + insn.jt == keep and insn.jf == 0


def test_254_addresses_fit_and_255_are_refused() -> None:
    many = [str(ipaddress.IPv4Address(0x0A000000 + k)) for k in range(255)]
    code = program(many[:254])
    assert code[1].jt == 254 and 1 + 1 + code[1].jt == len(code) - 1  # reaches the keep
    with pytest.raises(ValueError, match="at most 254"):
        program(many)


def test_a_tcp_listener_accepts_only_the_trusted_source() -> None:
    # pjsip's TCP transport (sip.transport = "tcp") listens on the same port number.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert attach(port, ["127.0.0.1"]) == 1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as scanner, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as pbx:
            scanner.bind(("127.0.0.2", 0))
            scanner.setblocking(False)
            assert scanner.connect_ex(("127.0.0.1", port)) != 0  # SYN sent, in flight
            pbx.bind(("127.0.0.1", 0))
            pbx.settimeout(5)
            pbx.connect(("127.0.0.1", port))
            server.settimeout(5)
            accepted, peer = server.accept()
            accepted.close()
            assert peer[0] == "127.0.0.1"
            server.setblocking(False)
            with pytest.raises(BlockingIOError):
                server.accept()  # the scanner's connection never arrived
