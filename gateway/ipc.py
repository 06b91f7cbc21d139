"""Main process <-> line worker messages: JSON lines over the worker's stdin and stdout.

The main process sends *commands*; the worker sends *reports*. Both are tagged msgspec
structs, decoded with the full union so a worker and a main process of different builds
fail loudly instead of misreading each other. SIP passwords cross this pipe (the worker
must register), so ``AddAgent`` never prints them: its ``repr`` masks the password, and
neither side logs raw lines.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class _Msg(msgspec.Struct, frozen=True, tag_field="kind"):
    pass


# -- commands: main -> worker ----------------------------------------------------------


class AddAgent(_Msg, frozen=True, tag="add_agent"):
    agent_id: int
    extension: str
    auth_user: str
    password: str
    display_name: str
    registrar: str  # host:port, empty = no registrar (echo test only)
    domain: str
    transport: str = "udp"
    expires: int = 300

    def __repr__(self) -> str:
        return f"AddAgent(agent_id={self.agent_id}, extension={self.extension!r}, password=***)"

    __str__ = __repr__


class RemoveAgent(_Msg, frozen=True, tag="remove_agent"):
    agent_id: int


class OpenLine(_Msg, frozen=True, tag="open_line"):
    """The browser's SDP offer for the agent's persistent line."""

    agent_id: int
    sdp: str


class CloseLine(_Msg, frozen=True, tag="close_line"):
    agent_id: int


class MakeCall(_Msg, frozen=True, tag="make_call"):
    agent_id: int
    call_id: str
    target: str  # a SIP URI, or "echo" for the built-in echo test
    from_number: str = ""


class AnswerCall(_Msg, frozen=True, tag="answer_call"):
    call_id: str


class RejectCall(_Msg, frozen=True, tag="reject_call"):
    call_id: str
    code: int = 486


class HangupCall(_Msg, frozen=True, tag="hangup_call"):
    call_id: str


class SendDtmf(_Msg, frozen=True, tag="send_dtmf"):
    call_id: str
    digits: str


class HoldCall(_Msg, frozen=True, tag="hold_call"):
    call_id: str
    hold: bool


class TransferCall(_Msg, frozen=True, tag="transfer_call"):
    call_id: str
    target: str  # a SIP URI


class TransferReplaces(_Msg, frozen=True, tag="transfer_replaces"):
    """Attended transfer: REFER ``call_id``'s far end to ``dest_call_id``'s, with Replaces."""

    call_id: str
    dest_call_id: str


class ConferenceCalls(_Msg, frozen=True, tag="conference_calls"):
    """Take ``call_id`` off hold and mix it with ``other_call_id`` and the agent."""

    call_id: str
    other_call_id: str


class Ping(_Msg, frozen=True, tag="ping"):
    seq: int


class Shutdown(_Msg, frozen=True, tag="shutdown"):
    pass


Command = (
    AddAgent | RemoveAgent | OpenLine | CloseLine | MakeCall | AnswerCall | RejectCall
    | HangupCall | SendDtmf | HoldCall | TransferCall | TransferReplaces | ConferenceCalls | Ping
    | Shutdown
)

# -- reports: worker -> main -----------------------------------------------------------

RegStatus = Literal["registering", "registered", "failed", "unregistered"]
LegStatus = Literal["calling", "ringing", "connected", "disconnected"]


class Ready(_Msg, frozen=True, tag="ready"):
    sip_port: int
    pid: int


class Registration(_Msg, frozen=True, tag="registration"):
    agent_id: int
    status: RegStatus
    code: int = 0
    reason: str = ""


class LineAnswer(_Msg, frozen=True, tag="line_answer"):
    agent_id: int
    sdp: str


class LineStatus(_Msg, frozen=True, tag="line_status"):
    agent_id: int
    status: str  # the RTCPeerConnection's connectionState


class Incoming(_Msg, frozen=True, tag="incoming"):
    agent_id: int
    call_id: str
    remote_number: str
    remote_name: str
    # The queue number / DID the PBX sent with the call (gateway/queue_routing.py).
    called: str = ""


class Leg(_Msg, frozen=True, tag="leg"):
    """The SIP (or echo) leg of a call changed state."""

    call_id: str
    agent_id: int
    status: LegStatus
    code: int = 0
    reason: str = ""
    # Who ended it, for disconnected: "local" (we hung up / rejected) or "remote".
    side: str = ""


class Transferred(_Msg, frozen=True, tag="transferred"):
    """The far end accepted a transfer (``ok``) or refused it; on success the worker
    hangs up our leg next."""

    call_id: str
    agent_id: int
    ok: bool
    code: int = 0


class HoldState(_Msg, frozen=True, tag="hold_state"):
    """A hold or unhold was carried out (the re-INVITE was sent)."""

    call_id: str
    agent_id: int
    held: bool


class LegFigures(msgspec.Struct, frozen=True):
    """One leg's quality over the last interval (``gateway/quality.py``)."""

    jitter_ms: float
    loss_pct: float
    mos: float
    rtt_ms: float | None = None


class Quality(_Msg, frozen=True, tag="quality"):
    """Sampled every ~2 s while a call is connected: the browser leg (aiortc) and the
    SIP leg (pjsua2 RTCP); a leg is ``None`` when it has no figures (the echo test has
    no SIP leg)."""

    call_id: str
    agent_id: int
    browser: LegFigures | None = None
    sip: LegFigures | None = None


class Failed(_Msg, frozen=True, tag="failed"):
    """A command could not be carried out; ``error`` is a translation key."""

    command: str
    error: str
    agent_id: int = 0
    call_id: str = ""


class Pong(_Msg, frozen=True, tag="pong"):
    seq: int
    calls: int
    accounts: int
    lines: int
    # Conference ports the worker holds (lent to calls or free): stays at the peak
    # number of calls, never grows with the number of calls carried.
    ports: int = 0


Report = (
    Ready | Registration | LineAnswer | LineStatus | Incoming | Leg | HoldState | Transferred
    | Failed | Pong | Quality
)

_encoder = msgspec.json.Encoder()
_command_decoder = msgspec.json.Decoder(Command)
_report_decoder = msgspec.json.Decoder(Report)


def encode(message: Command | Report) -> bytes:
    return _encoder.encode(message) + b"\n"


def decode_command(line: bytes) -> Command:
    return _command_decoder.decode(line)


def decode_report(line: bytes) -> Report:
    return _report_decoder.decode(line)


class WorkerConfig(msgspec.Struct, frozen=True):
    """Given to a worker on its command line when it starts."""

    worker_id: int
    bind: str
    sip_port: int
    rtp_port: int
    rtp_range: int
    sip_codecs: list[str]
    browser_codecs: list[str]
    sip_transport: str = "udp"
    ice_host_addresses: list[str] = []
    stun: list[str] = []
    turn: list[str] = []
    turn_username: str = ""
    turn_password: str = ""
    # Seconds without a registration answer before the agent is told it is unreachable.
    register_timeout: float = 8.0
    # IP addresses whose INVITEs may ring agents: the registrar/PBX and trusted trunks.
    trusted_sources: list[str] = []


def encode_config(config: WorkerConfig) -> str:
    return _encoder.encode(config).decode()


def decode_config(text: str) -> WorkerConfig:
    return msgspec.json.decode(text, type=WorkerConfig)
