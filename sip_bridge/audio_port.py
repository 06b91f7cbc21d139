"""The audio that joins one SIP call to the agent's browser line.

``CallAudio`` is two bounded PCM queues in plain Python: the asyncio side holds only
this, never a pjsua2 object, because a pjsua2 object whose last reference dies on a
thread pjlib does not know aborts the process. ``AudioPort`` is the pjsua2 port that
reads and fills those queues; the engine thread owns it (sip_bridge/port_pool.py) and
gives it fresh queues for each call.

pjmedia's clock thread calls ``onFrameRequested``/``onFrameReceived`` every 20 ms for
all calls, holding the GIL, so these two methods only pop and push on ``PcmQueue``s
(deques underneath, thread-safe for that). Both queues are bounded and trim a standing
backlog (see gateway/pcm.py): if one side runs ahead of the other (clock drift, a burst
after a stall) audio is dropped rather than letting delay build up.
"""

from __future__ import annotations

from collections.abc import Callable

import pjsua2 as pj

from gateway.pcm import FRAME_BYTES, SILENCE, HeardQueue, PcmQueue
from sip_bridge.frame_bytes import FrameVector, vector_bytes
from sip_bridge.media_format import audio_format

# 3 frames = 60 ms: enough to absorb scheduling jitter between asyncio and the
# pjmedia clock, small enough to keep the gateway's added delay low.
QUEUE_FRAMES = 3
_SILENCE = pj.ByteVector(SILENCE)  # read only: copied into each frame that gets it


class CallAudio(HeardQueue):
    """A call's PCM in both directions; a ``MediaLeg`` for the browser line."""

    def __init__(self) -> None:
        self.to_sip = PcmQueue(QUEUE_FRAMES)
        self.from_sip = self.heard = PcmQueue(QUEUE_FRAMES)

    def push(self, pcm: bytes) -> None:
        self.to_sip.push(pcm)

    def listen(self, wake: Callable[[], None] | None,
               record: Callable[[str, float], None] | None = None) -> None:
        """``wake()`` when the clock hands over a frame for the browser; ``record`` each
        frame's wait in either queue (media timing)."""
        super().listen(wake, record)
        self.to_sip.watch(None, None if record is None else lambda s: record("up.queue", s))


class AudioPort(pj.AudioMediaPort):
    """The conference-bridge port of one call, backed by a ``CallAudio``."""

    def __init__(self) -> None:
        super().__init__()
        self.audio = CallAudio()
        self._out = FrameVector(FRAME_BYTES)

    def open(self, name: str) -> None:
        self.createPort(name, audio_format())

    def reset(self) -> None:
        """New, empty queues for the next call (one assignment: the clock thread sees
        either the old queues or the new ones, never a half-made state)."""
        self.audio = CallAudio()

    # -- pjmedia clock thread: queue operations only -------------------------------------

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        data = self.audio.to_sip.pop()
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        if data is None:
            frame.buf = _SILENCE
            frame.size = FRAME_BYTES
        else:
            frame.buf = self._out.holding(data)
            frame.size = len(data)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
            self.audio.from_sip.push(vector_bytes(frame.buf))
