"""``GET /api/callerid?number=...``: who is calling, for the softphone at ring time.

The answer is ``{"number", "kind", "matches": [{"id", "name", "company"}]}`` and nothing
more: ``number`` is the E.164 (or the extension's digits, or "" when unreadable),
``kind`` is ``number``/``extension``/``unknown``. No matches means "create a contact or
add the number to one" (/contacts/new?number=..., /contacts?add_number=...).
"""

from __future__ import annotations

from aiohttp import web

from crm import callerid
from web.appkeys import DB, DEPLOYMENT
from web.auth import login_required

# What a PBX could sensibly present; longer input is unreadable anyway.
MAX_NUMBER = 64


@login_required
async def callerid_lookup(request: web.Request) -> web.StreamResponse:
    settings = request.app[DEPLOYMENT].current
    raw = request.query.get("number", "")
    if len(raw) > MAX_NUMBER:
        raw = ""
    found = await callerid.match(request.app[DB], raw, settings.region, settings.area_code)
    return web.json_response({
        "number": found.number,
        "kind": found.kind,
        "matches": [{"id": m.id, "name": m.name, "company": m.company_name}
                    for m in found.matches],
    }, headers={"Cache-Control": "no-store"})
