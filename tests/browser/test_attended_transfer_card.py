"""Attended transfer from the call card, in Chromium, with two real pjsua2 phones."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from playwright.async_api import Browser

from tests.conftest import AGENTS, Lab
from tests.lab.phone import Phone
from tests.support.server import RunningServer

from .conftest import login
from .test_softphone import call_to_a_phone, go_online, hears, state

TARGET_TONE = 2200


async def test_consult_then_complete_from_the_card(browser: Browser, server: RunningServer,
                                                   lab: Lab) -> None:
    page = await login(browser, server, "ana")
    await go_online(page)
    with Phone("target", tone_hz=TARGET_TONE, auto_answer=True) as target:
        assert await asyncio.to_thread(target.register, "1002", AGENTS["1002"],
                                       lab.kamailio.hostport) == 200
        async with call_to_a_phone(page, lab, tone=1500) as customer:
            await page.click("[data-action=transfer]")
            await page.fill(".sp-transfer input", "1002")
            await page.click(".sp-transfer [data-action=consult]")
            complete = page.locator("[data-action=consult-complete]:visible")
            await complete.wait_for(timeout=15000)
            assert await hears(page, TARGET_TONE), "the agent does not hear the target"
            assert await asyncio.to_thread(customer.wait_hears, 440, 5)  # music on hold
            shots = os.environ.get("HEADSET_SCREENSHOTS")
            if shots:
                await page.set_viewport_size({"width": 1366, "height": 768})
                await page.screenshot(path=str(Path(shots) / "consult-light.png"))
                await page.emulate_media(color_scheme="dark")
                await page.screenshot(path=str(Path(shots) / "consult-dark.png"))
            await complete.click()
            ended = page.locator("article.sp-call[data-state=ended][data-reason=transferred]")
            await ended.nth(1).wait_for(timeout=15000)
            assert await ended.count() == 2
            assert await asyncio.to_thread(customer.wait_hears, TARGET_TONE, 8)
            await asyncio.to_thread(customer.hangup)
        await state(page, "call-state", "ended")
