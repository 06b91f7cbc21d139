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

``program`` is the pure part: trusted IPv4 addresses in, BPF instructions out.
``attach`` finds pjsip's sockets bound to the SIP port in this process and attaches it.
Linux only; elsewhere ``attach`` attaches nothing and the INVITE screening
(``sip_bridge/screening.py``) remains the only defence.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import logging
import os
import socket
import struct
from collections.abc import Iterable
from typing import NamedTuple

log = logging.getLogger(__name__)

# <linux/filter.h>: instruction classes and fields, and the offset at which a socket
# filter reads the network (IP) header instead of the transport payload.
_BPF_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_BPF_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
_BPF_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K
_SKF_NET_OFF = -0x100000
_IPV4_SOURCE = 12  # offset of the source address in the IPv4 header
_SO_ATTACH_FILTER = 26
_DROP = 0
_KEEP = 0xFFFFFFFF  # keep the whole datagram
_MAX_ADDRESSES = 254  # a conditional jump reaches at most 255 instructions ahead


class Instruction(NamedTuple):
    """One ``struct sock_filter``."""

    code: int
    jt: int
    jf: int
    k: int


def trusted_ipv4(addresses: Iterable[str]) -> list[int]:
    """The IPv4 addresses among ``addresses`` as integers (the socket is IPv4: others
    cannot reach it, so they are left out)."""
    out: set[int] = set()
    for text in addresses:
        with contextlib.suppress(ValueError):
            address = ipaddress.ip_address(text)
            if isinstance(address, ipaddress.IPv4Address):
                out.add(int(address))
    return sorted(out)


def program(addresses: Iterable[str]) -> list[Instruction]:
    """Keep datagrams whose IPv4 source is one of ``addresses``; drop all others (all of
    them when there are none: a worker without a PBX has no SIP peer)."""
    trusted = trusted_ipv4(addresses)
    if len(trusted) > _MAX_ADDRESSES:
        raise ValueError(f"at most {_MAX_ADDRESSES} trusted addresses, got {len(trusted)}")
    out = [Instruction(_BPF_LD_W_ABS, 0, 0, (_SKF_NET_OFF + _IPV4_SOURCE) & 0xFFFFFFFF)]
    count = len(trusted)
    for index, address in enumerate(trusted):
        # A match jumps over the remaining comparisons and the drop, to the keep.
        out.append(Instruction(_BPF_JEQ_K, count - index, 0, address))
    out.append(Instruction(_BPF_RET_K, 0, 0, _DROP))
    out.append(Instruction(_BPF_RET_K, 0, 0, _KEEP))
    return out


def _sockets_on(port: int) -> list[socket.socket]:
    """Duplicates of this process's IPv4 sockets bound to ``port`` (pjsip's UDP socket
    and, with TCP, its listener). The caller closes them; the filter stays with the
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
            if sock.family == socket.AF_INET and sock.getsockname()[1] == port:
                found.append(sock)
                continue
        except OSError:
            pass
        sock.close()
    return found


def attach(port: int, addresses: Iterable[str]) -> int:
    """Attach ``program(addresses)`` to this process's sockets on ``port``; returns how
    many sockets now carry it (0 where the platform has no socket filters)."""
    if not os.path.isdir("/proc/self/fd"):
        log.warning("no socket filters on this platform: SIP from anyone reaches pjsip")
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
