"""How deep a PCM queue between two clocks may run: the decision half of ``PcmQueue``.

Theory of operation. A consumer pulls one 20 ms frame per tick (pjmedia's conference
clock, or the browser line's track); a producer on another clock pushes frames when
they arrive. Every frame waiting at a pull beyond the one it takes (the *surplus*) is
20 ms of delay for everything after it, so the policy keeps the surplus at a *target*
that is normally 0:

- **Underrun** (nothing to take): the pull is concealed (``CONCEAL``: the queue repeats
  the last frame, attenuated, then silence). If that frame was only late, it turns up
  with the next one and would leave a surplus of 1 for the rest of the call: it is
  dropped instead (``DROP_THEN_PLAY``: its slot was already concealed). A lost frame
  never turns up, and costs nothing afterwards.
- **Jitter**: when underruns come often (``RAISE_AFTER`` separate ones within ``WINDOW``
  pulls; a run of empty pulls is a pause, counted once), the arrivals straddle the
  pull and dropping late frames would conceal every other one, so the target goes up
  by one frame (up to ``MAX_TARGET``) and late frames are kept.
- **Recovery**: after ``CALM`` pulls with no underrun the target comes back down, and a
  surplus above the target at every pull for ``TRIM_AFTER`` pulls is trimmed by one
  frame (``DROP_THEN_PLAY``), so delay added by a disturbance never stays for the call.

Pure: it sees only how many frames wait at each pull; ``tests/unit/test_playout.py``
drives it with arbitrary arrival patterns.
"""

from __future__ import annotations

import enum
from collections import deque


class Pull(enum.Enum):
    PLAY = "play"  # take the oldest frame
    DROP_THEN_PLAY = "drop_then_play"  # discard the oldest, take the next
    CONCEAL = "conceal"  # nothing to take: fill the slot


class DepthPolicy:
    """Decides each pull from the number of frames waiting (see module docstring)."""

    WINDOW = 50  # pulls (1 s) over which underruns are counted
    RAISE_AFTER = 3  # underruns in WINDOW that mean jitter, not a stray late frame
    MAX_TARGET = 2
    CALM = 150  # pulls (3 s) with no underrun before the target comes down
    TRIM_AFTER = 25  # pulls (0.5 s) of surplus above the target before trimming

    def __init__(self) -> None:
        self.target = 0
        self._pulls = 0
        self._underruns: deque[int] = deque()
        self._last_underrun = -self.CALM
        self._concealed_last = False
        self._above = 0
        self.concealed = 0
        self.dropped_late = 0
        self.trimmed = 0

    def decide(self, waiting: int) -> Pull:
        self._pulls += 1
        pulls = self._pulls
        while self._underruns and self._underruns[0] <= pulls - self.WINDOW:
            self._underruns.popleft()
        if waiting == 0:
            if not self._concealed_last:
                # A run of empty pulls is the producer pausing (or not started): once.
                self._underruns.append(pulls)
            self._last_underrun = pulls
            if len(self._underruns) >= self.RAISE_AFTER and self.target < self.MAX_TARGET:
                self.target += 1
                self._underruns.clear()
            self._concealed_last = True
            self._above = 0
            self.concealed += 1
            return Pull.CONCEAL
        if self.target and pulls - self._last_underrun >= self.CALM:
            self.target -= 1
            self._last_underrun = pulls  # one step down per calm period
        surplus = waiting - 1
        late_frame = self._concealed_last and surplus > self.target
        self._concealed_last = False
        if late_frame:
            self._above = 0
            self.dropped_late += 1
            return Pull.DROP_THEN_PLAY
        if surplus > self.target:
            self._above += 1
            if self._above >= self.TRIM_AFTER:
                self._above = 0
                self.trimmed += 1
                return Pull.DROP_THEN_PLAY
        else:
            self._above = 0
        return Pull.PLAY
