"""crm.missed_call_mail: the message, and the mailer against a real SMTP server on
loopback (aiosmtpd) with login, one e-mail per new missed call."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from crm import call_records, clock, missed_call_mail, missed_call_store, users
from crm.call_flow import Ended
from crm.db import Database
from crm.deployment import Deployment, LiveDeployment
from crm.missed_call_mail import MissedCallMailer, compose
from crm.missed_calls import MissedRow
from crm.secret_key import load_or_create_key
from tests.lab.ports import free_tcp_port
from tests.support.gateway import FAST_HASHING
from web import i18n

SMTP_PASSWORD = "smtp-pw-51c9"


@dataclass
class Sink:
    messages: list[Message] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or b"",
                                                policy=policy.default))
        return "250 OK"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password.decode() == SMTP_PASSWORD)


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    handler = Sink()
    port = free_tcp_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            authenticator=handler.authenticate, auth_require_tls=False)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _row(name: str = "", key: str = "+34911234567") -> MissedRow:
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    return MissedRow(key=key, number=key, name=name, first_at=at, last_at=at, count=3,
                     hidden=False, closure=None, closed_at=None, closed_by=None, timeline=(),
                     last_call_id="c1")


def test_message_in_the_subscribers_language_with_hostile_text_neutralised() -> None:
    settings = Deployment(region="ES", smtp_from="headset@example.com", smtp_host="x",
                          company_name="Acme")
    message = compose(_row(name="Eve\r\nBcc: victim@example.com"), "ana@example.com", "es",
                      settings, i18n.translate)
    assert message["Subject"] == "Llamada perdida de 911 23 45 67"
    assert message["Bcc"] is None and message["To"] == "ana@example.com"
    text = message.as_string()
    assert "\nBcc:" not in text
    body = message.get_body(("plain",))
    assert body is not None
    content = body.get_content()
    assert "Eve  Bcc: victim@example.com" in content
    assert "pendientes: 3" in content and "Acme" in content
    withheld = compose(_row(key="anonymous"), "ana@example.com", "pl", settings,
                       i18n.translate)
    assert withheld["Subject"] == "Nieodebrane połączenie od anonymous"


async def _missed(db: Database, user_id: int, remote: str, ended_ago: float) -> None:
    call_id = str(uuid.uuid4())
    start = clock.utc_now() - timedelta(seconds=ended_ago + 20)
    await call_records.create(db, call_id, user_id, "inbound", "1001", remote, "", start)
    await call_records.apply_event(db, call_id, Ended(reason="timeout", side="system"),
                                   start + timedelta(seconds=20))


async def test_mailer_logs_in_sends_once_per_new_missed_call(
        db: Database, tmp_path: Path, sink: tuple[Sink, int]) -> None:
    handler, port = sink
    box = load_or_create_key(tmp_path)
    agent = await users.create_user(db, "ana", "password 123", hashing=FAST_HASHING,
                                    language="pt-BR")
    sup = await users.create_user(db, "sue", "password 123", hashing=FAST_HASHING,
                                  role="supervisor")
    await missed_call_store.set_subscription(db, agent.id, "ana@example.com")
    await missed_call_store.set_subscription(db, sup.id, "sue@example.com")
    live = LiveDeployment(Deployment(region="ES", language="en"))
    start = clock.utc_now() - timedelta(minutes=5)
    mailer = MissedCallMailer(db, live, box, i18n.translate, since=start)

    await _missed(db, agent.id, "911234567", ended_ago=10)
    # Without SMTP settings nothing is sent (and nothing is marked as sent).
    assert await mailer.check(clock.utc_now()) == 0

    await live.save(db, box, replace(
        live.current, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
        smtp_from="headset@example.com", smtp_user="mailer"), SMTP_PASSWORD, None)
    mailer = MissedCallMailer(db, live, box, i18n.translate, since=start)
    assert await mailer.check(clock.utc_now()) == 2
    assert handler.logins == [("mailer", SMTP_PASSWORD)] * 2
    assert sorted(m["To"] for m in handler.messages) == ["ana@example.com", "sue@example.com"]
    by_to = {m["To"]: m["Subject"] for m in handler.messages}
    assert by_to["ana@example.com"] == "Chamada perdida de 911 23 45 67"
    assert by_to["sue@example.com"] == "Missed call from 911 23 45 67"
    # Checked again (or by a second mailer after a restart): nothing new, nothing sent.
    assert await mailer.check(clock.utc_now()) == 0
    again = MissedCallMailer(db, live, box, i18n.translate, since=start)
    assert await again.check(clock.utc_now()) == 0
    # A leg that just ended waits: the PBX may still ring another agent for that call.
    await _missed(db, agent.id, "+34600000001", ended_ago=0.5)
    assert await mailer.check(clock.utc_now()) == 0
    assert await mailer.check(clock.utc_now() + timedelta(seconds=5)) == 2
    assert len(handler.messages) == 4


async def test_a_wrong_smtp_password_is_logged_without_the_password(
        db: Database, tmp_path: Path, sink: tuple[Sink, int],
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    _, port = sink
    # aiosmtpd holds the connection after a refused login; do not wait 15 s for it.
    monkeypatch.setattr(missed_call_mail, "SMTP_TIMEOUT", 2.0)
    box = load_or_create_key(tmp_path)
    agent = await users.create_user(db, "ana", "password 123", hashing=FAST_HASHING)
    await missed_call_store.set_subscription(db, agent.id, "ana@example.com")
    live = LiveDeployment(Deployment(region="ES"))
    await live.save(db, box, replace(
        live.current, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
        smtp_from="headset@example.com", smtp_user="mailer"), "wrong-secret-77", None)
    await _missed(db, agent.id, "911234567", ended_ago=10)
    mailer = MissedCallMailer(db, live, box, i18n.translate,
                              since=clock.utc_now() - timedelta(minutes=5))
    assert await mailer.check(clock.utc_now()) == 0
    assert "missed-call e-mail to user" in caplog.text and "failed" in caplog.text
    assert "wrong-secret-77" not in caplog.text
