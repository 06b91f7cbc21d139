"""The PCM format every audio path inside a line worker uses: 16 kHz mono s16, 20 ms.

Both legs meet here: the pjsua2 audio port produces and consumes it, and the WebRTC
side resamples the browser's 48 kHz stereo to it (and aiortc's encoders resample it
back to Opus or G.711 rates).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import numpy as np

from gateway.playout import DepthPolicy, Pull

SAMPLE_RATE = 16000
FRAME_MS = 20
SAMPLES_PER_FRAME = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = SAMPLES_PER_FRAME * 2
SILENCE = bytes(FRAME_BYTES)

# Gains of the frames that fill consecutive empty pulls: the last frame repeated, fading
# out (a repeat of a 20 ms frame keeps a steady tone or vowel going; an abrupt switch to
# silence is a click), then silence.
CONCEAL_GAINS = (1.0, 0.5, 0.25)


def scaled(frame: bytes, gain: float) -> bytes:
    """``frame`` (s16 little-endian) times ``gain``, rounded toward zero.

    In numpy, not sample by sample: it runs on pjmedia's clock thread, holding the GIL,
    for every concealed frame, and a busy host conceals often (~25 µs against ~1 ms).
    """
    if gain == 1.0:
        return frame
    return (np.frombuffer(frame, dtype="<i2") * gain).astype("<i2").tobytes()


class PcmQueue:
    """A short queue of 20 ms frames between a producer and a consumer on different clocks.

    Bounded (``capacity`` frames; a push into a full queue drops the oldest), so a burst
    can never add more than ``capacity`` x 20 ms of delay. How deep it may run otherwise
    is ``DepthPolicy``'s decision (gateway/playout.py): a late frame whose slot was
    already filled is dropped, a standing backlog is trimmed, so delay added by jitter
    or a stall comes back down instead of staying for the rest of the call. An empty
    pull is concealed: the last frame again, fading out (``CONCEAL_GAINS``), then ``None``.

    ``pop`` runs on pjmedia's clock thread: a few comparisons and deque operations
    (scaling a frame only on an empty pull). ``watch`` lets the consumer be woken by each
    push (the line's track sends a frame as soon as the clock hands it over) and be told
    how long each frame waited (media timing, see webrtc/media_timing.py).
    """

    def __init__(self, capacity: int = 3) -> None:
        self._frames: deque[tuple[float, bytes]] = deque(maxlen=capacity)
        self.policy = DepthPolicy()
        self._last: bytes | None = None
        self._concealed = 0
        self._wake: Callable[[], None] | None = None
        self._record: Callable[[float], None] | None = None

    @property
    def waiting(self) -> int:
        return len(self._frames)

    @property
    def trimmed(self) -> int:
        """Frames dropped to bring the delay back down (late or standing)."""
        return self.policy.trimmed + self.policy.dropped_late

    def watch(self, wake: Callable[[], None] | None,
              record: Callable[[float], None] | None = None) -> None:
        """Call ``wake()`` after every push, ``record(seconds)`` with each frame's wait."""
        self._wake = wake
        self._record = record

    def push(self, frame: bytes) -> None:
        self._frames.append((time.monotonic(), frame))
        wake = self._wake
        if wake is not None:
            wake()

    def pop(self) -> bytes | None:
        frames = self._frames
        decision = self.policy.decide(len(frames))
        if decision is Pull.CONCEAL:
            return self._conceal()
        if decision is Pull.DROP_THEN_PLAY and len(frames) >= 2:
            frames.popleft()
        try:
            pushed_at, frame = frames.popleft()
        except IndexError:
            return self._conceal()
        record = self._record
        if record is not None:
            record(time.monotonic() - pushed_at)
        self._last = frame
        self._concealed = 0
        return frame

    def _conceal(self) -> bytes | None:
        last, n = self._last, self._concealed
        if last is None or n >= len(CONCEAL_GAINS):
            return None
        self._concealed = n + 1
        return scaled(last, CONCEAL_GAINS[n])


class HeardQueue:
    """The half of a ``MediaLeg`` (webrtc/line.py) the agent hears: ``pop``, ``waiting``
    and ``listen`` over ``self.heard``, a ``PcmQueue`` the leg fills."""

    heard: PcmQueue

    def pop(self) -> bytes | None:
        return self.heard.pop()

    @property
    def waiting(self) -> int:
        return self.heard.waiting

    def listen(self, wake: Callable[[], None] | None,
               record: Callable[[str, float], None] | None = None) -> None:
        """``wake()`` after each frame the leg fills in; ``record("down.queue", s)`` with
        each frame's wait (media timing)."""
        self.heard.watch(wake, None if record is None else lambda s: record("down.queue", s))
