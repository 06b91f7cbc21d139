"""Typed keys for what the application object carries (aiohttp ``AppKey``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web as aioweb

from crm.deployment import LiveDeployment
from gateway.settings import Settings

if TYPE_CHECKING:
    from crm.db import Database

SETTINGS = aioweb.AppKey("settings", Settings)
DB: aioweb.AppKey[Database] = aioweb.AppKey("db")
# The deployment settings in force (TOML defaults until an admin saves /admin/settings).
DEPLOYMENT = aioweb.AppKey("deployment", LiveDeployment)
# The gateway's routing object (gateway.lines.Lines); typed loosely to keep web/ free of it.
LINES: aioweb.AppKey[Any] = aioweb.AppKey("lines")
