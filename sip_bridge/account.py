"""One agent's SIP account (registration) inside the engine thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pjsua2 as pj

if TYPE_CHECKING:
    from gateway.ipc import AddAgent


def is_wildcard(address: str) -> bool:
    return address in ("", "0.0.0.0", "::")


class Account(pj.Account):
    """A registered extension; pjsua2 callbacks are forwarded to the engine."""

    def __init__(
        self,
        agent_id: int,
        on_reg_state: Callable[[Account, int, str, bool], None],
        on_incoming: Callable[[Account, int, str, str], None],
    ) -> None:
        super().__init__()
        self.agent_id = agent_id
        self._on_reg_state = on_reg_state
        self._on_incoming = on_incoming

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        info = self.getInfo()
        self._on_reg_state(self, prm.code, prm.reason, info.regIsActive)

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self._on_incoming(self, prm.callId, prm.rdata.srcAddress, prm.rdata.wholeMsg)


def account_config(agent: AddAgent, bind: str, rtp_port: int, rtp_range: int,
                   direct_media: bool = False) -> pj.AccountConfig:
    """The pjsua2 configuration for an agent; the password goes only into AuthCredInfo.
    With ``direct_media`` pjsua's streams get its in-memory loop transport: no socket,
    nothing on the wire (sip_bridge/direct_media.py)."""
    cfg = pj.AccountConfig()
    # No display name: pjsua copies idUri into Contact, and some peers (SIPp among
    # them) cannot route in-dialog requests to a Contact with a quoted name. The PBX
    # presents the extension's name to callees anyway.
    cfg.idUri = f"sip:{agent.extension}@{agent.domain}"
    if agent.registrar:
        transport = ";transport=tcp" if agent.transport == "tcp" else ""
        cfg.regConfig.registrarUri = f"sip:{agent.registrar}{transport}"
        cfg.regConfig.timeoutSec = agent.expires
        # Retry a failed registration soon: the agent is waiting in front of the page.
        cfg.regConfig.retryIntervalSec = 30
        cfg.sipConfig.proxies.append(f"sip:{agent.registrar};lr{transport}")
        cfg.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", "*", agent.auth_user, 0, agent.password)
        )
    else:
        cfg.regConfig.registerOnAdd = False
    cfg.mediaConfig.useLoopMedTp = direct_media
    media = cfg.mediaConfig.transportConfig
    media.port = rtp_port
    media.portRange = rtp_range
    if not is_wildcard(bind):
        # Otherwise pjsua announces the default interface's address in SDP, not the
        # one the deployment (or a loopback-only test) chose.
        media.boundAddress = bind
        media.publicAddress = bind
    return cfg
