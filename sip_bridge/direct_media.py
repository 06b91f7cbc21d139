"""Direct media: pjsua runs the call's signalling, the worker carries its RTP.

How pjsua is made to do only the signalling (measured with pjsua2 2.15.1):

- The account uses pjsua's *loop* media transport (``useLoopMedTp``): pjsua still makes
  its stream, so its SDP machinery and offer/answer run as usual, but the stream's
  transport is in memory, binds no socket and sends nothing on the wire. (Asking for no
  audio at all, ``audioCount=0``, is not an option: an outgoing call aborts the process
  on an assertion building the SDP, and an incoming one is refused with 488.)
- Every SDP pjsua writes passes through ``onCallSdpCreated``, where this module swaps the
  media part for ours (``sip_bridge/sdp.py``): our address, the port of the call's own
  socket (``sip_bridge/rtp_leg.py``), our codecs. pjsua keeps the session part: its
  ``o=`` version, and the hold direction it adds itself.
- The far end's SDP: in an offer, that same callback's remote SDP; in an answer (to our
  INVITE or re-INVITE), the response's body, read from the call's state and transaction
  callbacks (pjsua2 has no getter for it).

Which workers use it: ``chosen`` (by default, those whose SIP side speaks only G.711:
calls are relayed untouched to a G.711 browser, and transcoded straight at 8 kHz for an
Opus one); ``HEADSET_SIP_MEDIA=direct`` or ``pjmedia`` overrides.
See ``rtp_leg.py`` for why direct media is cheaper.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable

from sip_bridge import sdp
from sip_bridge.rtp_leg import RtpLeg
from webrtc import narrowband

ENV = "HEADSET_SIP_MEDIA"


def chosen(sip_codecs: Iterable[str], browser_codecs: Iterable[str]) -> bool:
    """Whether this worker's calls use direct media.

    ``HEADSET_SIP_MEDIA`` decides when it says ``direct`` or ``pjmedia``. Otherwise
    (``auto``) direct media when the browser's first codec is one the SIP side carries
    too, so calls are relayed untouched, or Opus with the system libopus, so calls are
    transcoded straight between Opus and G.711 at 8 kHz (``webrtc/narrowband.py``);
    pjmedia whenever a SIP codec is one only it has (G.722), or for Opus without libopus.
    Measured on this machine (bench.capacity, < 1 % late or lost frames): relaying
    carried 62-65 PCMU calls against pjmedia's 38; Opus transcoded at 8 kHz 44, against
    32 through the worker's 16 kHz audio and pjmedia's 28-35.
    """
    choice = os.environ.get(ENV, "").strip().lower()
    if choice in ("direct", "pjmedia"):
        return choice == "direct"
    sip = list(sip_codecs)
    if not all(codec in sdp.CODECS for codec in sip):
        return False
    first = next(iter(browser_codecs), "")
    return first in sip or (first == "opus" and narrowband.library() is not None)


def message_body(message: str) -> str:
    """The body of a SIP message as pjsua2 gives it (``rdata.wholeMsg``)."""
    for separator in ("\r\n\r\n", "\n\n"):
        _head, found, body = message.partition(separator)
        if found:
            return body
    return ""


def is_sdp_response(message: str) -> bool:
    head = message.split("\n", 1)[0]
    if not head.startswith("SIP/2.0 "):
        return False
    lowered = message.lower()
    return ("content-type: application/sdp" in lowered or "\nc: application/sdp" in lowered)


class DirectMedia:
    """One call's SDP under direct media: engine thread only; the leg it feeds lives on
    the event loop and is told through ``call_soon_threadsafe``."""

    def __init__(self, leg: RtpLeg, address: str, codecs: tuple[str, ...],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.leg = leg
        self.held = False
        self._address = address
        self._codecs = codecs
        self._loop = loop

    def local_sdp(self, pjsua_sdp: str, remote_sdp: str) -> str:
        """Our SDP in place of pjsua's: an answer to ``remote_sdp`` if there is one,
        else an offer."""
        address = self._address or _origin_address(pjsua_sdp)
        if not remote_sdp:
            return sdp.with_audio(pjsua_sdp, sdp.offer(address, self.leg.port, self._codecs,
                                                       self.held))
        remote = sdp.parse(remote_sdp)
        audio = (sdp.answer(remote, address, self.leg.port, self._codecs, self.held)
                 if remote is not None else None)
        if remote is not None and audio is not None:
            payload_type, codec = audio.codecs[0]
            self._loop.call_soon_threadsafe(self.leg.use, remote, codec, payload_type)
        return sdp.with_audio(pjsua_sdp, audio)

    def remote_message(self, message: str) -> None:
        """A SIP message for this call: if it is a response carrying SDP (the answer to
        our offer), the far end's address and codec from now on."""
        if not is_sdp_response(message):
            return
        remote = sdp.parse(message_body(message))
        if remote is None or not remote.codecs:
            return
        # An answer lists what its sender will use first (RFC 3264 6.1).
        payload_type, codec = next(
            ((pt, c) for pt, c in remote.codecs if c.name in self._codecs), (None, None))
        if payload_type is None or codec is None:
            return
        self._loop.call_soon_threadsafe(self.leg.use, remote, codec, payload_type)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self.leg.close)


def _origin_address(session_sdp: str) -> str:
    """The address in pjsua's ``o=`` line: the host's own, when the worker binds every
    interface and announces the default one."""
    for line in session_sdp.splitlines():
        if line.startswith("o="):
            parts = line.split()
            if len(parts) >= 6:
                return parts[5]
    return "127.0.0.1"
