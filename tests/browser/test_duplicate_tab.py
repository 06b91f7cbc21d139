"""A duplicated tab and the hint between tabs, in headless Chromium against the real app,
workers, Kamailio and a pjsua2 phone.

Chrome's "Duplicate tab" copies sessionStorage, tab id included. Here the copy is made the
way Chrome makes it: a second page of the same browser context whose sessionStorage holds
the first tab's id before any of its scripts run. The copy must not take the line (nor the
call on it); "Use here" must still move the call both ways; a tab whose socket has gone
deaf learns from the other tab, over the BroadcastChannel, that the line moved.
"""

from __future__ import annotations

import json
import re

from playwright.async_api import Browser, WebSocketRoute

from tests.conftest import Lab
from tests.support.server import RunningServer

from .conftest import login
from .test_softphone import call_to_a_phone, go_online, hears, state

PHONE_TONE = 1500
TAB_ID = "sessionStorage.getItem('headset.tab')"
# Mark the current RTCPeerConnection, then ask whether it is still the softphone's.
MARK_PC = """async () => {
  const boot = await import("/static/softphone-boot.js");
  window.__markedPc = boot.softphone.pc;
  return Boolean(boot.softphone.pc);
}"""
SAME_PC = """async () => {
  const boot = await import("/static/softphone-boot.js");
  return boot.softphone.pc !== null && boot.softphone.pc === window.__markedPc;
}"""


class DeafSocket:
    """Routes a page's softphone socket through the test, which can stop passing the
    server's messages to the page (the page still sends; the server still counts it)."""

    def __init__(self) -> None:
        self.deaf = False

    def route(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        server.on_message(lambda message: None if self.deaf else ws.send(message))


async def test_a_duplicated_tab_does_not_steal_the_line_and_use_here_still_works(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    first = await login(browser, server, "ana")
    await go_online(first)
    original = await first.evaluate(TAB_ID)
    assert original
    async with call_to_a_phone(first, lab, tone=PHONE_TONE):
        assert await hears(first, PHONE_TONE)
        assert await first.evaluate(MARK_PC)

        # The duplicate: same context, the original's sessionStorage copied before any
        # script runs (and only into an empty one, as Chrome copies it once).
        copy = await first.context.new_page()
        errors: list[str] = []
        copy.errors = errors  # type: ignore[attr-defined]
        copy.on("pageerror", lambda exc: errors.append(str(exc)))
        await copy.add_init_script(
            f"if (!sessionStorage.getItem('headset.tab'))"
            f" sessionStorage.setItem('headset.tab', {json.dumps(original)});")
        socket = DeafSocket()
        await copy.route_web_socket(re.compile(r"/ws(\?|$)"), socket.route)
        await copy.goto(f"{server.url}/contacts")
        await state(copy, "line-owner", "elsewhere")
        copied = await copy.evaluate(TAB_ID)
        assert copied and copied != original, "the copy kept the original's tab id"
        # The original still has the line, the call and the same audio path.
        await state(first, "line-owner", "here")
        await state(first, "call-state", "connected")
        assert await first.evaluate(SAME_PC), "the original's peer connection was replaced"
        assert await first.evaluate(TAB_ID) == original
        assert await hears(first, PHONE_TONE)

        # "Use here" in the copy moves the call to it.
        await copy.click("[data-action=use-here]")
        await state(copy, "line-owner", "here")
        await state(copy, "call-state", "connected")
        await state(first, "line-owner", "elsewhere")
        assert await hears(copy, PHONE_TONE), "the call's audio did not follow to the copy"

        # The copy's socket goes deaf; the original takes the line back. The server's
        # "not here any more" never reaches the copy: the hint from the original does.
        socket.deaf = True
        await first.click("[data-action=use-here]")
        await state(first, "line-owner", "here")
        await state(first, "call-state", "connected")
        await state(copy, "line-owner", "elsewhere")
        await state(copy, "pc-state", "none")
        assert await hears(first, PHONE_TONE)

        # A reload keeps each tab's own id (the copy is not asked to change again).
        socket.deaf = False
        await copy.reload()
        await state(copy, "line-owner", "elsewhere")
        assert await copy.evaluate(TAB_ID) == copied
        await state(first, "line-owner", "here")
        await first.click("section.softphone [data-action=hangup]")
        await state(first, "call-state", "ended")
    assert [e for e in errors if not e.startswith(("ws ", "<", ">"))] == []



async def test_use_here_recovers_a_tab_that_stood_down_on_a_stale_hint(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    page = await login(browser, server, "ana")
    await go_online(page)
    async with call_to_a_phone(page, lab, tone=PHONE_TONE):
        assert await hears(page, PHONE_TONE)
        # Another page of the browser claims, wrongly, that it took the line: the server
        # never moved it, so the tab that stood down is still the owner there.
        other = await page.context.new_page()
        await other.goto(f"{server.url}/static/favicon.svg")
        user = await page.evaluate(
            "async () => (await import('/static/softphone-boot.js')).softphone.user")
        await other.evaluate(
            """user => {
                 window.__channel = new BroadcastChannel("headset.tabs");  // kept: not collected
                 window.__channel.postMessage(
                   { type: "line_taken", by: "not-a-real-tab", user, at: Date.now() + 1000 });
               }""",
            user)
        await state(page, "line-owner", "elsewhere")
        await state(page, "pc-state", "none")
        # "Use here": the server, still counting this tab as the owner, sends the line
        # again, and the tab re-attaches to the same call.
        await page.click("[data-action=use-here]")
        await state(page, "line-owner", "here")
        await state(page, "call-state", "connected")
        await state(page, "pc-state", "connected")
        assert await hears(page, PHONE_TONE), "the call's audio did not come back"
        await page.click("section.softphone [data-action=hangup]")
        await state(page, "call-state", "ended")
