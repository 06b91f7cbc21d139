import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import signalling
from gateway.signalling import BadMessage, decode_command


def test_valid_commands_decode_to_types() -> None:
    assert decode_command('{"v":1,"type":"dial","target":"+34 911 23 45 67"}') == (
        signalling.Dial(target="+34 911 23 45 67"))
    assert isinstance(decode_command('{"type":"online"}'), signalling.Online)
    assert decode_command('{"v":1,"type":"hangup","call_id":"c1"}') == signalling.Hangup(
        call_id="c1")


@pytest.mark.parametrize(("text", "code", "ref"), [
    ("not json", "malformed_message", ""),
    ("[1, 2]", "malformed_message", ""),
    ('{"type":"launch"}', "unknown_message", "launch"),
    ('{"type":"dial","target":5}', "invalid_message", "dial"),
    ('{"type":"dial","target":"1","extra":1}', "invalid_message", "dial"),
    ('{"v":2,"type":"ping"}', "unsupported_version", "ping"),
    ('{"type":"dial","target":"   "}', "invalid_number", "dial"),
    ('{"type":"dial","target":"' + "1" * 65 + '"}', "invalid_number", "dial"),
    ('{"type":"offer","sdp":"hello"}', "invalid_sdp", "offer"),
    ('{"type":"answer"}', "invalid_message", "answer"),
])
def test_bad_messages_say_what_is_wrong(text: str, code: str, ref: str) -> None:
    with pytest.raises(BadMessage) as error:
        decode_command(text)
    assert error.value.code == code
    assert error.value.ref == ref


def test_oversized_message_is_refused_before_parsing() -> None:
    with pytest.raises(BadMessage) as error:
        decode_command('{"type":"offer","sdp":"' + "x" * signalling.MAX_MESSAGE_BYTES + '"}')
    assert error.value.code == "message_too_large"


@given(st.text(max_size=300))
def test_any_text_either_decodes_or_raises_bad_message(text: str) -> None:
    try:
        decode_command(text)
    except BadMessage as error:
        assert error.code


@given(st.dictionaries(st.sampled_from(["v", "type", "target", "sdp", "call_id", "x"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=20),
                                 st.lists(st.integers(), max_size=3))))
def test_any_json_object_either_decodes_or_raises_bad_message(raw: dict[str, object]) -> None:
    import json

    try:
        decode_command(json.dumps(raw))
    except BadMessage as error:
        assert error.code


def test_events_encode_with_version_and_type() -> None:
    text = signalling.encode_event(signalling.CallEvent(call_id="c", state="ringing"))
    assert text.startswith('{"type":"call","v":1')
