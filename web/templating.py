"""Jinja2 pages: templates in web/templates, autoescaped, with what every page needs.

Every template gets ``t(key, **params)`` (translate into the request's language),
``lang``, ``user`` (or None), ``csrf_token`` and ``path``, plus ``time_zone`` and
``phone_region`` for the formatting filters (web/formatting.py). Undefined
names are errors, so a typo in a template fails a test instead of rendering nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import jinja2
from aiohttp import web

from web import csrf, formatting, i18n
from web.appkeys import DEPLOYMENT
from web.auth import current_lang, current_user
from web.missed_badge import MISSED_COUNT
from web.webkeys import TEMPLATES


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    formatting.install(env)
    return env


def setup_templates(app: web.Application) -> None:
    app[TEMPLATES] = make_environment()


def _page_context(request: web.Request) -> dict[str, Any]:
    lang = current_lang(request)
    return {
        "t": partial(i18n.translate, lang),
        "lang": lang,
        "user": current_user(request),
        "csrf_token": csrf.token(request),
        "path": request.path,
        "missed_count": request.get(MISSED_COUNT),
        "time_zone": formatting.deployment_zone(),
        "phone_region": request.app[DEPLOYMENT].current.region,
    }


def render(template: str, request: web.Request, context: Mapping[str, Any] | None = None,
           *, status: int = 200) -> web.Response:
    """Render a page into an HTML response."""
    page = request.app[TEMPLATES].get_template(template)
    html = page.render({**_page_context(request), **(context or {})})
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
