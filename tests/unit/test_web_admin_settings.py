"""HTTP tests of the deployment settings page (/admin/settings) and its live effect."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from crm import contacts, deployment
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database
from tests.lab.ports import free_tcp_port
from tests.support.web_client import HOSTILE, HTML, Client, app_db, csrf_in, login, post_form
from web.appkeys import DB, DEPLOYMENT
from web.webkeys import SECRET_BOX

SMTP_SECRET = "smtp-Secret-7d21aa"
GOOD = {
    "region": "BR", "area_code": "11", "target_talk_seconds": "240",
    "company_name": "  Acme   Atendimento ", "language": "en", "time_zone": "America/Sao_Paulo",
    "missed_retention_days": "14", "smtp_host": "smtp.example.com", "smtp_port": "587",
    "smtp_security": "starttls", "smtp_from": "headset@example.com", "smtp_user": "mailer",
    "smtp_password": SMTP_SECRET,
}


async def _save(client: Client, data: dict[str, str],
                headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """POST the settings form: (status, body, Location)."""
    return await post_form(client, "/admin/settings", data, headers=headers)


async def test_defaults_come_from_the_file_until_saved(client: Client) -> None:
    await login(client, "root")
    page = await (await client.get("/admin/settings", headers=HTML)).text()
    assert '<option value="ES" selected>' in page
    assert '<option value="en" selected>' in page
    assert await deployment.load(app_db(client), deployment.Deployment()) == deployment.Deployment()


async def test_admin_saves_and_it_applies_at_once(client: Client) -> None:
    await login(client, "root")
    status, _, location = await _save(client, {**GOOD, "language": "pt-BR"})
    assert (status, location) == (303, "/admin/settings?done=saved")
    live = client.app[DEPLOYMENT].current
    assert (live.region, live.area_code, live.language) == ("BR", "11", "pt-BR")
    assert live.company_name == "Acme Atendimento" and live.target_talk_seconds == 240
    assert live.missed_retention_days == 14
    stored = await deployment.load(app_db(client), deployment.Deployment())
    assert stored == live
    # Encrypted at rest, with the deployment key.
    assert SMTP_SECRET not in stored.smtp_password_encrypted
    assert client.app[SECRET_BOX].decrypt(stored.smtp_password_encrypted) == SMTP_SECRET

    # The caller-ID API reads the local number with the new area code (BR, 11).
    await contacts.create_contact(app_db(client), ContactDraft(
        kind=ContactKind.PERSON, name="Cliente Paulista",
        phones=(ContactPhone(PhoneLabel.MOBILE, "+5511987654321"),)))
    found = await (await client.get("/api/callerid?number=987654321")).json()
    assert found["number"] == "+5511987654321" and found["matches"][0]["name"] == (
        "Cliente Paulista")


async def test_default_language_applies_to_users_without_one(client: Client) -> None:
    await login(client, "root")
    assert (await _save(client, {**GOOD, "language": "pl"}))[0] == 303
    client.session.cookie_jar.clear()
    page = await (await client.get("/login", headers={**HTML, "Accept-Language": "de"})).text()
    assert 'lang="pl"' in page
    # A browser language we speak still wins over the default.
    page = await (await client.get("/login", headers={**HTML, "Accept-Language": "es"})).text()
    assert 'lang="es"' in page


@pytest.mark.parametrize(("field", "value", "message"), [
    ("region", "XX", "Choose a country or region from the list."),
    ("area_code", "11a", "The area code must be 1 to 5 digits, or empty."),
    ("target_talk_seconds", "5", "Enter whole seconds from 10 to 3600."),
    ("target_talk_seconds", "\uff19\uff10", "Enter whole seconds from 10 to 3600."),
    ("company_name", "Acme\u202eevil", "characters that cannot be shown"),
    ("company_name", "x" * 101, "at most 100 characters"),
    ("language", "de", "Choose one of the languages in the list."),
    ("missed_retention_days", "0", "Enter whole days from 1 to 365."),
    ("smtp_host", "smtp.example.com:25", "without spaces or a port"),
    ("smtp_port", "70000", "Enter a port number from 1 to 65535."),
    ("smtp_security", "ssl3", "connection security option"),
    ("smtp_from", "a@b.com\r\nBcc: x@y.com", "Enter one e-mail address"),
    ("smtp_from", "", "enter the sender address too"),
])
async def test_a_bad_value_is_named_and_nothing_is_saved(client: Client, field: str, value: str,
                                                         message: str) -> None:
    await login(client, "root")
    before = client.app[DEPLOYMENT].current
    status, page, _ = await _save(client, {**GOOD, field: value})
    assert status == 400
    assert message in page
    assert f'href="#{field}"' in page  # the summary links to the field
    assert client.app[DEPLOYMENT].current == before
    assert await deployment.load(app_db(client), deployment.Deployment()) == deployment.Deployment()
    assert SMTP_SECRET not in page


async def test_errors_in_the_users_language_and_hostile_input_escaped(client: Client) -> None:
    await login(client, "root")
    status, page, _ = await _save(client, {**GOOD, "company_name": HOSTILE, "area_code": "x"},
                                  headers={**HTML, "Accept-Language": "es"})
    # root has no language: Accept-Language (es) decides.
    assert status == 400
    assert "El prefijo debe tener de 1 a 5 dígitos" in page
    assert HOSTILE not in page and "&lt;script&gt;" in page


async def test_smtp_password_is_write_only(client: Client) -> None:
    await login(client, "root")
    await _save(client, GOOD)
    page = await (await client.get("/admin/settings", headers=HTML)).text()
    stored = client.app[DEPLOYMENT].current.smtp_password_encrypted
    assert SMTP_SECRET not in page and stored not in page
    assert "Leave empty to keep the saved password" in page
    # An empty field keeps it; the clear box removes it.
    await _save(client, {**GOOD, "smtp_password": ""})
    assert client.app[DEPLOYMENT].current.smtp_password_encrypted == stored
    await _save(client, {**GOOD, "smtp_password": "", "smtp_password_clear": "1"})
    assert client.app[DEPLOYMENT].current.smtp_password_encrypted == ""
    # An error page after typing a password does not echo it either.
    status, page, _ = await _save(client, {**GOOD, "smtp_port": "0"})
    assert status == 400 and SMTP_SECRET not in page
    await _save(client, {**GOOD, "smtp_password": SMTP_SECRET})
    stored = client.app[DEPLOYMENT].current.smtp_password_encrypted
    for path in ("/", "/profile", "/missed", "/missed/stats", "/admin/users", "/contacts",
                 "/admin/settings", "/api/missed/count"):
        body = await (await client.get(path, headers=HTML)).text()
        assert SMTP_SECRET not in body and stored not in body, path


@pytest.mark.parametrize("username", ["agent", "sup"])
async def test_only_admins(client: Client, username: str) -> None:
    await login(client, username)
    assert (await client.get("/admin/settings", headers=HTML)).status == 403
    status, _, _ = await _save(client, GOOD)
    assert status == 403
    assert await deployment.load(app_db(client), deployment.Deployment()) == deployment.Deployment()
    home = await (await client.get("/", headers=HTML)).text()
    assert 'href="/admin/settings"' not in home


async def test_anonymous_and_csrf(client: Client) -> None:
    resp = await client.get("/admin/settings", headers=HTML, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login")
    await login(client, "root")
    resp = await client.post("/admin/settings", headers=HTML, data=GOOD)
    assert resp.status == 403
    resp = await client.post("/admin/settings", headers={**HTML, "Origin": "http://evil.example"},
                             data={**GOOD, "csrf_token": csrf_in(
                                 await (await client.get("/", headers=HTML)).text())})
    assert resp.status == 403
    assert client.app[DEPLOYMENT].current.region == "ES"


def test_languages_match_the_catalogues() -> None:
    from web import i18n

    assert deployment.LANGUAGES == i18n.LANGUAGES


@pytest.fixture
def sink() -> Iterator[tuple[list[Message], int]]:
    received: list[Message] = []

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session,
                              envelope: Envelope) -> str:
            received.append(message_from_bytes(envelope.original_content or b"",
                                               policy=policy.default))
            return "250 OK"

    port = free_tcp_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield received, port
    finally:
        controller.stop()


async def test_test_email_uses_the_saved_smtp_settings(
        client: Client, sink: tuple[list[Message], int]) -> None:
    received, port = sink
    await login(client, "root")

    async def send(to: str) -> tuple[int, str, str]:
        token = csrf_in(await (await client.get("/", headers=HTML)).text())
        resp = await client.post("/admin/settings/test-mail", headers=HTML,
                                 allow_redirects=False, data={"csrf_token": token, "test_to": to})
        return resp.status, await resp.text(), resp.headers.get("Location", "")

    status, page, _ = await send("me@example.com")
    assert status == 400 and "Enter and save an SMTP server" in page
    await _save(client, {**GOOD, "smtp_host": "127.0.0.1", "smtp_port": str(port),
                         "smtp_security": "none", "smtp_user": "", "smtp_password": ""})
    status, page, _ = await send("not an address")
    assert status == 400 and "Enter one e-mail address" in page and received == []
    status, _, location = await send("me@example.com")
    assert (status, location) == (303, "/admin/settings?done=mail_sent")
    assert [m["To"] for m in received] == ["me@example.com"]
    assert received[0]["Subject"] == "Test e-mail from Headset (Acme Atendimento)"
    # A server that refuses the connection: said plainly, with the settings kept.
    await _save(client, {**GOOD, "smtp_host": "127.0.0.1", "smtp_port": str(free_tcp_port()),
                         "smtp_security": "none", "smtp_user": "", "smtp_password": ""})
    status, page, _ = await send("me@example.com")
    assert status == 400 and "The e-mail could not be sent (ConnectionRefusedError)" in page
    await client.post("/logout", headers=HTML, data={"csrf_token": csrf_in(page)})
    await login(client, "sup")
    status, _, _ = await send("me@example.com")
    assert status == 403 and len(received) == 1


async def test_the_time_zone_applies_to_pages_and_a_wrong_one_changes_nothing(
        client: Client) -> None:
    import re
    from datetime import UTC, datetime

    from crm import call_records, users

    db: Database = client.app[DB]
    root = await users.get_by_username(db, "root")
    assert root is not None
    await users.update_user(db, root.id, language="es")  # 24-hour times
    # 12:00 UTC on a winter day: 13:00 in Madrid, 09:00 in São Paulo.
    await call_records.create(db, "zone-call", root.id, "inbound", "1001", "+34911234567",
                              "", datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    await login(client, "root")

    async def shown() -> str:
        page = await (await client.get("/history", headers=HTML)).text()
        match = re.search(r'<time datetime="2026-01-15T12:00:00[^"]*">([^<]+)</time>', page)
        assert match, "the call is not listed"
        return match[1]

    assert await shown() == "15/1/26, 12:00"
    status, page, _ = await _save(client, {**GOOD, "time_zone": "Mars/Olympus_Mons"})
    assert status == 400 and "no es una zona horaria" in page
    assert client.app[DEPLOYMENT].current.time_zone == "UTC"
    assert (await _save(client, {**GOOD, "time_zone": "Europe/Madrid"}))[0] == 303
    assert await shown() == "15/1/26, 13:00"
    assert (await _save(client, {**GOOD, "time_zone": "America/Sao_Paulo"}))[0] == 303
    assert await shown() == "15/1/26, 9:00"
