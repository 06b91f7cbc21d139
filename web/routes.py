"""URL map of the web pages, and the static files."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web.views import admin, login, pages, profile

STATIC_DIR = Path(__file__).parent / "static"


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", pages.home, name="home")
    app.router.add_get("/login", login.login_form, name="login")
    app.router.add_post("/login", login.login_submit)
    app.router.add_post("/logout", login.logout, name="logout")
    app.router.add_get("/profile/password", profile.password_form, name="password")
    app.router.add_post("/profile/password", profile.password_submit)
    app.router.add_get("/admin/users", admin.user_list, name="admin_users")
    app.router.add_get("/i18n/softphone.json", pages.softphone_messages,
                       name="softphone_messages")
    app.router.add_static("/static", STATIC_DIR, name="static")
