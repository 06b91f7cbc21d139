"""The home page, and the messages the softphone component shows."""

from __future__ import annotations

from aiohttp import web

from web import i18n
from web.auth import current_lang, login_required
from web.templating import render

# The softphone shows its own strings and the call outcomes.
SOFTPHONE_PREFIXES = ("softphone.", "call.outcome.")


@login_required
async def home(request: web.Request) -> web.StreamResponse:
    return render("home.html", request)


@login_required
async def softphone_messages(request: web.Request) -> web.StreamResponse:
    lang = current_lang(request)
    messages: dict[str, str] = {}
    for prefix in SOFTPHONE_PREFIXES:
        messages.update(i18n.messages(lang, prefix))
    return web.json_response({"lang": lang, "messages": messages})
