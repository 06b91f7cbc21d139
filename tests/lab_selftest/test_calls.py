"""Calls through Kamailio between real phones and SIPp lines and callers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.lab import sipp
from tests.lab.kamailio import Kamailio
from tests.lab.phone import Phone

from .conftest import USERS


@contextmanager
def registered(
    kam: Kamailio, user: str, tone_hz: float, auto_answer: bool = True
) -> Iterator[Phone]:
    with Phone(user, tone_hz=tone_hz, auto_answer=auto_answer) as phone:
        assert phone.register(user, USERS[user], kam.hostport) == 200
        yield phone
        assert phone.live_calls() == [], "a call outlived its test"


def test_phones_hear_each_other(kamailio: Kamailio, alice: Phone, bob: Phone) -> None:
    alice.call(f"sip:bob@{kamailio.hostport}")
    assert bob.wait_incoming()["from"].startswith("<sip:alice@")
    alice.wait_state("CONFIRMED")
    bob.wait_state("CONFIRMED")
    assert alice.wait_hears(1500), "alice does not hear bob's 1500 Hz"
    assert bob.wait_hears(1000), "bob does not hear alice's 1000 Hz"
    assert not alice.hears(1000)
    bob.hangup()  # BYE from the callee crosses the proxy the other way
    assert alice.wait_state("DISCONNECTED")["code"] == 200
    bob.wait_state("DISCONNECTED")


def test_unknown_and_unregistered_targets(kamailio: Kamailio, alice: Phone) -> None:
    alice.call(f"sip:nobody@{kamailio.hostport}")
    assert alice.wait_state("DISCONNECTED")["code"] == 404
    alice.call(f"sip:bob@{kamailio.hostport}")  # a user, but not registered
    assert alice.wait_state("DISCONNECTED")["code"] == 480


def test_phone_hears_itself_from_echo_line() -> None:
    with sipp.uas_echo() as line, Kamailio(USERS, {"5000": line.hostport}) as kam:
        with registered(kam, "alice", 1000) as alice:
            alice.call(f"sip:5000@{kam.hostport}")
            alice.wait_state("CONFIRMED")
            assert alice.wait_hears(1000)
            alice.hangup()
            alice.wait_state("DISCONNECTED")
        result = line.wait(5)
        assert result.ok, result


def test_busy_line_gives_486() -> None:
    with sipp.uas_busy() as line, Kamailio(USERS, {"5000": line.hostport}) as kam:
        with registered(kam, "alice", 1000) as alice:
            alice.call(f"sip:5000@{kam.hostport}")
            assert alice.wait_state("DISCONNECTED")["code"] == 486
        assert line.wait(5).ok


def test_far_end_hangs_up() -> None:
    with sipp.uas_hangup(after_ms=1000) as line, Kamailio(USERS, {"5000": line.hostport}) as kam:
        with registered(kam, "alice", 1000) as alice:
            alice.call(f"sip:5000@{kam.hostport}")
            alice.wait_state("CONFIRMED")
            assert alice.wait_state("DISCONNECTED", timeout=5)["code"] == 200
        assert line.wait(5).ok


def test_caller_cancels_unanswered_line() -> None:
    with sipp.uas_noanswer() as line, Kamailio(USERS, {"5000": line.hostport}) as kam:
        with registered(kam, "alice", 1000) as alice:
            alice.call(f"sip:5000@{kam.hostport}")
            assert alice.wait_state("EARLY")["code"] == 180
            alice.hangup()
            assert alice.wait_state("DISCONNECTED")["code"] == 487
        assert line.wait(5).ok


def test_trunk_call_is_answered_and_heard(kamailio: Kamailio) -> None:
    with registered(kamailio, "alice", 1500) as alice:
        with sipp.uac_call(kamailio.hostport, "alice", hold_ms=2000, tone_hz=1000) as caller:
            incoming = alice.wait_incoming()
            assert incoming["from"].startswith(f"<sip:{sipp.TRUNK_CALLER}@")
            alice.wait_state("CONFIRMED")
            assert alice.wait_hears(1000), "the phone does not hear SIPp's tone"
            result = caller.wait(10)
            assert result.ok, result
        assert alice.wait_state("DISCONNECTED")["code"] == 200


def test_trunk_caller_cancels_ringing_phone(kamailio: Kamailio) -> None:
    with registered(kamailio, "alice", 1000, auto_answer=False) as alice:
        with sipp.uac_cancel(kamailio.hostport, "alice", ring_ms=300) as caller:
            alice.wait_incoming()
            assert alice.wait_state("EARLY")["code"] == 180
            result = caller.wait(10)
            assert result.ok, result
        assert alice.wait_state("DISCONNECTED")["code"] == 487
