"""The SIP port's socket filter: the program (pure, run here by a small classic-BPF
interpreter over IPv4 and IPv6 headers) and the kernel applying it to real loopback
sockets — IPv4, IPv6 on ::1, and a dual-stack IPv6 socket reached over IPv4 — the same
call the engine makes on pjsip's socket."""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sip_bridge import source_filter
from sip_bridge.source_filter import Instruction, attach, availability, program, trusted

_NET = -0x100000


def run(code: list[Instruction], header: bytes) -> int:
    """What the kernel would return for a datagram with this IP header (0 = drop).

    Only the instructions ``program`` emits; an unknown one, a jump out of the program or
    a read past the header fails the test.
    """
    a, pc = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        if op in (0x20, 0x30):  # ld w / ld b, absolute, at the network header
            offset = (k - (1 << 32)) - _NET
            size = 4 if op == 0x20 else 1
            assert 0 <= offset <= len(header) - size
            a = int.from_bytes(header[offset:offset + size], "big")
        elif op == 0x54:  # and k
            a &= k
        elif op == 0x05:  # ja
            pc += k
        elif op == 0x15:  # jeq k
            pc += jt if a == k else jf
        elif op == 0x06:  # ret k
            return k
        else:
            raise AssertionError(f"unexpected instruction {op:#x}")
        pc += 1
        assert pc < len(code)


def ipv4_header(source: str) -> bytes:
    return (bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0])
            + ipaddress.IPv4Address(source).packed + bytes(4))


def ipv6_header(source: str) -> bytes:
    return (bytes([0x60, 0, 0, 0, 0, 8, 17, 64])
            + ipaddress.IPv6Address(source).packed + bytes(16))


def header(source: str) -> bytes:
    address = ipaddress.ip_address(source)
    return ipv4_header(source) if address.version == 4 else ipv6_header(source)


def keeps(code: list[Instruction], source: str) -> bool:
    return run(code, header(source)) == 0xFFFFFFFF


def kept(source: str, trusted_addresses: list[str]) -> bool:
    return keeps(program(trusted_addresses), source)


addresses4 = st.ip_addresses(v=4).map(str)
addresses6 = st.ip_addresses(v=6).map(str)
any_address = addresses4 | addresses6


@settings(max_examples=60)
@given(st.lists(any_address, max_size=20), any_address)
def test_a_datagram_is_kept_exactly_when_its_source_is_trusted(
        trusted_addresses: list[str], source: str) -> None:
    code = program(trusted_addresses)
    # A trusted v4-mapped address is its IPv4 address; an IPv6 header never carries one.
    plain = {(a.ipv4_mapped if a.version == 6 else None) or a
             for a in map(ipaddress.ip_address, trusted_addresses)}
    assert keeps(code, source) == (ipaddress.ip_address(source) in plain)
    for address in plain:
        assert keeps(code, str(address))


@settings(max_examples=60)
@given(st.lists(any_address, max_size=10), addresses6)
def test_an_ipv6_source_must_match_all_four_words(
        trusted_addresses: list[str], source: str) -> None:
    # Flip one bit in each word in turn: a source one bit away is dropped unless trusted.
    code = program([*trusted_addresses, source])
    whole = int(ipaddress.IPv6Address(source))
    trusted_set = {ipaddress.ip_address(t) for t in trusted_addresses}
    for bit in (0, 32, 64, 96):
        near = ipaddress.IPv6Address(whole ^ (1 << bit))
        if near in trusted_set or near.ipv4_mapped:
            continue
        assert not keeps(code, str(near))


def test_a_v4_mapped_address_trusts_its_ipv4_address() -> None:
    # A dual-stack IPv6 socket gets IPv4 peers with an IPv4 header.
    assert kept("10.0.0.5", ["::ffff:10.0.0.5"])
    assert not kept("10.0.0.6", ["::ffff:10.0.0.5"])
    assert trusted(["::ffff:10.0.0.5", "10.0.0.5", "::1", "pbx.example", "x"]) == (
        [int(ipaddress.IPv4Address("10.0.0.5"))], [1])


def test_neither_ipv4_nor_ipv6_is_dropped() -> None:
    assert run(program(["127.0.0.1", "::1"]), bytes([0x50]) + bytes(39)) == 0


def test_with_no_trusted_address_nothing_is_kept() -> None:
    assert not kept("127.0.0.1", []) and not kept("::1", [])


def test_too_many_addresses_are_refused() -> None:
    many = [str(ipaddress.IPv6Address(0x20010DB8 << 96 | k)) for k in range(460)]
    assert len(program(many[:450])) <= 4096
    with pytest.raises(ValueError, match="too many trusted addresses"):
        program(many)


# -- the kernel ------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def _send(source: str, port: int, data: bytes, target: str = "127.0.0.1") -> None:
    family = socket.AF_INET6 if ":" in source else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.sendto(data, (target, port))


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


def test_an_ipv6_socket_on_loopback_is_filtered() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1", 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        # ::1 is the only IPv6 loopback source: untrusted first, then trusted (a new
        # filter replaces the old; each datagram met the filter of its arrival).
        assert attach(port, ["2001:db8::1", "127.0.0.1"]) == 1
        _send("::1", port, b"from a stranger", target="::1")
        assert attach(port, ["2001:db8::1", "::1"]) == 1
        _send("::1", port, b"from the PBX", target="::1")
        assert sock.recv(100) == b"from the PBX"


def test_a_dual_stack_socket_filters_its_ipv4_peers() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::ffff:127.0.0.1", 0))  # loopback only, IPv4 peers as v4-mapped
        sock.settimeout(5)
        port = sock.getsockname()[1]
        assert attach(port, ["::ffff:127.0.0.1"]) == 1
        _send("127.0.0.2", port, b"from a stranger")
        _send("127.0.0.1", port, b"from the PBX")
        data, peer = sock.recvfrom(100)
        assert (data, peer[0]) == (b"from the PBX", "::ffff:127.0.0.1")


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


# -- elsewhere -------------------------------------------------------------------------


def test_other_platforms_say_that_nothing_is_filtered(
        listener: socket.socket, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    assert availability("linux")[0]
    filtered, line = availability("darwin")
    assert not filtered and "not available on darwin" in line and "firewall" in line
    monkeypatch.setattr(sys, "platform", "win32")
    port = listener.getsockname()[1]
    with caplog.at_level(logging.WARNING, logger=source_filter.__name__):
        assert attach(port, ["127.0.0.1"]) == 0
    assert "SIP source filter: not available on win32" in caplog.text
    _send("127.0.0.2", port, b"unfiltered")  # and it is true: a stranger gets through
    assert listener.recv(100) == b"unfiltered"


@pytest.mark.parametrize(("platform", "level", "says"), [
    ("linux", logging.INFO, "takes SIP only from the registrar"),
    ("darwin", logging.WARNING, "not available on darwin"),
])
async def test_the_main_process_says_it_once_at_start(
        platform: str, level: int, says: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from gateway.settings import Settings
    from gateway.supervisor import Supervisor

    monkeypatch.setattr(sys, "platform", platform)
    supervisor = Supervisor(Settings(), lambda w, r: None, lambda w, a: None,
                            lambda w, a: None)
    with caplog.at_level(logging.INFO, logger="gateway.supervisor"):
        await supervisor.start()
    await supervisor.close()
    lines = [r for r in caplog.records if "SIP source filter" in r.getMessage()]
    assert [(r.levelno, says in r.getMessage()) for r in lines] == [(level, True)]
