"""Waking the engine thread out of ``libHandleEvents`` when there is work for it.

Why: the engine thread used to poll pjsip every 10 ms so that a command queued by the
event loop (dial, answer, hang up) waited at most that long. That is 100 wake-ups a
second per worker with nothing to do, and a wake-up costs ~35 µs of CPU on this VM
(a thread ping-pong measures ~70 µs a round trip): about 7 % of the line workers' CPU
in the capacity benchmark. Now the thread waits for pjsip's own next event or timer
(up to ``IDLE_POLL_MS``), and whoever queues a command pokes it: a CRLF keep-alive
datagram (RFC 5626 §4.4.1) sent to the worker's own SIP port makes pjsip's poll return,
and pjsip ignores the keep-alive itself. A queued command now starts at once instead
of after up to 10 ms.

The SIP socket's kernel filter (``sip_bridge/source_filter.py``) admits only the PBX;
``source`` is the address the poke comes from, which the engine adds to the filter's
list. It is this host's own address (the bound one, or loopback when the worker binds
every address), which Linux does not accept from the network as a source.
"""

from __future__ import annotations

import contextlib
import socket

from sip_bridge.account import is_wildcard

KEEP_ALIVE = b"\r\n\r\n"
# How long the engine thread may sleep in pjsip when nothing is due: pjsip shortens the
# wait for its own timers (retransmissions, registration refreshes), and a poke ends it.
IDLE_POLL_MS = 200
BUSY_POLL_MS = 10  # while refusals wait their turn (sip_bridge/socket_pacer.py)


class EngineWake:
    """Pokes one worker's SIP port from a socket of its own (any thread may poke)."""

    def __init__(self, bind: str, sip_port: int) -> None:
        host = "127.0.0.1" if is_wildcard(bind) else bind
        self.source = host
        self._target = (host, sip_port)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._sock.bind((host, 0))

    def poke(self) -> None:
        # A full socket buffer means pokes are already waiting to be read (one is enough);
        # after close there is no engine left to wake.
        with contextlib.suppress(OSError):
            self._sock.sendto(KEEP_ALIVE, self._target)

    def close(self) -> None:
        self._sock.close()
