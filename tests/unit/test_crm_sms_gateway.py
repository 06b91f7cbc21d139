"""crm.sms_gateway: the body template fills in the number and any text safely for each
format (hypothesis), and the form's checks refuse what would not work, naming every field."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.sms_gateway import (
    SmsGateway,
    SmsGatewayInvalid,
    TokenChange,
    clean_form,
    render_body,
)

GOOD = {"url": "https://sms.example.com/send", "method": "POST", "body_format": "json",
        "body_template": '{"to": "{to}", "text": "{text}", "from": "Headset"}',
        "message": "We missed your call."}


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=200))
def test_any_text_survives_each_format(text: str) -> None:
    body = render_body('{"to": "{to}", "text": "{text}"}', "json", "+34911234567", text)
    assert json.loads(body) == {"to": "+34911234567", "text": text}
    form = parse_qs(render_body("to={to}&msg={text}", "form", "+34911234567", text),
                    keep_blank_values=True)
    assert form["to"] == ["+34911234567"] and form["msg"] == [text]
    assert render_body("{to}|{text}", "text", "+1", text) == f"+1|{text}"


def test_only_the_two_placeholders_are_filled_and_only_once() -> None:
    assert render_body("{to} {text} {other} {text.__class__}", "text", "+1", "{to}") == \
        "+1 {to} {other} {text.__class__}"


def test_a_good_form_saves_and_an_empty_url_turns_the_gateway_off() -> None:
    gateway, token = clean_form(GOOD, SmsGateway(), TokenChange(new="tok-1"))
    assert gateway.configured and token == "tok-1"
    off, token = clean_form({**GOOD, "url": "", "body_template": "", "message": ""},
                            gateway, TokenChange())
    assert not off.configured and token is None


@pytest.mark.parametrize(("field", "value", "key"), [
    ("url", "ftp://sms.example.com/", "sms.error.url"),
    ("url", "https://user:pw@sms.example.com/", "sms.error.url"),
    ("url", "https://", "sms.error.url"),
    ("method", "DELETE", "sms.error.method"),
    ("body_format", "xml", "sms.error.body_format"),
    ("body_template", '{"to": "{to}"}', "sms.error.template_placeholders"),
    ("body_template", '{"to": {to}, "text": "{text}"}', "sms.error.template_json"),
    ("body_template", "", "sms.error.template_needed"),
    ("message", "", "sms.error.message_needed"),
    ("message", "x" * 481, "sms.error.message"),
])
def test_each_bad_field_is_named(field: str, value: str, key: str) -> None:
    with pytest.raises(SmsGatewayInvalid) as caught:
        clean_form({**GOOD, field: value}, SmsGateway(), TokenChange())
    assert caught.value.errors[field].key == key


def test_a_token_with_spaces_is_refused_and_clearing_removes_it() -> None:
    with pytest.raises(SmsGatewayInvalid) as caught:
        clean_form(GOOD, SmsGateway(), TokenChange(new="two words"))
    assert caught.value.errors["token"].key == "sms.error.token"
    kept = SmsGateway(token_encrypted="cipher")
    assert clean_form(GOOD, kept, TokenChange())[0].token_encrypted == "cipher"
    assert clean_form(GOOD, kept, TokenChange(clear=True))[0].token_encrypted == ""
    assert "cipher" not in repr(kept)
