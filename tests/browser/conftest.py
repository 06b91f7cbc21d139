"""Headless Chromium (Debian's) with a tone file as its microphone, against the real app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, WebSocket, async_playwright

from tests.conftest import AGENTS, Lab, gateway_settings
from tests.lab.tone import write_tone_wav
from tests.support.chromium import CHROMIUM, chromium_args
from tests.support.server import PASSWORD, RunningServer, add_agent, running_server
from webrtc.ice import restrict_host_addresses

BROWSER_TONE = 1000


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    tone = write_tone_wav(tmp_path / "mic.wav", BROWSER_TONE, seconds=2.0)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args(tone))
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def server(tmp_path: Path, lab: Lab) -> AsyncIterator[RunningServer]:
    restrict_host_addresses(["127.0.0.1"])
    settings = gateway_settings(tmp_path / "data", lab.kamailio.hostport)
    await add_agent(settings, "ana", "1001", AGENTS["1001"])
    await add_agent(settings, "nuria", None, language="es")
    async with running_server(settings) as running:
        yield running
        assert running.lines.active_calls() == 0


async def login(browser: Browser, server: RunningServer, username: str) -> Page:
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type in ("error", "warning")
            else None)
    page.errors = errors  # type: ignore[attr-defined]

    def record(ws: WebSocket) -> None:
        errors.append(f"ws open {ws.url}")
        ws.on("framesent", lambda payload: errors.append(f"> {str(payload)[:120]}"))
        ws.on("framereceived", lambda payload: errors.append(f"< {str(payload)[:120]}"))
        ws.on("close", lambda _ws: errors.append("ws closed"))

    page.on("websocket", record)
    await page.goto(f"{server.url}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("section.softphone")
    return page
