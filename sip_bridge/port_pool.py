"""Audio ports kept for the engine's life and lent to one call at a time.

Why: removing a port from pjmedia's conference bridge while its clock thread is running
races with that thread in pjsua2 2.15 (pjproject #4200, #5057): the clock may call a
port that has just been freed, and the worker dies with SIGSEGV, taking every call on it
along. So a port is created once, lent to a call, and given back (with fresh queues)
when the call ends; ports are only destroyed at shutdown, after the clock has stopped.
The pool never holds more ports than calls that were up at the same time.
"""

from __future__ import annotations

from sip_bridge.audio_port import AudioPort


class PortPool:
    """Free audio ports, reused most recently freed first. Engine thread only."""

    def __init__(self) -> None:
        self._free: list[AudioPort] = []
        self._created = 0

    @property
    def created(self) -> int:
        """How many ports exist (lent or free)."""
        return self._created

    def take(self) -> AudioPort:
        """A port with empty queues, ready to be joined to a call's audio."""
        if self._free:
            return self._free.pop()
        port = AudioPort()
        port.open(f"call-port-{self._created}")
        self._created += 1
        return port

    def give_back(self, port: AudioPort) -> None:
        """A call ended: the port keeps its bridge slot; the call's queues are let go."""
        port.reset()
        self._free.append(port)

    def clear(self) -> None:
        """Drop the free ports (shutdown, once the conference clock has stopped)."""
        self._free.clear()
        self._created = 0
