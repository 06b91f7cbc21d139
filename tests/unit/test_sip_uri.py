import pytest

from sip_bridge.uri import parse_remote, request_uri


@pytest.mark.parametrize(("header", "number", "name"), [
    ('"Ana Pérez" <sip:+34911234567@pbx.example>', "+34911234567", "Ana Pérez"),
    ("<sip:1001@127.0.0.1:5060;transport=udp>", "1001", ""),
    ("sip:48221234567@trunk", "48221234567", ""),
    ('Bob <sip:200@pbx>', "200", "Bob"),
    ('"Say \\"hi\\"" <sip:1@x>', "1", 'Say "hi"'),
    ("<tel:+5511987654321>", "+5511987654321", ""),
    ("garbage", "", ""),
])
def test_parse_remote(header: str, number: str, name: str) -> None:
    assert parse_remote(header) == (number, name)


def test_request_uri_refuses_unsafe_targets() -> None:
    assert request_uri("+34911", "pbx.example") == "sip:+34911@pbx.example"
    with pytest.raises(ValueError):
        request_uri("1001>;evil", "pbx")
