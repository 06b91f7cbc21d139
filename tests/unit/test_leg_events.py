import pytest

from crm.call_flow import Answered, Ended, Progress
from gateway.leg_events import leg_event, registration_reason


def test_progress_and_answer() -> None:
    assert leg_event("ringing", 183, "", False) == Progress(183)
    assert leg_event("ringing", 0, "", False) == Progress(180)
    assert leg_event("connected", 200, "", False) == Answered()
    assert leg_event("calling", 0, "", False) is None


@pytest.mark.parametrize(("code", "side", "inbound_unanswered", "expected"), [
    (200, "remote", False, Ended("hangup", 200, "remote")),
    (487, "remote", True, Ended("hangup", 487, "remote")),
    (486, "remote", False, Ended("sip_error", 486, "remote")),
    (408, "remote", False, Ended("timeout", 408, "remote")),
    (404, "remote", False, Ended("sip_error", 404, "remote")),
    (487, "local", False, Ended("hangup", 487, "agent")),
    (486, "local", True, Ended("rejected", 486, "agent")),
    (0, "remote", False, Ended("hangup", None, "remote")),
])
def test_disconnects(code: int, side: str, inbound_unanswered: bool, expected: Ended) -> None:
    assert leg_event("disconnected", code, side, inbound_unanswered) == expected


@pytest.mark.parametrize(("status", "code", "reason"), [
    ("registered", 200, ""),
    ("failed", 403, "reg_wrong_password"),
    ("failed", 401, "reg_wrong_password"),
    ("failed", 408, "reg_unreachable"),
    ("failed", 503, "reg_unreachable"),
    ("failed", 171060, "reg_unreachable"),
    ("failed", 404, "reg_failed"),
])
def test_registration_reasons(status: str, code: int, reason: str) -> None:
    assert registration_reason(status, code) == reason
