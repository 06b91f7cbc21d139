"""Sending one SMS through the HTTP gateway an administrator set (crm/sms_gateway.py).

A thin adapter: the body comes from ``render_body``, the token goes in an
``Authorization: Bearer`` header, and the answer is reduced to what the row's history
keeps: accepted or not, and the HTTP status. Nothing here logs or returns the token, the
body or the gateway's text (which might echo either); a failure without an answer is
named by its exception class only.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from crm.sms_gateway import CONTENT_TYPES, SmsGateway, render_body

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status: int | None     # the gateway's HTTP status; None when it did not answer
    reason: str = ""       # why there was no answer (an exception's class name)


async def send(gateway: SmsGateway, token: str, to: str, text: str,
               timeout: float = TIMEOUT_SECONDS) -> SendResult:
    """Post the SMS; any 2xx answer is success."""
    headers = {"Content-Type": CONTENT_TYPES[gateway.body_format]}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = render_body(gateway.body_template, gateway.body_format, to, text)
    limit = aiohttp.ClientTimeout(total=timeout)
    try:
        async with aiohttp.ClientSession(timeout=limit) as http, http.request(
                gateway.method, gateway.url, data=body.encode("utf-8"), headers=headers,
                allow_redirects=False) as resp:
            await resp.read()
            return SendResult(200 <= resp.status < 300, resp.status)
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        return SendResult(False, None, type(exc).__name__)
