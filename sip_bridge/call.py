"""One SIP call inside the engine thread, with the audio port that bridges it."""

from __future__ import annotations

from collections.abc import Callable

import pjsua2 as pj

from sip_bridge.audio_port import AudioPort


class Call(pj.Call):
    """A pjsua2 call; state and media changes are forwarded to the engine."""

    def __init__(
        self,
        account: pj.Account,
        call_id: str,
        agent_id: int,
        on_state: Callable[[Call], None],
        pj_call_id: int = pj.PJSUA_INVALID_ID,
    ) -> None:
        super().__init__(account, pj_call_id)
        self.call_id = call_id
        self.agent_id = agent_id
        self.port = AudioPort()
        self.port.open(f"call-{call_id[:8]}")
        self.hung_up_locally = False
        self._on_state = on_state
        self._media_connected = False

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        self._on_state(self)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        for media in info.media:
            if (
                media.type == pj.PJMEDIA_TYPE_AUDIO
                and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE
                and not self._media_connected
            ):
                audio = self.getAudioMedia(media.index)
                self.port.startTransmit(audio)
                audio.startTransmit(self.port)
                self._media_connected = True
