"""Free loopback ports for lab peers.

The kernel picks the port (bind to port 0), so two peers in one test never collide with
each other or with a fixed port left behind by another run. The port is released before
the peer binds it, so there is a small window for a race; on a test box that is fine.
"""

from __future__ import annotations

import random
import socket

HOST = "127.0.0.1"
_FIXED_FLOOR = 10000  # below this, well-known and registered services
_RNG = random.Random()  # its own: the global one belongs to hypothesis in some tests


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is bound to right now."""
    return _free_port(socket.SOCK_DGRAM)


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is bound to right now."""
    return _free_port(socket.SOCK_STREAM)


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; elsewhere it only narrows where we look first


def free_udp_port_range(n: int, attempts: int = 50) -> int:
    """First port of `n` consecutive free UDP ports, starting on an even number.

    RTP wants an even port with RTCP on the next one, and both SIPp (-mp) and pjsua
    (media port range) take a base port and count up from it.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    low = _ephemeral_low()
    for attempt in range(attempts):
        # Long runs are looked for below the kernel's ephemeral range first: there only
        # ports someone asked for by number are taken, while inside it every client
        # socket of every peer is scattered (40 of them left no free run of 1600 ports
        # in 50 tries here).
        if attempt < attempts // 2 and low - n > _FIXED_FLOOR:
            base = _RNG.randrange(_FIXED_FLOOR, low - n) & ~1
        else:
            base = free_udp_port() & ~1
        if base < 1024 or base + n > 65535:
            continue
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + n):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind((HOST, port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no run of {n} free UDP ports found")
