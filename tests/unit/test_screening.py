import pytest
from hypothesis import given
from hypothesis import strategies as st

from sip_bridge.screening import REFUSED, screen, source_host, user_agent

PBX = frozenset({"10.0.0.5", "::1"})
INVITE = "INVITE sip:1001@10.0.0.9 SIP/2.0\r\nUser-Agent: {ua}\r\nCall-ID: x\r\n\r\n"


@pytest.mark.parametrize(("address", "host"), [
    ("10.0.0.5:5060", "10.0.0.5"), ("[::1]:5060", "::1"), ("10.0.0.5", "10.0.0.5")])
def test_source_host(address: str, host: str) -> None:
    assert source_host(address) == host


def test_the_pbx_may_ring_agents() -> None:
    assert screen("10.0.0.5:5060", INVITE.format(ua="Asterisk PBX 20"), PBX) is None
    assert screen("[::1]:5080", INVITE.format(ua="Kamailio"), PBX) is None


def test_anyone_else_is_refused() -> None:
    assert screen("203.0.113.7:5060", INVITE.format(ua="Asterisk PBX 20"), PBX) == REFUSED


@pytest.mark.parametrize("ua", ["friendly-scanner", "sipvicious 0.3", "SIPCLI/v1.8",
                                "VaxSIPUserAgent/3.1"])
def test_scanners_are_refused_even_through_the_pbx(ua: str) -> None:
    assert screen("10.0.0.5:5060", INVITE.format(ua=ua), PBX) == REFUSED


def test_user_agent_header_is_read_case_insensitively() -> None:
    assert user_agent("INVITE x\r\nuser-agent:  Foo 1\r\n") == "Foo 1"
    assert user_agent("INVITE x\r\n\r\n") == ""


@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode(errors="replace"))),
       st.text(), st.frozensets(st.text(max_size=20), max_size=4))
def test_screening_any_datagram_never_raises(message: str, source: str,
                                             trusted: frozenset[str]) -> None:
    assert screen(source, message, trusted) in (None, REFUSED)
    assert "\n" not in user_agent(message).strip("\r")
