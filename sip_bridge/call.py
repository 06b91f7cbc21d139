"""One SIP call inside the engine thread, with the audio port that bridges it."""

from __future__ import annotations

from collections.abc import Callable

import pjsua2 as pj

from sip_bridge.audio_port import AudioPort
from sip_bridge.direct_media import DirectMedia

# Media states in which audio still flows out of the call: on hold we keep sending
# (music on hold), so a held call stays joined to the bridge.
_FLOWING = (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_LOCAL_HOLD,
            pj.PJSUA_CALL_MEDIA_REMOTE_HOLD)


class Call(pj.Call):
    """A pjsua2 call; state and media changes are forwarded to the engine."""

    def __init__(
        self,
        account: pj.Account,
        call_id: str,
        agent_id: int,
        on_state: Callable[[Call], None],
        on_transfer: Callable[[Call, int], None],
        pj_call_id: int = pj.PJSUA_INVALID_ID,
    ) -> None:
        super().__init__(account, pj_call_id)
        self.call_id = call_id
        self.agent_id = agent_id
        # Lent by the engine's PortPool once the call is ours to carry (an INVITE that
        # is refused never gets one) and given back when it ends.
        self.port: AudioPort | None = None
        # With direct media the worker carries the RTP and writes the SDP's media part
        # (sip_bridge/direct_media.py); the call then never has a port.
        self.direct: DirectMedia | None = None
        self.hung_up_locally = False
        # 3-way conference: the call whose audio this one is joined with (both ways).
        self.joined: Call | None = None
        self._on_state = on_state
        self._on_transfer = on_transfer

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        # The answer to our INVITE comes with the state change to CONNECTING (or EARLY
        # for early media), before pjsua reports the call's media.
        if self.direct is not None:
            self._read_remote(prm.e)
        self._on_state(self)

    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:
        # The answer to our re-INVITE (hold, unhold) changes no call state.
        if self.direct is not None:
            self._read_remote(prm.e)

    def _read_remote(self, event: pj.SipEvent) -> None:
        assert self.direct is not None
        if (event.type == pj.PJSIP_EVENT_TSX_STATE
                and event.body.tsxState.type == pj.PJSIP_EVENT_RX_MSG):
            self.direct.remote_message(event.body.tsxState.src.rdata.wholeMsg)

    def onCallSdpCreated(self, prm: pj.OnCallSdpCreatedParam) -> None:
        if self.direct is not None:
            prm.sdp.wholeSdp = self.direct.local_sdp(prm.sdp.wholeSdp, prm.remSdp.wholeSdp)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        if self.port is None:
            return
        info = self.getInfo()
        for media in info.media:
            if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status not in _FLOWING:
                continue
            # Joined on every media change: a re-INVITE (hold, unhold, codec change)
            # rebuilds the stream and its bridge slot, often with the same slot number,
            # and the old connections are gone. Connecting twice is harmless.
            audio = self.getAudioMedia(media.index)
            self.port.startTransmit(audio)
            audio.startTransmit(self.port)
        # A re-INVITE (the unhold that starts a conference) drops the joins too.
        self.join_media()

    def _audio(self) -> pj.AudioMedia | None:
        # The CallInfo is kept in a name: iterating a temporary's vector reads freed memory.
        info = self.getInfo()
        for media in info.media:
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status in _FLOWING:
                return self.getAudioMedia(media.index)
        return None

    def join_media(self) -> None:
        """Mix this call with ``joined``: each far end hears the other and whoever is on
        either port (the agent's line), and each port hears both far ends; the bridge sums
        what several sources send to one sink."""
        other = self.joined
        if other is None or self.port is None or other.port is None:
            return
        mine, theirs = self._audio(), other._audio()
        if mine is None or theirs is None:
            return
        mine.startTransmit(theirs)
        theirs.startTransmit(mine)
        mine.startTransmit(other.port)
        other.port.startTransmit(mine)
        theirs.startTransmit(self.port)
        self.port.startTransmit(theirs)

    def leave_conference(self) -> None:
        """This call is ending: undo the joins that outlive its stream. The ports stay in
        the bridge (sip_bridge/port_pool.py), so a link between this call's port and the
        other call would carry into this port's next call."""
        other, self.joined = self.joined, None
        if other is None:
            return
        other.joined = None
        theirs = other._audio()
        if theirs is not None and self.port is not None:
            theirs.stopTransmit(self.port)
            self.port.stopTransmit(theirs)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        # NOTIFYs about the far end's new call; only the final one decides.
        if prm.finalNotify:
            self._on_transfer(self, prm.statusCode)
        prm.cont = not prm.finalNotify

    def transfer(self, uri: str) -> None:
        self.xfer(uri, pj.CallOpParam(True))

    def send_dtmf(self, digits: str) -> None:
        self.dialDtmf(digits)

    def send_dtmf_info(self, digits: str) -> None:
        prm = pj.CallSendDtmfParam()
        prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
        prm.digits = digits
        self.sendDtmf(prm)

    def hold(self) -> None:
        self.setHold(pj.CallOpParam(True))

    def unhold(self) -> None:
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        self.reinvite(prm)
