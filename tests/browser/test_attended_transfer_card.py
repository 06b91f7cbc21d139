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


async def test_conference_from_the_card_and_hang_up_ends_it(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    page = await login(browser, server, "ana")
    await go_online(page)
    with Phone("target", tone_hz=TARGET_TONE, auto_answer=True) as target:
        assert await asyncio.to_thread(target.register, "1002", AGENTS["1002"],
                                       lab.kamailio.hostport) == 200
        async with call_to_a_phone(page, lab, tone=1500) as customer:
            await page.click("[data-action=transfer]")
            await page.fill(".sp-transfer input", "1002")
            await page.click(".sp-transfer [data-action=consult]")
            conference = page.locator("[data-action=consult-conference]:visible")
            await conference.wait_for(timeout=15000)
            await conference.click()
            cards = page.locator("article.sp-call[data-state=connected] .sp-call__direction")
            await page.wait_for_function(
                "() => [...document.querySelectorAll('article.sp-call .sp-call__direction')]"
                ".filter(e => e.textContent === 'Conference').length === 2", timeout=10000)
            assert await cards.count() == 2
            # The customer hears the target and the agent's microphone, mixed.
            assert await asyncio.to_thread(customer.wait_hears, TARGET_TONE, 8, 0.2)
            assert await asyncio.to_thread(target.wait_hears, 1500, 8, 0.2)
            shots = os.environ.get("HEADSET_SCREENSHOTS")
            if shots:
                await page.set_viewport_size({"width": 1366, "height": 768})
                await page.screenshot(path=str(Path(shots) / "conference-light.png"))
            await page.locator("article.sp-call [data-action=hangup]").first.click()
            await page.wait_for_function(
                "() => document.querySelectorAll('article.sp-call[data-state=ended]').length === 2",
                timeout=15000)
            await asyncio.to_thread(customer.wait_state, "DISCONNECTED", 10)
