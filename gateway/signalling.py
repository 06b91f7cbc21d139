"""Browser <-> server messages on the ``/ws`` WebSocket, version 1.

Every message is a JSON object with ``v`` (protocol version) and ``type``. The browser sends
*commands*; the server sends *events*. This module is the one place that says what a valid
message is: ``decode_command`` turns text into a typed command or raises ``BadMessage``
with a machine-readable ``code`` (the page shows its translation), so a malformed or
unknown message gets an error reply and leaves the session usable.

Commands (browser -> server)::

    online                      go online: register the extension, reserve a line
    offline                     unregister and close the line
    offer {sdp}                 the tab's RTCPeerConnection offer for the persistent line
    dial {target, caller_id}    place a call (number, extension or the echo test number),
                                presenting ``caller_id`` (one of the user's allowed
                                numbers; empty = the extension)
    answer {call_id}            answer the ringing call
    reject {call_id}            decline the ringing call (the caller hears busy)
    hangup {call_id}            end or cancel a call
    dtmf {call_id, digits}      keypad tones during a call (RFC 4733 on the SIP leg)
    hold {call_id}              put the caller on hold (they hear music)
    unhold {call_id}            take the call off hold
    transfer {call_id, target}  blind transfer: the caller is sent to target (REFER)
    consult {call_id, target}   attended transfer: hold the caller, call target
    consult_complete {call_id}  join the held caller and the consulted target (REFER with
                                Replaces); both of the agent's calls end
    consult_back {call_id}      hang up the consult call and take the caller off hold
    consult_conference {call_id}  3-way: the caller, the consulted target and the agent
    take_line                   "Use here": this tab takes the agent's line (and a live
                                call's audio) from the tab that had it
    ping                        keep-alive; answered with pong

Events (server -> browser)::

    hello {user, dialer, echo_number, ice_servers}   after the socket opens
    line_owner {here}                       after hello and when it changes: whether this
                                            tab owns the line (gateway/line_owner.py); a
                                            tab that does not gets no other event
    caller_ids {numbers}                    after hello: the numbers the agent may present
    line {state, reason}                    offline / registering / registered / failed
    answer_sdp {sdp}                        the worker's answer to ``offer``
    call {call_id, state, direction, remote, remote_name, reason, held, contact_id, matches}
    error {code, message, ref}              a command was refused; ``ref`` names its type
    work {blocking_call_id}                 the call to finish (disposition) before another
                                            one may be made or answered; "" when none
    quality {call_id, browser, sip}        every ~2 s in a call: each leg's jitter, loss,
                                            round trip, estimated MOS and grade
    pong
"""

from __future__ import annotations

from typing import Literal

import msgspec

VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024  # an SDP offer is a few KiB; anything larger is hostile
MAX_TARGET_LENGTH = 64
DTMF_DIGITS = frozenset("0123456789*#ABCD")
MAX_DTMF_LENGTH = 32


class BadMessage(Exception):
    """The browser sent something that is not a valid command."""

    def __init__(self, code: str, detail: str = "", ref: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.ref = ref


class _Command(msgspec.Struct, frozen=True, tag_field="type", forbid_unknown_fields=True):
    v: int = VERSION


class Online(_Command, frozen=True, tag="online"):
    pass


class Offline(_Command, frozen=True, tag="offline"):
    pass


class Offer(_Command, frozen=True, tag="offer"):
    sdp: str = ""


class Dial(_Command, frozen=True, tag="dial"):
    target: str = ""
    caller_id: str = ""


class AnswerCall(_Command, frozen=True, tag="answer"):
    call_id: str = ""


class RejectCall(_Command, frozen=True, tag="reject"):
    call_id: str = ""


class Hangup(_Command, frozen=True, tag="hangup"):
    call_id: str = ""


class Dtmf(_Command, frozen=True, tag="dtmf"):
    call_id: str = ""
    digits: str = ""


class Hold(_Command, frozen=True, tag="hold"):
    call_id: str = ""


class Unhold(_Command, frozen=True, tag="unhold"):
    call_id: str = ""


class Transfer(_Command, frozen=True, tag="transfer"):
    call_id: str = ""
    target: str = ""


class Consult(_Command, frozen=True, tag="consult"):
    call_id: str = ""
    target: str = ""


class ConsultComplete(_Command, frozen=True, tag="consult_complete"):
    call_id: str = ""


class ConsultBack(_Command, frozen=True, tag="consult_back"):
    call_id: str = ""


class ConsultConference(_Command, frozen=True, tag="consult_conference"):
    call_id: str = ""


class Ping(_Command, frozen=True, tag="ping"):
    pass


class TakeLine(_Command, frozen=True, tag="take_line"):
    pass


Command = (
    Online | Offline | Offer | Dial | AnswerCall | RejectCall | Hangup | Dtmf | Hold | Unhold
    | Transfer | Consult | ConsultComplete | ConsultBack | ConsultConference | Ping | TakeLine
)

_decoder = msgspec.json.Decoder(Command)
_probe = msgspec.json.Decoder(dict)


def decode_command(text: str | bytes) -> Command:
    """Parse and validate one command; raise ``BadMessage`` saying what is wrong."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise BadMessage("message_too_large")
    try:
        raw = _probe.decode(text)
    except msgspec.DecodeError as exc:
        raise BadMessage("malformed_message", str(exc)) from exc
    kind = raw.get("type")
    ref = kind if isinstance(kind, str) and len(kind) <= 32 else ""
    if raw.get("v", VERSION) != VERSION:
        raise BadMessage("unsupported_version", f"expected v={VERSION}", ref)
    try:
        command = _decoder.decode(text)
    except msgspec.ValidationError as exc:
        code = "unknown_message" if "Invalid value" in str(exc) and "$.type" in str(exc) else (
            "invalid_message"
        )
        raise BadMessage(code, str(exc), ref) from exc
    _check_fields(command, ref)
    return command


def _check_fields(command: Command, ref: str) -> None:
    if isinstance(command, Offer) and not command.sdp.startswith("v=0"):
        raise BadMessage("invalid_sdp", "an SDP offer starts with v=0", ref)
    if isinstance(command, Dial | Transfer | Consult):
        if not command.target.strip():
            raise BadMessage("invalid_number", "empty dial string", ref)
        if len(command.target) > MAX_TARGET_LENGTH:
            raise BadMessage("invalid_number", "dial string too long", ref)
    if isinstance(command, Dial) and len(command.caller_id) > MAX_TARGET_LENGTH:
        raise BadMessage("caller_id_not_allowed", "caller ID too long", ref)
    if isinstance(command, AnswerCall | RejectCall | Hangup | Dtmf | Hold | Unhold | Transfer
                  | Consult | ConsultComplete | ConsultBack | ConsultConference) and (
            not command.call_id):
        raise BadMessage("invalid_message", "call_id is required", ref)
    if isinstance(command, Dtmf) and (
            not command.digits or len(command.digits) > MAX_DTMF_LENGTH
            or not set(command.digits.upper()) <= DTMF_DIGITS):
        raise BadMessage("invalid_dtmf", "digits are 0-9 * # A-D", ref)


# -- events ---------------------------------------------------------------------------

LineState = Literal["offline", "registering", "registered", "failed"]
CallState = Literal["dialing", "ringing", "connected", "ended"]


class _Event(msgspec.Struct, frozen=True, tag_field="type"):
    v: int = VERSION


class IceServer(msgspec.Struct, frozen=True):
    urls: list[str]
    username: str = ""
    credential: str = ""


class Hello(_Event, frozen=True, tag="hello"):
    user: str = ""
    dialer: bool = False
    echo_number: str = ""
    ice_servers: list[IceServer] = []


class LineOwnerEvent(_Event, frozen=True, tag="line_owner"):
    here: bool = True


class LineEvent(_Event, frozen=True, tag="line"):
    state: LineState = "offline"
    reason: str = ""  # a translation key, e.g. "reg_wrong_password"


class AnswerSdp(_Event, frozen=True, tag="answer_sdp"):
    sdp: str = ""


class CallEvent(_Event, frozen=True, tag="call"):
    call_id: str = ""
    state: CallState = "dialing"
    direction: Literal["inbound", "outbound"] = "outbound"
    remote: str = ""
    remote_name: str = ""
    reason: str = ""  # outcome key when ended: completed, busy, rejected, ...
    held: bool = False
    # Caller ID: the matching contact (0 if none or several) and how many matched.
    contact_id: int = 0
    matches: int = 0
    # A consult call names the held call it was made from; the held call names its
    # consult call and where the consult stands (gateway/consult.py).
    consult_of: str = ""
    consult: str = ""
    consult_state: str = "none"


class ErrorEvent(_Event, frozen=True, tag="error"):
    code: str = ""
    message: str = ""
    ref: str = ""


class WorkEvent(_Event, frozen=True, tag="work"):
    # Sent after hello and whenever it changes: while set, dial and answer are refused
    # with ``disposition_required`` and calls to the agent are declined busy.
    blocking_call_id: str = ""


class AgentStateEvent(_Event, frozen=True, tag="agent_state"):
    # Sent after hello and whenever the agent's working state changes (crm/agent_states.py).
    status: str = "logged_out"
    since: str = ""
    pause: str = ""


class CallerIdsEvent(_Event, frozen=True, tag="caller_ids"):
    # The numbers an admin allowed this agent to present (crm/sip_accounts.py); the
    # softphone offers a choice when there is more than one.
    numbers: list[str] = []


class QualityLeg(msgspec.Struct, frozen=True):
    jitter_ms: float
    loss_pct: float
    mos: float
    grade: Literal["good", "fair", "poor"]
    rtt_ms: float | None = None  # None until RTCP measured one


class QualityEvent(_Event, frozen=True, tag="quality"):
    # The worker's latest sample of a connected call (gateway/quality.py); a leg is
    # None when it has no figures (the echo test has no SIP leg).
    call_id: str = ""
    browser: QualityLeg | None = None
    sip: QualityLeg | None = None


class Pong(_Event, frozen=True, tag="pong"):
    pass


Event = (Hello | LineOwnerEvent | LineEvent | AnswerSdp | CallEvent | ErrorEvent | WorkEvent
         | AgentStateEvent | CallerIdsEvent | QualityEvent | Pong)

_encoder = msgspec.json.Encoder()


def encode_event(event: Event) -> str:
    return _encoder.encode(event).decode()
