"""Call notes and a server crash: the real `headset serve` killed with SIGKILL while an
agent types in the call window (headless Chromium), then started again.

A note the page reported saved is on disk; one typed just before the kill is sent again
by the page once the server is back (the window retries, and keeps a local copy).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from crm import call_records, call_work
from crm.call_flow import Answered, Ended
from crm.db import open_database
from tests.conftest import Lab
from tests.lab.ports import free_tcp_port
from tests.reliability.test_crashes import PASSWORD, Server, headset, server_env
from tests.support.chromium import CHROMIUM, chromium_args

WINDOW = "#call-window"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args())
        try:
            yield chromium
        finally:
            await chromium.close()


async def _note_on_disk(db_path: Path, call_id: str, user_id: int, expected: str,
                        timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        db = await open_database(db_path)
        try:
            note = await call_work.get_note(db, call_id, user_id)
        finally:
            await db.close()
        body = note.body if note else ""
        if body == expected or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.2)


async def _open_call(page: Page, url: str, call_id: str) -> None:
    await page.goto(f"{url}/")
    await page.click(f".cw-list [data-call-id='{call_id}'] [data-action=cw-reopen]")
    await page.wait_for_selector(f"{WINDOW}[data-call-id='{call_id}'][data-state=ended]")


async def test_notes_survive_the_server_killed(browser: Browser, tmp_path: Path,
                                               lab: Lab) -> None:
    port = free_tcp_port()
    env = server_env(tmp_path / "data", lab, port)
    headset(env, "user", "add", "ana", "--dialer", stdin=PASSWORD + "\n")
    db_path = tmp_path / "data" / "headset.sqlite3"
    db = await open_database(db_path)
    try:
        row = await db.fetchone("SELECT id FROM users WHERE username = 'ana'")
        assert row is not None
        ana = int(row["id"])
        at = datetime.now(UTC) - timedelta(minutes=5)
        await call_records.create(db, "call-1", ana, "inbound", "1001", "+34911234567", "", at)
        await call_records.apply_event(db, "call-1", Answered(), at + timedelta(seconds=3))
        await call_records.apply_event(db, "call-1", Ended(reason="hangup", side="remote"),
                                       at + timedelta(seconds=90))
    finally:
        await db.close()

    server = Server(env, port, tmp_path / "server.log")
    try:
        await server.ready()
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"{server.url}/login")
        await page.fill("#username", "ana")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await _open_call(page, server.url, "call-1")

        # Saved, as the page says: the kill that follows cannot take it back.
        first = "Cliente pide la factura de marzo"
        await page.fill("#cw-notes", first)
        await page.wait_for_selector(f"{WINDOW}[data-note-state=saved]")
        server.process.send_signal(signal.SIGKILL)  # our own child
        server.process.wait()
        server.stop()
        assert await _note_on_disk(db_path, "call-1", ana, first, timeout=0) == first

        # Typed while the server is down: the page keeps it and retries.
        second = first + "; enviar por correo"
        await page.fill("#cw-notes", second)
        await page.wait_for_selector(f"{WINDOW}[data-note-state=failed]")
        server = Server(env, port, tmp_path / "server.log")
        await server.ready()
        assert await _note_on_disk(db_path, "call-1", ana, second) == second
        await page.wait_for_selector(f"{WINDOW}[data-note-state=saved]")

        # A fresh page shows it.
        again = await context.new_page()
        await _open_call(again, server.url, "call-1")
        assert await again.input_value("#cw-notes") == second
        await context.close()
    finally:
        server.stop()
