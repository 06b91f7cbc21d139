"""Registration against the lab's Kamailio with real pjsua2 phones."""

from __future__ import annotations

import pytest

from tests.lab.kamailio import Kamailio, render_config, sip_options
from tests.lab.phone import Phone

from .conftest import USERS


def test_answers_options(kamailio: Kamailio) -> None:
    assert sip_options(kamailio.host, kamailio.port) == 200


def test_register_with_right_password(kamailio: Kamailio) -> None:
    with Phone("alice") as phone:
        assert phone.register("alice", USERS["alice"], kamailio.hostport) == 200


def test_register_with_wrong_password_is_refused(kamailio: Kamailio) -> None:
    with Phone("alice") as phone:
        assert phone.register("alice", "wrong", kamailio.hostport) == 403


def test_register_unknown_user_is_refused(kamailio: Kamailio) -> None:
    with Phone("mallory") as phone:
        assert phone.register("mallory", "whatever", kamailio.hostport) == 403


def test_config_refuses_values_that_need_quoting() -> None:
    with pytest.raises(ValueError):
        render_config("127.0.0.1", 5060, {'eve"': "x"}, {})
    with pytest.raises(ValueError):
        render_config("127.0.0.1", 5060, {}, {"100": "10.0.0.1:5060"})
