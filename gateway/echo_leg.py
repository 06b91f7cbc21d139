"""The built-in echo test: the agent hears their own microphone, with no PBX involved.

A new agent dials the echo number on first login to check the headset. The leg is a
bounded queue: what the line pushes comes straight back on the next 20 ms pull.
"""

from __future__ import annotations

from collections import deque

# 3 frames: the same bound as a SIP call's queue, so the echo sounds like a real call.
QUEUE_FRAMES = 3


class EchoLeg:
    """A ``MediaLeg`` that returns what it receives."""

    def __init__(self) -> None:
        self._frames: deque[bytes] = deque(maxlen=QUEUE_FRAMES)

    def push(self, pcm: bytes) -> None:
        self._frames.append(pcm)

    def pop(self) -> bytes | None:
        try:
            return self._frames.popleft()
        except IndexError:
            return None
