"""Where a call's far end sends its RTP from, under direct media: the address its SDP
names, until its packets show they come from somewhere else.

Why: a far end behind NAT, or a PBX whose media comes from another host than the one its
SDP names, sends RTP from an address the SDP does not give. pjmedia, which carried these
calls before direct media, follows such a source after a probation of 10 packets in a
row (``PJMEDIA_RTP_NAT_PROBATION_CNT``) and sends there from then on (symmetric RTP, RFC
4961). Direct media does the same, so that such a far end is heard and hears us.

While packets keep coming from the expected address, a stranger's packets never make
up a probation (each expected packet starts it over): they cannot take a live stream
over. Until a new source has passed probation its packets are dropped, except those from
the expected host on another port, which are heard meanwhile (the port alone moved: a
NAT rebinding, or a far end that sends from another port than it listens on).

Pure: addresses in, decisions out (``sip_bridge/rtp_leg.py`` is the adapter).
"""

from __future__ import annotations

Address = tuple[str, int]

LATCH_AFTER = 10  # RTP packets in a row from a new address, as pjmedia's probation


class MediaSource:
    """One call's far-end media address (see the module docstring)."""

    def __init__(self) -> None:
        self.latched: Address | None = None
        self.moved = False  # set when a new source is latched; the leg clears it
        self._described: Address | None = None
        self._candidate: Address | None = None
        self._count = 0

    @property
    def target(self) -> Address | None:
        """Where the far end's media is: the latched source, else the SDP's address."""
        return self.latched or self._described

    def described(self, address: Address) -> None:
        """The far end's SDP names ``address``. A new address starts over; an SDP that
        names the same one again (a re-INVITE for hold) keeps what was learnt."""
        if address != self._described:
            self._described = address
            self.latched = self._candidate = None
            self._count = 0

    def heard(self, address: Address, is_rtp: bool) -> bool:
        """Whether a packet from ``address`` is the far end's (``is_rtp``: it has RTP's
        version bits; only such packets count toward a probation)."""
        expected = self.latched or self._described
        if expected is None:
            return False
        if address == expected:
            self._count = 0
            return True
        if not is_rtp:
            return False
        if address == self._candidate:
            self._count += 1
        else:
            self._candidate, self._count = address, 1
        if self._count >= LATCH_AFTER:
            self.latched, self.moved = address, True
            self._candidate, self._count = None, 0
            return True
        return address[0] == expected[0]
