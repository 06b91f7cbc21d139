"""SMS from a missed-call row through a real HTTP gateway: an aiohttp server on 127.0.0.1
(its own free port) stands in for the SMS provider and keeps what it receives.

Proven here: an admin sets the gateway through the form (token write-only, encrypted);
the SMS arrives with the row's number and the agent's text; a 500 from the gateway, or
no gateway listening, is recorded in the row's history and told to the agent in their
language; with no gateway the SMS is recorded as sent by hand; the token appears in no
page, JSON answer or log line; bad settings are refused field by field, saving nothing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from crm import sms_gateway, users
from gateway.settings import Settings
from tests.lab.ports import free_tcp_port
from tests.support.web_client import Client, page_client
from tests.unit.test_web_http import FAST, HTML, PASSWORD, csrf_in, login
from tests.unit.test_web_missed import NUMBER, call
from web.appkeys import DB

TOKEN = "smsTOKEN-5e1d-never-shown"


@dataclass
class Sink:
    """The SMS provider: answers ``status`` and keeps every request."""

    url: str
    status: int = 200
    received: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    box = Sink("")

    async def receive(request: web.Request) -> web.Response:
        box.received.append({"method": request.method, "path": request.path,
                             "auth": request.headers.get("Authorization", ""),
                             "type": request.headers.get("Content-Type", ""),
                             "body": await request.text()})
        return web.json_response({"id": "m-1"} if box.status < 300 else {"error": "down"},
                                 status=box.status)

    app = web.Application()
    app.router.add_route("*", "/send", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_tcp_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    box.url = f"http://127.0.0.1:{port}/send"
    try:
        yield box
    finally:
        await runner.cleanup()


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with page_client(Settings(data_dir=str(tmp_path), region="ES"), PASSWORD,
                           FAST) as test_client:
        yield test_client


async def _token(client: Client, path: str = "/") -> str:
    return csrf_in(await (await client.get(path, headers=HTML)).text())


async def _configure(client: Client, address: str, **extra: str) -> tuple[int, str]:
    await login(client, "root")
    form = {"url": address, "method": "POST", "body_format": "json",
            "body_template": '{"to": "{to}", "message": "{text}", "sender": "Headset"}',
            "message": "Le llamamos enseguida.", "token": TOKEN, **extra}
    resp = await client.post("/admin/sms", headers=HTML, allow_redirects=False,
                             data={**form, "csrf_token": await _token(client, "/admin/sms")})
    return resp.status, await resp.text()


async def _send(client: Client, text: str) -> str:
    resp = await client.post("/missed/action", headers=HTML, allow_redirects=False, data={
        "key": NUMBER, "action": "sms", "back": "/missed", "sms_text": text,
        "csrf_token": await _token(client)})
    assert resp.status == 303
    return resp.headers["Location"]


def _history(page: str) -> list[str]:
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", item)).strip()
            for item in re.findall(r'<li class="entry-[^"]*">(.*?)</li>', page, re.S)]


async def test_the_sms_reaches_the_gateway_and_a_500_is_recorded_and_told(
        client: Client, sink: Sink, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await call(client, "911234567", ago=120)
    status, _ = await _configure(client, sink.url)
    assert status == 303
    stored = await sms_gateway.load(client.app[DB])
    assert stored.configured and stored.token_encrypted and TOKEN not in stored.token_encrypted
    agent = await users.get_by_username(client.app[DB], "agent")
    assert agent is not None
    await users.update_user(client.app[DB], agent.id, language="es")
    await login(client, "agent")
    page = await (await client.get("/missed", headers=HTML)).text()
    assert "Enviar SMS" in page and "Le llamamos enseguida." in page  # the default text

    text = 'Hola, "Lucía": le llamamos a las 15:00 {text} <b>'
    location = await _send(client, text)
    assert location == "/missed?done=sms_sent"
    [got] = sink.received
    assert got["method"] == "POST" and got["path"] == "/send"
    assert got["auth"] == f"Bearer {TOKEN}" and got["type"] == "application/json"
    assert json.loads(got["body"]) == {"to": NUMBER, "message": text, "sender": "Headset"}
    page = await (await client.get(location, headers=HTML)).text()
    assert "SMS enviado por la pasarela." in page
    assert "SMS enviado · la pasarela respondió 200" in _history(page)[0]

    sink.status = 500
    location = await _send(client, "Segundo intento")
    assert location == "/missed?done=sms_failed&code=500"
    assert len(sink.received) == 2
    page = await (await client.get(location, headers=HTML)).text()
    assert "La pasarela de SMS respondió 500: el SMS no se envió." in page
    assert "SMS no enviado · la pasarela respondió 500" in _history(page)[0]
    # The row's status is still the SMS that went through (a failed one is not "sent").
    assert "SMS enviado</span>" in page and page.count("data-sms-failure") == 1

    # The token is in no page, JSON answer or log line.
    await login(client, "root")
    for path in ("/admin/sms", "/missed", "/missed?view=all", "/api/missed/count", "/admin"):
        body = await (await client.get(path, headers=HTML)).text()
        assert TOKEN not in body, path
    assert TOKEN not in caplog.text
    assert "SMS from a missed-call row: failed 500" in caplog.text


async def test_a_gateway_that_does_not_answer_is_recorded_as_such(client: Client) -> None:
    await call(client, NUMBER, ago=60)
    closed = f"http://127.0.0.1:{free_tcp_port()}/send"  # nothing listens there
    assert (await _configure(client, closed))[0] == 303
    await login(client, "agent")
    location = await _send(client, "hola")
    assert location.startswith("/missed?done=sms_failed&code=Client")
    page = await (await client.get(location, headers=HTML)).text()
    assert "The SMS gateway did not answer (ClientConnectorError)" in page
    assert "SMS not sent · gateway did not answer" in _history(page)[0]


async def test_without_a_gateway_the_sms_is_recorded_as_sent_by_hand(client: Client) -> None:
    await call(client, NUMBER, ago=60)
    await login(client, "agent")
    page = await (await client.get("/missed", headers=HTML)).text()
    assert "Send SMS" not in page and "has no SMS gateway" in page
    assert await _send(client, "") == "/missed?done=sms"
    page = await (await client.get("/missed", headers=HTML)).text()
    assert "SMS sent · recorded by hand" in _history(page)[0]


async def test_bad_text_sends_nothing_and_records_nothing(client: Client, sink: Sink) -> None:
    await call(client, NUMBER, ago=60)
    assert (await _configure(client, sink.url))[0] == 303
    await login(client, "agent")
    location = await _send(client, "x" * 481)
    assert location == "/missed?done=sms_text"
    page = await (await client.get(location, headers=HTML)).text()
    assert "Write the SMS text (at most 480 characters). Nothing was sent." in page
    assert sink.received == [] and not any("SMS" in h for h in _history(page))


@pytest.mark.parametrize(("changes", "message"), [
    ({"url": "ftp://sms.example.com/"}, "Give an http://"),
    ({"body_template": '{"to": "{to}"}'}, "must contain both {to} and {text}"),
    ({"body_template": '{"to": {to}, "text": "{text}"}'}, "must be valid JSON"),
    ({"token": "two words"}, "without spaces"),
])
async def test_bad_settings_are_refused_and_nothing_is_saved(
        client: Client, changes: dict[str, str], message: str) -> None:
    status, page = await _configure(client, "https://sms.example.com/send", **changes)
    assert status == 400 and message in page
    assert not (await sms_gateway.load(client.app[DB])).configured
    assert "two words" not in page and TOKEN not in page


async def test_only_admins_change_the_gateway_and_only_with_the_token(client: Client) -> None:
    await login(client, "sup")
    assert (await client.get("/admin/sms", headers=HTML)).status == 403
    resp = await client.post("/admin/sms", headers=HTML, allow_redirects=False,
                             data={"url": "", "csrf_token": await _token(client)})
    assert resp.status == 403
    await login(client, "root")
    resp = await client.post("/admin/sms", headers=HTML, allow_redirects=False,
                             data={"url": "", "method": "POST", "body_format": "json"})
    assert resp.status == 403  # no CSRF token
