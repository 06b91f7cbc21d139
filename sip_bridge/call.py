"""One SIP call inside the engine thread, with the audio port that bridges it."""

from __future__ import annotations

from collections.abc import Callable

import pjsua2 as pj

from sip_bridge.audio_port import AudioPort

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
        self.hung_up_locally = False
        self._on_state = on_state
        self._on_transfer = on_transfer

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        self._on_state(self)

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

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        # NOTIFYs about the far end's new call; only the final one decides.
        if prm.finalNotify:
            self._on_transfer(self, prm.statusCode)
        prm.cont = not prm.finalNotify

    def transfer(self, uri: str) -> None:
        self.xfer(uri, pj.CallOpParam(True))

    def send_dtmf(self, digits: str) -> None:
        self.dialDtmf(digits)

    def hold(self) -> None:
        self.setHold(pj.CallOpParam(True))

    def unhold(self) -> None:
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        self.reinvite(prm)
