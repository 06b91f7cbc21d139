"""Real-time pacing for outbound audio tracks.

aiortc pulls frames from a track as fast as ``recv()`` returns them, so a track must
wait until each frame is due. ``Pacer``'s due times come from the first frame's
wall-clock time plus the samples sent so far, so sleeping late never accumulates into
drift. ``FollowClock`` is for a track whose frames come from another clock (pjmedia's
conference bridge): it sends each frame when it is handed over and keeps 20 ms time on
its own only when that clock stops.
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


class FollowClock:
    """Deadlines for a track that sends frames as another clock hands them over.

    While that clock runs, a frame is sent the moment it arrives, so no delay is added
    waiting for a clock of our own. If nothing arrives for one frame time plus
    ``grace`` after a handed-over frame (the other clock stalled or stopped: hold, no
    media yet), the track sends what it has (concealment, silence) at the deadline and
    then every ``frame`` seconds, until frames arrive again. ``grace`` is larger than
    the other clock's usual lateness, so a tick that is merely late is not pre-empted.
    Pure: times are passed in.
    """

    def __init__(self, frame: float, grace: float) -> None:
        self.frame = frame
        self.grace = grace
        self._last: float | None = None
        self._followed = False

    def deadline(self, now: float) -> float:
        """When to send anyway if no frame is handed over before."""
        if self._last is None:
            return now
        return self._last + self.frame + (self.grace if self._followed else 0.0)

    def sent(self, now: float, handed_over: bool) -> None:
        """A frame went out at ``now``: handed over by the other clock, or on deadline."""
        if handed_over or self._last is None:
            self._last = now
        else:
            # On our own: keep whole frame steps, so a late wake-up does not drift.
            self._last = max(self._last + self.frame + (self.grace if self._followed else 0),
                             now - self.frame)
        self._followed = handed_over

    def restart(self) -> None:
        """After a pause with nothing to send: the next frame goes out at once."""
        self._last = None
        self._followed = False
