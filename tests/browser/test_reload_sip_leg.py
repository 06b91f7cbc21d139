"""A reload during a call to a real phone (pjsua2, through Kamailio), in headless Chromium
against the real app and workers: the new page opens a new RTCPeerConnection to the same
SIP leg (the phone sees no new call and no hang-up), and the tone is heard again both
ways. The softphone test's reload uses the echo test, which has no SIP leg."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Browser

from tests.browser.conftest import BROWSER_TONE, login
from tests.browser.test_softphone import (
    ROOT,
    hears,
    online_in_a_call_heard_both_ways,
    state,
)
from tests.conftest import Lab
from tests.lab.phone import Phone
from tests.support.server import RunningServer

PHONE_TONE = 1500
MARK_PC = """async () => {
  const boot = await import("/static/softphone-boot.js");
  window.__oldPc = boot.softphone.pc;
  return Boolean(window.__oldPc);
}"""


def _heard_since(phone: Phone, since: float, frames: int = 25, timeout: float = 8) -> bool:
    """Whether ``frames`` 20 ms frames holding the page's tone reach ``phone`` after
    ``since`` (polled until ``timeout``)."""
    deadline = since + timeout
    while time.monotonic() < deadline:
        if phone.tone_gaps(BROWSER_TONE, since, time.monotonic())["heard"] >= frames:
            return True
        time.sleep(0.1)  # a polling interval, not a wait for readiness
    return False


async def test_a_reload_reattaches_to_the_same_sip_leg(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    page = await login(browser, server, "ana")
    async with online_in_a_call_heard_both_ways(page, lab, PHONE_TONE) as (phone, call_id):
        assert await page.evaluate(MARK_PC)
        seen = len(phone.events())
        started = time.monotonic()
        await page.reload()
        await state(page, "call-state", "connected")
        assert await page.get_attribute(ROOT, "data-call-id") == call_id
        await state(page, "pc-state", "connected")
        # A new document, so a new peer connection (the old one went with the old page).
        assert await page.evaluate("() => window.__oldPc === undefined")
        assert await hears(page, PHONE_TONE), "the page does not hear the phone again"
        print(f"\nreload -> phone's tone heard again: {time.monotonic() - started:.2f} s")
        # Tone frames arriving at the phone after the new page heard it: ``wait_hears``
        # alone would be met by the old page's tone still in its one-second window.
        assert await asyncio.to_thread(_heard_since, phone, time.monotonic()), \
            "the phone does not hear the page again"
        # The same SIP leg throughout: no new call reached the phone, none ended.
        changes = [e for e in phone.events()[seen:]
                   if e.get("event") == "incoming"
                   or (e.get("event") == "call_state" and e.get("state") == "DISCONNECTED")]
        assert changes == []
        await page.click("section.softphone [data-action=hangup]")
        await state(page, "call-state", "ended")
        await asyncio.to_thread(phone.wait_state, "DISCONNECTED")
