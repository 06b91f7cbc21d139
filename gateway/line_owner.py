"""Which of an agent's browser tabs owns their line (sans-IO).

An agent may have several tabs open, each with its own WebSocket (a ``Session``), but
only one RTCPeerConnection can carry the line: the server decides which tab that is and
the others show "the phone is open in another tab" with a "Use here" button.

Theory of operation. Each session names its tab (a random id the tab keeps in
``sessionStorage``, so a reload or a reconnected socket is recognised as the same tab;
"" when the client names none). The rules:

- A session connecting while nobody owns the line takes it, unless the previous owner's
  tab left moments ago and other tabs remain: then it waits with them for ``hold_expired``
  (a socket that drops and reconnects must not hand the call to another tab).
- A session from the owning tab takes the line back at once (a reload, a reconnect): its
  old socket, if still open, is stale.
- "Use here" (``take``) moves the line to the session that asks. Asked by the owner
  itself (a tab that stood down on another tab's hint the server never confirmed), the
  line is given again: the adapter re-sends its state and the tab re-attaches.
- When the owner's socket closes, the line is held for its tab; if the tab does not come
  back before the adapter calls ``hold_expired``, the newest remaining session gets it.

Every method returns a ``Change``: who gained the line and who lost it, for the adapter
(gateway/lines.py) to tell.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S", bound=Hashable)


@dataclass(frozen=True)
class Change(Generic[S]):
    gained: S | None = None
    lost: S | None = None
    # The owner's tab left while others remain: call ``hold_expired`` after a moment.
    hold: bool = False


class LineOwnership(Generic[S]):
    """The owner among one agent's sessions; see the module docstring."""

    def __init__(self) -> None:
        self.owner: S | None = None
        self._owner_tab = ""
        self._sessions: dict[S, str] = {}  # session -> tab id, in connection order

    def is_owner(self, session: S) -> bool:
        return session == self.owner

    def connect(self, session: S, tab: str) -> Change[S]:
        others = bool(self._sessions)
        self._sessions[session] = tab
        same_tab = bool(tab) and tab == self._owner_tab
        if self.owner is None and (same_tab or not others or not self._owner_tab):
            return self._give(session, tab)
        if self.owner is not None and same_tab:
            return self._give(session, tab)
        return Change()

    def disconnect(self, session: S) -> Change[S]:
        self._sessions.pop(session, None)
        if session != self.owner:
            return Change()
        self.owner = None
        if not self._sessions:
            self._owner_tab = ""
            return Change()
        return Change(hold=True)

    def take(self, session: S) -> Change[S]:
        """"Use here": the line moves to ``session``."""
        if session not in self._sessions:
            return Change()
        if session == self.owner:
            return Change(gained=session)
        return self._give(session, self._sessions[session])

    def hold_expired(self) -> Change[S]:
        """The owner's tab did not come back: the newest remaining session gets the line."""
        if self.owner is not None or not self._sessions:
            return Change()
        newest = next(reversed(self._sessions))
        return self._give(newest, self._sessions[newest])

    def _give(self, session: S, tab: str) -> Change[S]:
        if self.owner == session:
            return Change()
        lost = self.owner
        self.owner = session
        self._owner_tab = tab
        return Change(gained=session, lost=lost)
