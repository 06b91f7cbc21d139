"""Error pages: an HTTP error a person's browser would show as a bare line of text is
rendered as a page in their language instead. JSON clients keep the plain error.
Unexpected exceptions are logged with their traceback and shown as a generic page.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from web.auth import wants_html
from web.csrf import CsrfRejected
from web.templating import render

log = logging.getLogger(__name__)


def _message_key(exc: web.HTTPException) -> str:
    if isinstance(exc, CsrfRejected):
        return "error.csrf"
    return {403: "error.forbidden", 404: "error.not_found"}.get(exc.status, "error.generic")


@web.middleware
async def error_page_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        # Redirects and successes raised as exceptions pass through untouched.
        if exc.status < 400 or not wants_html(request):
            raise
        return render("error.html", request, {"message_key": _message_key(exc)},
                      status=exc.status)
    except Exception:
        log.exception("error handling %s %s", request.method, request.path)
        if not wants_html(request):
            raise
        return render("error.html", request, {"message_key": "error.generic"}, status=500)
