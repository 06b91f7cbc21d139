"""Administration pages (admin role only)."""

from __future__ import annotations

from aiohttp import web

from crm import users
from crm.users import Role
from web.appkeys import DB
from web.auth import role_required
from web.templating import render


@role_required(Role.ADMIN)
async def user_list(request: web.Request) -> web.StreamResponse:
    return render("admin_users.html", request, {"users": await users.list_users(request.app[DB])})
