"""Turning what a worker reports about a SIP leg into call-record events (pure)."""

from __future__ import annotations

from crm.call_flow import Answered, Ended, Event, Progress, Reason


def leg_event(status: str, code: int, side: str, inbound_unanswered: bool) -> Event | None:
    """The record event for a leg report, or ``None`` if the record does not change.

    ``inbound_unanswered``: an inbound call still ringing at the agent, where a local
    hang-up means the agent declined it.
    """
    if status == "ringing":
        return Progress(code if 101 <= code <= 199 else 180)
    if status == "connected":
        return Answered()
    if status != "disconnected":
        return None
    sip_code = code if 100 <= code <= 699 else None
    if side == "local":
        reason: Reason = "rejected" if inbound_unanswered else "hangup"
        return Ended(reason=reason, sip_code=sip_code, side="agent")
    if sip_code is None or sip_code < 300 or sip_code == 487:
        # BYE after the answer (pjsua reports 200) or the caller's CANCEL (487).
        return Ended(reason="hangup", sip_code=sip_code, side="remote")
    if sip_code == 408:
        return Ended(reason="timeout", sip_code=sip_code, side="remote")
    return Ended(reason="sip_error", sip_code=sip_code, side="remote")


def registration_reason(status: str, code: int) -> str:
    """A translation key telling the agent why registration failed."""
    if status != "failed":
        return ""
    if code in (401, 403, 407):
        return "reg_wrong_password"
    if code in (408, 502, 503, 504) or code == 0 or code >= 70000:
        return "reg_unreachable"
    return "reg_failed"
