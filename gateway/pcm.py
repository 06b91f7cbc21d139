"""The PCM format every audio path inside a line worker uses: 16 kHz mono s16, 20 ms.

Both legs meet here: the pjsua2 audio port produces and consumes it, and the WebRTC
side resamples the browser's 48 kHz stereo to it (and aiortc's encoders resample it
back to Opus or G.711 rates).
"""

from collections import deque

SAMPLE_RATE = 16000
FRAME_MS = 20
SAMPLES_PER_FRAME = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = SAMPLES_PER_FRAME * 2
SILENCE = bytes(FRAME_BYTES)


class PcmQueue:
    """A short queue of 20 ms frames between a producer and a consumer on different clocks.

    Bounded (``capacity`` frames; a push into a full queue drops the oldest), so a burst
    can never add more than ``capacity`` x 20 ms of delay. A backlog that merely *stands*
    (two or more frames waiting at every pull for a second: the producer's clock is a
    little fast, or a burst left frames behind) is trimmed by one frame, so the delay
    returns to the minimum instead of staying up for the rest of the call.

    ``pop`` runs on pjmedia's clock thread: a length check, a counter and a deque pop.
    """

    TRIM_AFTER_PULLS = 50  # one second of 20 ms pulls

    def __init__(self, capacity: int = 3) -> None:
        self._frames: deque[bytes] = deque(maxlen=capacity)
        self._standing = 0
        self.trimmed = 0

    @property
    def waiting(self) -> int:
        return len(self._frames)

    def push(self, frame: bytes) -> None:
        self._frames.append(frame)

    def pop(self) -> bytes | None:
        frames = self._frames
        if len(frames) >= 2:
            self._standing += 1
            if self._standing >= self.TRIM_AFTER_PULLS:
                self._standing = 0
                self.trimmed += 1
                frames.popleft()
        else:
            self._standing = 0
        try:
            return frames.popleft()
        except IndexError:
            return None
