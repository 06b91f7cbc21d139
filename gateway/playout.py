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
- **Jitter**: when late frames come often (``RAISE_AFTER`` within ``WINDOW`` pulls), the
  arrivals straddle the pull and dropping them would conceal every other frame, so the
  target goes up by one frame (up to ``MAX_TARGET``) and late frames are kept. Loss
  alone (an empty pull with no late frame after it) never raises it: it would only
  add delay that loss does not need.
- **Recovery**: after ``CALM`` pulls with no late frame the target comes back down, and a
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

    WINDOW = 50  # pulls (1 s) over which late frames are counted
    RAISE_AFTER = 3  # late frames in WINDOW that mean jitter, not a stray one
    MAX_TARGET = 2
    CALM = 150  # pulls (3 s) with no late frame before the target comes down
    TRIM_AFTER = 25  # pulls (0.5 s) of surplus above the target before trimming

    def __init__(self) -> None:
        self.target = 0
        self._pulls = 0
        self._late: deque[int] = deque()
        self._last_late = -self.CALM
        self._concealed_last = False
        self._above = 0
        self.concealed = 0
        self.dropped_late = 0
        self.trimmed = 0

    def decide(self, waiting: int) -> Pull:
        self._pulls += 1
        pulls = self._pulls
        if waiting == 0:
            self._concealed_last = True
            self._above = 0
            self.concealed += 1
            return Pull.CONCEAL
        while self._late and self._late[0] <= pulls - self.WINDOW:
            self._late.popleft()
        if self.target and pulls - self._last_late >= self.CALM:
            self.target -= 1
            self._last_late = pulls  # one step down per calm period
        surplus = waiting - 1
        if self._concealed_last and surplus > self.target:
            # The frame whose slot was just concealed has turned up, late. (A lost frame
            # never does: loss alone never raises the target.)
            self._concealed_last = False
            self._above = 0
            self._late.append(pulls)
            self._last_late = pulls
            if len(self._late) >= self.RAISE_AFTER and self.target < self.MAX_TARGET:
                self.target += 1
                self._late.clear()
                return Pull.PLAY
            self.dropped_late += 1
            return Pull.DROP_THEN_PLAY
        self._concealed_last = False
        if surplus > self.target:
            self._above += 1
            if self._above >= self.TRIM_AFTER:
                self._above = 0
                self.trimmed += 1
                return Pull.DROP_THEN_PLAY
        else:
            self._above = 0
        return Pull.PLAY
