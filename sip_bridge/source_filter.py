"""A kernel filter on the worker's SIP socket: datagrams from anyone but the PBX are
dropped before pjsip reads them.

Why in the kernel and not in pjsip or a relay: a line worker's only SIP peer is the PBX
(its registrar/proxy, plus trunks listed in ``sip.trusted_addresses``), so nobody else
needs an answer, and SIP scanners must not get one. pjsip answers whatever it reads
(OPTIONS with 200, an INVITE with 100 and a refusal, each refused INVITE holding a pjsua
call slot until the refusal is sent), and pjsua2 offers no hook that runs before that.
A user-space relay in front of pjsip would have to rewrite Via, rport and Contact both
ways; a classic BPF socket filter (``SO_ATTACH_FILTER``, no privileges needed) drops the
datagram on arrival instead, so pjsip never parses, answers or allocates anything for it.

``program`` is the pure part: trusted addresses in, BPF instructions out. It reads the IP
version first, so one program serves an IPv4 socket, an IPv6 socket, and a dual-stack
IPv6 socket whose IPv4 peers arrive with an IPv4 header (a trusted ``::ffff:a.b.c.d`` is
that IPv4 address). The engine binds pjsip over IPv4 only today (``gateway/settings.py``
refuses an IPv6 ``workers.bind`` or registrar); the IPv6 half is there so that a UDP6
transport, the day one is added, is covered by the same call.

``attach`` finds pjsip's sockets bound to the SIP port in this process (IPv4 and IPv6)
and attaches it. Linux only: elsewhere ``attach`` attaches nothing and says so, and the
INVITE screening (``sip_bridge/screening.py``) remains the only defence
(``availability`` is the line the main process logs at start).
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import logging
import os
import socket
import struct
import sys
from collections.abc import Iterable
from typing import NamedTuple

log = logging.getLogger(__name__)

# <linux/filter.h>: instruction classes and fields, and the offset at which a socket
# filter reads the network (IP) header instead of the transport payload.
_BPF_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_BPF_LD_B_ABS = 0x00 | 0x10 | 0x20  # BPF_LD | BPF_B | BPF_ABS
_BPF_AND_K = 0x04 | 0x50 | 0x00  # BPF_ALU | BPF_AND | BPF_K
_BPF_JA = 0x05 | 0x00  # BPF_JMP | BPF_JA: k is the offset, any length
_BPF_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
_BPF_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K
_SKF_NET_OFF = -0x100000
_IPV4_SOURCE = 12  # offset of the source address in the IPv4 header
_IPV6_SOURCE = 8  # offset of the source address in the IPv6 header
_SO_ATTACH_FILTER = 26
_DROP = 0
_KEEP = 0xFFFFFFFF  # keep the whole datagram
_MAX_INSTRUCTIONS = 4096  # BPF_MAXINSNS


class Instruction(NamedTuple):
    """One ``struct sock_filter``."""

    code: int
    jt: int
    jf: int
    k: int


class Trusted(NamedTuple):
    """Trusted sources by IP version, as integers, sorted."""

    ipv4: list[int]
    ipv6: list[int]


def trusted(addresses: Iterable[str]) -> Trusted:
    """The IP addresses among ``addresses`` (names and garbage left out); an IPv4-mapped
    IPv6 address counts as the IPv4 address it carries."""
    v4: set[int] = set()
    v6: set[int] = set()
    for text in addresses:
        with contextlib.suppress(ValueError):
            address = ipaddress.ip_address(text)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            (v4 if isinstance(address, ipaddress.IPv4Address) else v6).add(int(address))
    return Trusted(sorted(v4), sorted(v6))


def _net(offset: int) -> int:
    return (_SKF_NET_OFF + offset) & 0xFFFFFFFF


def _ipv4_part(addresses: list[int]) -> list[Instruction]:
    out = [Instruction(_BPF_LD_W_ABS, 0, 0, _net(_IPV4_SOURCE))]
    for address in addresses:
        # A match falls through to the keep; a miss skips it.
        out += [Instruction(_BPF_JEQ_K, 0, 1, address), Instruction(_BPF_RET_K, 0, 0, _KEEP)]
    return [*out, Instruction(_BPF_RET_K, 0, 0, _DROP)]


def _ipv6_part(addresses: list[int]) -> list[Instruction]:
    # Reached with the version nibble in A: anything but 6 is dropped.
    out = [Instruction(_BPF_JEQ_K, 1, 0, 0x60), Instruction(_BPF_RET_K, 0, 0, _DROP)]
    for address in addresses:
        words = struct.unpack("!4I", address.to_bytes(16, "big"))
        for index, word in enumerate(words):
            # A miss on any word skips the rest of this address's block, keep included.
            out += [Instruction(_BPF_LD_W_ABS, 0, 0, _net(_IPV6_SOURCE + 4 * index)),
                    Instruction(_BPF_JEQ_K, 0, 7 - 2 * index, word)]
        out.append(Instruction(_BPF_RET_K, 0, 0, _KEEP))
    return [*out, Instruction(_BPF_RET_K, 0, 0, _DROP)]


def program(addresses: Iterable[str]) -> list[Instruction]:
    """Keep datagrams whose IPv4 or IPv6 source is one of ``addresses``; drop all others
    (all of them when there are none: a worker without a PBX has no SIP peer)."""
    sources = trusted(addresses)
    ipv4 = _ipv4_part(sources.ipv4)
    out = [
        Instruction(_BPF_LD_B_ABS, 0, 0, _net(0)),
        Instruction(_BPF_AND_K, 0, 0, 0xF0),  # the version nibble
        Instruction(_BPF_JEQ_K, 1, 0, 0x40),
        Instruction(_BPF_JA, 0, 0, len(ipv4)),  # not IPv4: on to the IPv6 part
        *ipv4,
        *_ipv6_part(sources.ipv6),
    ]
    if len(out) > _MAX_INSTRUCTIONS:
        raise ValueError(f"too many trusted addresses for one socket filter "
                         f"({len(sources.ipv4)} IPv4, {len(sources.ipv6)} IPv6)")
    return out


def availability(platform: str | None = None) -> tuple[bool, str]:
    """Whether workers on ``platform`` (default: this one) filter their SIP port, and the
    line that says so."""
    platform = sys.platform if platform is None else platform
    if platform.startswith("linux"):
        return True, ("SIP source filter: each line worker's SIP port takes SIP only from "
                      "the registrar and sip.trusted_addresses (Linux socket filter)")
    return False, (f"SIP source filter: not available on {platform}: SIP from any address "
                   "reaches the line workers (INVITEs from others are refused with 403, "
                   "OPTIONS are answered); let only the PBX reach the workers' SIP ports "
                   "with a firewall")


def _sockets_on(port: int) -> list[socket.socket]:
    """Duplicates of this process's IPv4 and IPv6 sockets bound to ``port`` (pjsip's UDP
    socket and, with TCP, its listener). The caller closes them; the filter stays with the
    socket they share."""
    found: list[socket.socket] = []
    for name in os.listdir("/proc/self/fd"):
        if any(sock.fileno() == int(name) for sock in found):
            continue  # a duplicate made here took a number seen in the listing
        try:
            fd = os.dup(int(name))
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            os.close(fd)  # not a socket
            continue
        try:
            if (sock.family in (socket.AF_INET, socket.AF_INET6)
                    and sock.getsockname()[1] == port):
                found.append(sock)
                continue
        except OSError:
            pass
        sock.close()
    return found


def attach(port: int, addresses: Iterable[str]) -> int:
    """Attach ``program(addresses)`` to this process's sockets on ``port``; returns how
    many sockets now carry it (0 where the platform has no socket filters)."""
    available, line = availability()
    if not available:
        log.warning("%s", line)
        return 0
    code = program(addresses)
    filters = (ctypes.c_ubyte * (8 * len(code))).from_buffer_copy(
        b"".join(struct.pack("HBBI", *insn) for insn in code))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    fprog = struct.pack("HL", len(code), ctypes.addressof(filters))
    sockets = _sockets_on(port)
    try:
        for sock in sockets:
            sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    finally:
        for sock in sockets:
            sock.close()
    return len(sockets)
