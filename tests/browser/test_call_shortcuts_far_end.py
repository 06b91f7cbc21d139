"""The softphone's in-call shortcuts as the far end sees them, in headless Chromium against
the real app, workers, Kamailio and a pjsua2 phone: Alt+Shift+M mutes (the phone stops
hearing the agent's tone, the agent still hears the phone) and unmutes, Alt+Shift+H
holds (the phone is put on hold by a re-INVITE) and takes off hold, Alt+Shift+K moves to
the keypad, Alt+Shift+X hangs up (the phone's call ends). The device test covers answer,
mute's badge and decline on a ringing call."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Browser

from tests.browser.conftest import BROWSER_TONE, login
from tests.browser.test_softphone import ROOT, call_to_a_phone, go_online, hears, state
from tests.conftest import Lab
from tests.lab.phone import Phone
from tests.support.server import RunningServer

PHONE_TONE = 1500


def _stops_hearing(phone: Phone, freq: float, timeout: float = 8) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not phone.hears(freq):
            return True
        time.sleep(0.1)
    return False


async def test_mute_hold_keypad_and_hang_up_by_keyboard_reach_the_far_end(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    page = await login(browser, server, "ana")
    await go_online(page)
    async with call_to_a_phone(page, lab, tone=PHONE_TONE) as phone:
        assert await asyncio.to_thread(phone.wait_hears, BROWSER_TONE, 8)
        await page.focus("body")

        await page.keyboard.press("Alt+Shift+KeyM")
        await state(page, "muted", "true")
        assert await asyncio.to_thread(_stops_hearing, phone, BROWSER_TONE), \
            "the phone still hears a muted agent"
        assert await hears(page, PHONE_TONE), "muting silenced the phone for the agent too"
        await page.keyboard.press("Alt+Shift+KeyM")
        await state(page, "muted", "false")
        assert await asyncio.to_thread(phone.wait_hears, BROWSER_TONE, 8)

        await page.keyboard.press("Alt+Shift+KeyH")
        await asyncio.to_thread(phone.wait_remote_hold, True, 8)
        # The page learns of the hold from the server after the re-INVITE went out.
        await page.wait_for_selector(f"{ROOT} [data-action=hold][aria-pressed=true]")
        await page.keyboard.press("Alt+Shift+KeyH")
        await asyncio.to_thread(phone.wait_remote_hold, False, 8)
        assert await asyncio.to_thread(phone.wait_hears, BROWSER_TONE, 8)

        await page.keyboard.press("Alt+Shift+KeyK")
        assert await page.evaluate(
            "() => Boolean(document.activeElement.closest('section.softphone')) &&"
            " (document.activeElement.id === 'softphone-number'"
            "  || document.activeElement.classList.contains('sp-key'))")

        await page.keyboard.press("Alt+Shift+KeyX")
        await state(page, "call-state", "ended")
        await asyncio.to_thread(phone.wait_state, "DISCONNECTED", 8)
