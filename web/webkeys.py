"""Typed keys for what the web layer keeps on the application and on each request.

Other packages read the request's user and language through ``web.auth.current_user``
and ``web.auth.current_lang`` rather than these keys.
"""

from __future__ import annotations

import jinja2
from aiohttp import web as aioweb

from crm.passwords import PasswordHashing
from crm.secret_key import SecretBox
from crm.users import User
from web.ratelimit import LoginRateLimiter
from web.sessions import Session

PASSWORD_HASHING = aioweb.AppKey("password_hashing", PasswordHashing)
LOGIN_LIMITER = aioweb.AppKey("login_limiter", LoginRateLimiter)
TEMPLATES = aioweb.AppKey("templates", jinja2.Environment)
# Encrypts the SIP passwords admins type; the web layer never decrypts.
SECRET_BOX = aioweb.AppKey("secret_box", SecretBox)

USER: aioweb.RequestKey[User | None] = aioweb.RequestKey("user")
SESSION: aioweb.RequestKey[Session | None] = aioweb.RequestKey("session")
LANG = aioweb.RequestKey("lang", str)
# A CSRF token made for an anonymous page; the middleware sets its cookie.
NEW_ANON_CSRF = aioweb.RequestKey("new_anon_csrf", str)
