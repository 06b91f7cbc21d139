"""The built-in echo test: the agent hears their own microphone, with no PBX involved.

A new agent dials the echo number on first login to check the headset. The leg is a
bounded queue: what the line pushes goes straight back to the browser as it arrives.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.pcm import PcmQueue

# 3 frames: the same bound as a SIP call's queue, so the echo sounds like a real call.
QUEUE_FRAMES = 3


class EchoLeg(PcmQueue):
    """A ``MediaLeg`` that returns what it receives."""

    def __init__(self) -> None:
        super().__init__(QUEUE_FRAMES)

    def listen(self, wake: Callable[[], None] | None,
               record: Callable[[str, float], None] | None = None) -> None:
        """``wake()`` after each push (the echo goes back as soon as it arrives)."""
        self.watch(wake, None if record is None else lambda s: record("down.queue", s))
