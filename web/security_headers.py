"""Response headers that make the browser refuse what the pages never need.

The Content-Security-Policy allows scripts and styles from this origin only, no inline
script, and no framing; ``connect-src 'self'`` covers the same-origin WebSocket. The
microphone is allowed for this origin only (the softphone), camera and the rest not.
Dynamic pages are not cached: they show a person's data.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

STATIC_PREFIX = "/static/"


def _apply(request: web.Request, headers: CIMultiDict[str]) -> None:
    for name, value in HEADERS.items():
        headers.setdefault(name, value)
    if not request.path.startswith(STATIC_PREFIX):
        headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def security_headers_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _apply(request, exc.headers)
        raise
    if not response.prepared:
        _apply(request, response.headers)
    return response
