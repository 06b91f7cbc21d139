"""Fixtures for unit tests: the page client (see tests/support/web_client.py) and a scratch
database (tests/support/database.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm.db import Database
from gateway.settings import Settings
from tests.support.database import scratch_database
from tests.support.web_client import Client, page_client


@pytest.fixture
def page_settings(tmp_path: Path) -> Settings:
    """The settings the ``client`` fixture's app runs with; override in a module to change."""
    return Settings(data_dir=str(tmp_path))


@pytest.fixture
async def client(page_settings: Settings) -> AsyncIterator[Client]:
    """Pages over real HTTP with users root (admin), agent and sup (supervisor), all with
    the password PASSWORD."""
    async with page_client(page_settings) as test_client:
        yield test_client


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database with every migration applied, closed after the test."""
    async with scratch_database(tmp_path) as database:
        yield database
