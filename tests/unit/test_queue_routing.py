"""gateway/queue_routing.py: the queue number a PBX sends with an inbound INVITE."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.queue_routing import called_number


def _invite(*headers: str) -> str:
    return "\r\n".join(["INVITE sip:1001@127.0.0.1:25060 SIP/2.0",
                        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1",
                        "From: <sip:+34600111222@pbx>;tag=1", "To: <sip:1001@pbx>",
                        *headers, "Content-Length: 0", "", ""])


def test_the_headers_are_read_in_their_order() -> None:
    assert called_number(_invite()) == ""
    assert called_number(_invite("Diversion: <sip:600@pbx>;reason=unconditional")) == "600"
    assert called_number(_invite("P-Called-Party-ID: <tel:+34910000600>",
                                 "Diversion: <sip:600@pbx>")) == "+34910000600"
    assert called_number(_invite("Diversion: <sip:600@pbx>", "X-Headset-Queue: ventas",
                                 "P-Called-Party-ID: sip:601@pbx")) == "ventas"
    # Case of the header name does not matter; the first Diversion is the latest.
    assert called_number(_invite("diversion: \"Queue\" <sip:700@pbx>",
                                 "Diversion: <sip:701@pbx>")) == "700"


def test_junk_is_no_queue_and_the_body_is_not_read() -> None:
    assert called_number(_invite("X-Headset-Queue: <javascript:alert(1)>")) == ""
    assert called_number(_invite("X-Headset-Queue: " + "9" * 41)) == ""
    # Falls through to the next header when one is unusable.
    assert called_number(_invite("X-Headset-Queue: a b", "Diversion: <sip:600@pbx>")) == "600"
    body = _invite().replace("Content-Length: 0\r\n\r\n", "Content-Length: 20\r\n\r\n"
                             "X-Headset-Queue: 600")
    assert called_number(body) == ""


@given(st.text(max_size=300))
def test_any_message_gives_a_short_plain_token_or_nothing(junk: str) -> None:
    number = called_number(_invite(f"X-Headset-Queue: {junk}", f"Diversion: {junk}"))
    assert len(number) <= 40 and all(c.isascii() and not c.isspace() for c in number)
