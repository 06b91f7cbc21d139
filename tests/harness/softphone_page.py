"""A page with the softphone and a fake ``/ws``, for looking at the component and testing it.

    python -m tests.harness.softphone_page --port 8765     # then open http://127.0.0.1:8765/

The fake server decodes every command with the real ``gateway.signalling.decode_command``,
so a command the component gets wrong comes back as the same ``error`` the server sends.
It answers commands like a small, happy server (online -> registering -> registered, dial ->
dialing -> ringing -> connected, hangup -> ended) but never answers an ``offer``: a test
can make the answer itself and push it with ``POST /_harness/emit``.

Page query: ``lang`` (en, es, pt-BR, pl), ``script`` (``demo`` plays hello, registered,
an inbound ringing call, connected, ended; ``manual``, the default, stops after hello and
line offline), ``dialer=0`` hides the dialer as an admin would. Control routes for tests:
``POST /_harness/emit`` sends a JSON event (or a list) to every socket, ``GET
/_harness/commands`` lists the commands received, ``POST /_harness/reset`` forgets them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from gateway import signalling

STATIC_DIR = Path(__file__).resolve().parents[2] / "web" / "static"
LANGUAGES = ("en", "es", "pt-BR", "pl")
USER = "Ana Souza (201)"
ECHO_NUMBER = "*43"
CALLER = {"remote": "+55 11 98765-4321", "remote_name": "Maria Souza"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "media-src 'self' blob: mediastream:; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Headset softphone harness</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/harness.css">
<link rel="stylesheet" href="/static/softphone.css">
<script type="application/json" id="softphone-config">{{}}</script>
<script type="module" src="/static/softphone-boot.js"></script>
</head>
<body>
<header class="topbar"><strong>Headset</strong><span>Contacts</span><span>Calls</span>
<span>Callbacks</span></header>
<div class="layout">
<main>
<h1>Contacts</h1>
<p class="placeholder">The CRM page renders here.</p>
<div class="row"></div><div class="row"></div><div class="row short"></div>
</main>
<aside><div id="softphone-slot"></div></aside>
</div>
</body>
</html>
"""

HARNESS_CSS = """
:root { --page: #eef0f3; --page-fg: #1b2330; --line: #d9dde3; --card: #ffffff; }
@media (prefers-color-scheme: dark) {
  :root { --page: #0f1216; --page-fg: #e5e8ec; --line: #2a3139; --card: #171b21; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--page-fg);
  font: 14px/1.4 system-ui, sans-serif; }
.topbar { display: flex; gap: 20px; align-items: center; height: 48px; padding: 0 20px;
  border-bottom: 1px solid var(--line); background: var(--card); }
.topbar span { opacity: 0.7; }
.layout { display: grid; grid-template-columns: 1fr 336px; gap: 16px; padding: 16px; }
main { min-height: 560px; padding: 16px 20px; border: 1px solid var(--line);
  border-radius: 10px; background: var(--card); }
main h1 { margin: 0 0 8px; font-size: 18px; }
.placeholder { opacity: 0.6; }
.row { height: 36px; margin: 10px 0; border-radius: 6px; background: var(--line);
  opacity: 0.5; }
.row.short { width: 60%; }
aside { min-width: 0; }
"""


@dataclass
class Harness:
    """Sockets, received commands and the running scripts of one harness server."""

    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    commands: list[dict[str, Any]] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    call_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def broadcast(self, event: dict[str, Any]) -> None:
        for ws in list(self.sockets):
            await send(ws, event)


HARNESS = web.AppKey("harness", Harness)


async def send(ws: web.WebSocketResponse, event: dict[str, Any]) -> None:
    if not ws.closed:
        await ws.send_str(json.dumps({"v": signalling.VERSION, **event}))


async def page(request: web.Request) -> web.Response:
    lang = request.query.get("lang", "en")
    lang = lang if lang in LANGUAGES else "en"
    script = request.query.get("script", "manual")
    dialer = request.query.get("dialer", "1")
    response = web.Response(text=PAGE.format(lang=html.escape(lang)), content_type="text/html")
    response.headers["Content-Security-Policy"] = CSP
    # The socket learns its script the way the real one learns its user: from a cookie.
    response.set_cookie("harness_script", script, samesite="Strict", httponly=True)
    response.set_cookie("harness_dialer", dialer, samesite="Strict", httponly=True)
    return response


async def harness_css(request: web.Request) -> web.Response:
    return web.Response(text=HARNESS_CSS, content_type="text/css")


async def websocket(request: web.Request) -> web.WebSocketResponse:
    harness = request.app[HARNESS]
    ws = web.WebSocketResponse(max_msg_size=signalling.MAX_MESSAGE_BYTES * 2)
    await ws.prepare(request)
    harness.sockets.add(ws)
    script = request.cookies.get("harness_script", "manual")
    await send(
        ws,
        {
            "type": "hello",
            "user": USER,
            "dialer": request.cookies.get("harness_dialer", "1") != "0",
            "echo_number": ECHO_NUMBER,
            "ice_servers": [],
        },
    )
    if script == "demo":
        harness.spawn(demo(harness, ws))
    else:
        await send(ws, {"type": "line", "state": "offline", "reason": ""})
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await on_command(harness, ws, msg.data)
    finally:
        harness.sockets.discard(ws)
    return ws


async def on_command(harness: Harness, ws: web.WebSocketResponse, text: str) -> None:
    with contextlib.suppress(json.JSONDecodeError):
        harness.commands.append(json.loads(text))
    try:
        command = signalling.decode_command(text)
    except signalling.BadMessage as exc:
        await send(ws, {"type": "error", "code": exc.code, "message": str(exc), "ref": exc.ref})
        return
    match command:
        case signalling.Ping():
            await send(ws, {"type": "pong"})
        case signalling.Online():
            await send(ws, {"type": "line", "state": "registering", "reason": ""})
            harness.spawn(later(0.4, send(ws, {"type": "line", "state": "registered"})))
        case signalling.Offline():
            await send(ws, {"type": "line", "state": "offline", "reason": ""})
        case signalling.Dial(target=target):
            harness.spawn(outbound(harness, ws, target))
        case signalling.AnswerCall(call_id=call_id):
            await set_call(harness, ws, call_id, "connected")
        case signalling.RejectCall(call_id=call_id):
            await set_call(harness, ws, call_id, "ended", reason="rejected")
        case signalling.Hangup(call_id=call_id):
            call = harness.calls.get(call_id)
            reason = "completed" if call and call["state"] == "connected" else "cancelled"
            await set_call(harness, ws, call_id, "ended", reason=reason)
        case _:
            pass  # offers stay unanswered; see the module docstring


async def set_call(
    harness: Harness, ws: web.WebSocketResponse, call_id: str, state: str, reason: str = ""
) -> None:
    call = harness.calls.get(call_id)
    if call is None or call["state"] == "ended":
        await send(ws, {"type": "error", "code": "no_such_call", "message": "", "ref": ""})
        return
    call.update(state=state, reason=reason)
    await send(ws, {"type": "call", **call})


async def later(delay: float, coro: Any) -> None:
    await asyncio.sleep(delay)
    await coro


async def outbound(harness: Harness, ws: web.WebSocketResponse, target: str) -> None:
    call_id = f"c{next(harness.call_ids)}"
    call = {
        "call_id": call_id,
        "state": "dialing",
        "direction": "outbound",
        "remote": target,
        "remote_name": "",
        "reason": "",
    }
    harness.calls[call_id] = call
    await send(ws, {"type": "call", **call})
    for state, delay in (("ringing", 0.6), ("connected", 1.5)):
        await asyncio.sleep(delay)
        if call["state"] == "ended":
            return
        call["state"] = state
        await send(ws, {"type": "call", **call})


async def demo(harness: Harness, ws: web.WebSocketResponse) -> None:
    """hello (already sent), registered, an inbound call ringing, connected, ended."""
    await send(ws, {"type": "line", "state": "registered", "reason": ""})
    await asyncio.sleep(1.5)
    call_id = f"c{next(harness.call_ids)}"
    call = {"call_id": call_id, "state": "ringing", "direction": "inbound", **CALLER, "reason": ""}
    harness.calls[call_id] = call
    await send(ws, {"type": "call", **call})
    for _ in range(100):  # up to 10 s for Answer, then connected anyway (answered elsewhere)
        await asyncio.sleep(0.1)
        if call["state"] != "ringing":
            break
    if call["state"] == "ringing":
        await set_call(harness, ws, call_id, "connected")
    await asyncio.sleep(8)
    if call["state"] == "connected":
        await set_call(harness, ws, call_id, "ended", reason="completed")


async def emit(request: web.Request) -> web.Response:
    harness = request.app[HARNESS]
    body = await request.json()
    for event in body if isinstance(body, list) else [body]:
        if event.get("type") == "call" and event.get("call_id"):
            harness.calls[event["call_id"]] = {
                k: event.get(k, "")
                for k in ("call_id", "state", "direction", "remote", "remote_name", "reason")
            }
        await harness.broadcast(event)
    return web.json_response({"sockets": len(harness.sockets)})


async def commands(request: web.Request) -> web.Response:
    return web.json_response(request.app[HARNESS].commands)


async def reset(request: web.Request) -> web.Response:
    request.app[HARNESS].commands.clear()
    return web.json_response({})


async def _close_sockets(app: web.Application) -> None:
    harness = app[HARNESS]
    for task in list(harness.tasks):
        task.cancel()
    for ws in list(harness.sockets):
        await ws.close()


def make_app() -> web.Application:
    app = web.Application()
    app[HARNESS] = Harness()
    app.router.add_get("/", page)
    app.router.add_get("/harness.css", harness_css)
    app.router.add_get("/ws", websocket)
    app.router.add_post("/_harness/emit", emit)
    app.router.add_get("/_harness/commands", commands)
    app.router.add_post("/_harness/reset", reset)
    app.router.add_static("/static/", STATIC_DIR)
    app.on_shutdown.append(_close_sockets)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
