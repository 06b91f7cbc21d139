"""Which caller ID a dial may present (pure decision) and how the header reads."""

from __future__ import annotations

import pytest

from gateway import signalling
from gateway.lines import _Refused, presented_number

ALLOWED = ("+34911000111", "600000000")


def test_an_allowed_number_is_presented_and_none_means_the_extension() -> None:
    assert presented_number("600000000", ALLOWED) == "600000000"
    assert presented_number("", ALLOWED) == ""
    assert presented_number("", ()) == ""


@pytest.mark.parametrize("number", ["+15550000000", "=cmd|' /C calc'!A0", "<script>",
                                    " +34911000111", "34911000111"])
def test_anything_else_is_refused(number: str) -> None:
    with pytest.raises(_Refused) as refused:
        presented_number(number, ALLOWED)
    assert refused.value.code == "caller_id_not_allowed"


def test_the_dial_message_carries_an_optional_caller_id() -> None:
    dial = signalling.decode_command('{"type":"dial","target":"600","caller_id":"+349"}')
    assert isinstance(dial, signalling.Dial) and dial.caller_id == "+349"
    assert signalling.decode_command('{"type":"dial","target":"600"}') == signalling.Dial(
        target="600")
    with pytest.raises(signalling.BadMessage) as bad:
        signalling.decode_command('{"type":"dial","target":"600","caller_id":"%s"}' % ("1" * 65))
    assert bad.value.code == "caller_id_not_allowed"


def test_the_identity_header_names_the_pbx_domain() -> None:
    engine = pytest.importorskip("sip_bridge.engine")
    assert engine.presented_identity("+349", "sip:600@10.0.0.1:5060") == (
        "<sip:+349@10.0.0.1:5060>")
