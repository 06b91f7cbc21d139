"""``setup_web(app)``: everything the web layer adds to the application, in one call.

The application must carry ``app[SETTINGS]`` and (through ``crm.db.database_ctx``)
``app[DB]``. Middlewares run outermost first: security headers on every answer, then
error pages, then who the user is, then the CSRF check, which needs the session.
"""

from __future__ import annotations

from aiohttp import web

from crm.passwords import DEFAULT_HASHING, PasswordHashing
from crm.secret_key import SecretBox, load_or_create_key
from web.appkeys import SETTINGS
from web.auth import auth_middleware
from web.csrf import csrf_middleware
from web.deployment_setup import install as install_deployment
from web.deployment_setup import zone_middleware
from web.errors import error_page_middleware
from web.missed_badge import missed_count_middleware
from web.ratelimit import LoginRateLimiter
from web.routes import setup_routes
from web.security_headers import security_headers_middleware
from web.templating import setup_templates
from web.webkeys import LOGIN_LIMITER, PASSWORD_HASHING, SECRET_BOX


def setup_web(
    app: web.Application,
    *,
    hashing: PasswordHashing | None = None,
    limiter: LoginRateLimiter | None = None,
    box: SecretBox | None = None,
) -> None:
    """Install templates, middlewares, routes and the web layer's shared objects.

    ``box`` defaults to the deployment key in ``settings.data_dir``.
    """
    app[PASSWORD_HASHING] = hashing or DEFAULT_HASHING
    app[SECRET_BOX] = box or load_or_create_key(app[SETTINGS].data_dir)
    app[LOGIN_LIMITER] = limiter or LoginRateLimiter()
    install_deployment(app)
    setup_templates(app)
    app.middlewares.extend([
        security_headers_middleware,
        zone_middleware,
        error_page_middleware,
        auth_middleware,
        csrf_middleware,
        missed_count_middleware,
    ])
    setup_routes(app)
