"""Real-time pacing for outbound audio tracks.

aiortc pulls frames from a track as fast as ``recv()`` returns them, so a track must
wait until each frame is due. Due times come from the first frame's wall-clock time plus
the samples sent so far, so sleeping late never accumulates into drift.
"""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """Hands out presentation timestamps (in samples), each when it is due."""

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._start: float | None = None
        self._pts = 0

    async def next_pts(self, samples: int) -> int:
        """Wait until the next frame of ``samples`` is due and return its timestamp."""
        if self._start is None:
            self._start = time.monotonic()
            return 0
        self._pts += samples
        delay = self._start + self._pts / self._rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        return self._pts

    def skip_to_now(self, samples: int) -> None:
        """After a pause, move the timestamp on by the time that passed (whole frames),
        so the next frame is due now instead of a burst catching up on the pause."""
        if self._start is None:
            return
        behind = time.monotonic() - (self._start + self._pts / self._rate)
        if behind > 0:
            self._pts += int(behind * self._rate) // samples * samples
