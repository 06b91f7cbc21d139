"""A 3-way conference when the worker carries the SIP legs' RTP itself (direct media).

With pjmedia carrying the calls, its conference bridge mixed them. Under direct media
(``sip_bridge/rtp_leg.py``) there is no bridge, so the worker mixes: every 20 ms it
takes one frame from each of the three (the agent, far end A, far end B) and gives
each the sum of the other two. That needs a clock of its own: mixing as packets arrive
would send each far end two packets per frame time. A conference is rare, so one loop
timer per conference costs nothing the other calls would feel.

``ConferenceMix`` is the agent line's ``MediaLeg`` while the conference lasts: ``push``
is the agent's voice, ``pop`` what the agent hears (``heard``).
"""

from __future__ import annotations

import asyncio

import numpy as np

from gateway.pcm import FRAME_BYTES, FRAME_MS, HeardQueue, PcmQueue
from webrtc.line import MediaLeg

QUEUE_FRAMES = 3


def mixed(*frames: bytes | None) -> bytes | None:
    """The sum of 20 ms s16 frames, clipped to full scale; ``None`` if all are."""
    present = [np.frombuffer(f, dtype="<i2").astype(np.int32) for f in frames
               if f is not None and len(f) == FRAME_BYTES]
    if not present:
        return None
    total = np.sum(present, axis=0) if len(present) > 1 else present[0]
    return np.clip(total, -32768, 32767).astype("<i2").tobytes()


class ConferenceMix(HeardQueue):
    """The agent and two far ends, each hearing the other two (see the module docstring)."""

    def __init__(self, first: MediaLeg, second: MediaLeg) -> None:
        self.legs = (first, second)
        self._agent = PcmQueue(QUEUE_FRAMES)
        self.heard = PcmQueue(QUEUE_FRAMES)
        self._timer: asyncio.TimerHandle | None = None
        self._next = 0.0

    def start(self) -> None:
        for leg in self.legs:
            leg.listen(None)  # the mix takes their frames now, not the line
            relay_to = getattr(leg, "relay_to", None)
            if relay_to is not None:
                relay_to(None, "")  # and as audio to mix, not payloads to relay
        loop = asyncio.get_running_loop()
        self._next = loop.time() + FRAME_MS / 1000
        self._timer = loop.call_at(self._next, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.heard.watch(None)

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        a, b = self.legs
        agent, from_a, from_b = self._agent.pop(), a.pop(), b.pop()
        to_a, to_b = mixed(agent, from_b), mixed(agent, from_a)
        if to_a is not None:
            a.push(to_a)
        if to_b is not None:
            b.push(to_b)
        heard = mixed(from_a, from_b)
        if heard is not None:
            self.heard.push(heard)
        # Due times from the start, so a late tick does not push the next ones back.
        self._next += FRAME_MS / 1000
        now = loop.time()
        if self._next < now - FRAME_MS / 1000:
            self._next = now  # a long stall: carry on from now, no burst to catch up
        self._timer = loop.call_at(self._next, self._tick)

    # -- MediaLeg: the agent's line --------------------------------------------------------

    def push(self, pcm: bytes) -> None:
        self._agent.push(pcm)
