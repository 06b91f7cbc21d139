"""A call's far side as the line sees it (``webrtc.line.MediaLeg``), for unit tests: a
plain queue of PCM frames with no clock, handed over when the test says so."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class QueueLeg:
    """Frames ready in a queue; ``hand_over`` adds some and wakes the listener for each,
    as pjmedia's clock does (from whichever thread calls it)."""

    def __init__(self, frames: list[bytes] | None = None) -> None:
        self.frames: deque[bytes] = deque(frames or [])
        self._wake: Callable[[], None] | None = None

    def hand_over(self, frames: list[bytes]) -> None:
        self.frames.extend(frames)
        for _ in frames:
            if self._wake is not None:
                self._wake()

    def push(self, pcm: bytes) -> None:
        pass

    def pop(self) -> bytes | None:
        return self.frames.popleft() if self.frames else None

    @property
    def waiting(self) -> int:
        return len(self.frames)

    def listen(self, wake: Callable[[], None] | None,
               record: Callable[[str, float], None] | None = None) -> None:
        self._wake = wake
