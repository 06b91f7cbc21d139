"""A call outlives the CRM pages: the agent moves between pages mid-call (links, back and
forward, a form sent) and the audio never stops, both ways, with a real pjsua2 phone
through Kamailio as the customer. Pages are swapped in the same document (soft
navigation, web/static/soft-nav.js), so the softphone's peer connection is never
re-opened; a second tab of the same agent waits until "Use here" moves the line to it.

How "never stops" is measured: the page records what the softphone plays (MediaRecorder
on its remote stream; the recording survives only if the document does), and the far end
keeps every frame it receives; both are searched for the longest stretch without the
other side's tone, 20 ms at a time. The same call then stays on one page for as long as
the page changes took (the control), and the breaks while moving are compared with the
control's. On this shared 2-core machine the breaks follow the machine's load (the line
worker and the lab phone are starved of CPU, and Chromium sends late), so the comparison
is asserted only when the machine is quiet and the control shows it (see
``QUIET_LOAD``); otherwise it is printed.

Set HEADSET_SCREENSHOTS=<folder> to keep light and dark screenshots of the waiting tab.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import av
import numpy as np
import pytest
from playwright.async_api import Browser, Page

from tests.browser.conftest import BROWSER_TONE, login
from tests.browser.test_softphone import (
    ROOT,
    call_to_a_phone,
    go_online,
    hears,
    online_in_a_call_heard_both_ways,
    state,
)
from tests.conftest import Lab
from tests.lab.tone import tone_present
from tests.support.server import RunningServer

PHONE_TONE = 1500
# The control lasts as long as the page changes took (a longer window holds longer
# breaks), within these bounds.
CONTROL_SECONDS = (5.0, 15.0)
# A quiet machine: the 1-minute load average (this test's own processes included) at
# most this at both ends of the measurement, and the control's longest break at most
# QUIET_CONTROL_MS both ways (a frame or two, as measured without moving on a quiet
# machine: 10 ms in the browser, 28-32 ms at the far end).
QUIET_LOAD = 3.0
QUIET_CONTROL_MS = 60
# Then moving may cost at most this over the control's longest break (quiet machine,
# last session: 39-90 ms at the far end against 28-32 without moving; 10 and 10 in the
# browser).
EXTRA_GAP_MS = 150

START_RECORDING = """() => {
  const stream = document.getElementById("softphone-remote-audio").srcObject;
  const chunks = [];
  const recorder = new MediaRecorder(stream, { mimeType: "audio/webm;codecs=opus" });
  recorder.ondataavailable = (event) => chunks.push(event.data);
  recorder.start(500);
  window.__navTest = { recorder, chunks, pc: null };
  return import("/static/softphone-boot.js")
    .then((boot) => { window.__navTest.pc = boot.softphone.pc; });
}"""

STOP_RECORDING = """async () => {
  const test = window.__navTest;
  if (!test) return null;  // the document was replaced: the recording is gone
  await new Promise((resolve) => { test.recorder.onstop = resolve; test.recorder.stop(); });
  const bytes = new Uint8Array(await new Blob(test.chunks).arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  const boot = await import("/static/softphone-boot.js");
  return { webm: btoa(text), samePc: boot.softphone.pc === test.pc };
}"""


def tone_times_ms(webm: bytes, freq: float) -> list[float]:
    """When the recording holds the tone at `freq`: the start (ms) of every 20 ms window,
    taken every 10 ms, in which it does."""
    with av.open(io.BytesIO(webm), mode="r") as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or 48000
        chunks = [frame.to_ndarray().astype(np.float64).reshape(-1, frame.samples).mean(axis=0)
                  for frame in container.decode(stream)]
    samples = np.concatenate(chunks)
    window, hop = rate // 50, rate // 100
    return [start * 1000 / rate for start in range(0, len(samples) - window, hop)
            if tone_present(samples[start:start + window], rate, freq, tolerance_hz=60)]


def longest_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch between `start` and `end` without one of `times`."""
    edges = [start, *(t for t in times if start < t < end), end]
    return max(b - a for a, b in itertools.pairwise(edges))


async def shown(page: Page, path: str) -> str:
    """Wait until the page at `path` is on screen (swapped in, scripts started); its title."""
    await page.wait_for_function(
        "p => location.pathname === p && !document.querySelector('main[aria-busy]')"
        " && document.activeElement && document.activeElement.closest('main')", arg=path)
    return await page.title()


@pytest.mark.timeout(240)
async def test_moving_between_pages_mid_call_never_interrupts_the_audio(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    page = await login(browser, server, "ana")
    async with online_in_a_call_heard_both_ways(page, lab, PHONE_TONE) as (phone, call_id):
        await page.evaluate(START_RECORDING)
        load_before = os.getloadavg()[0]
        since = time.monotonic()

        titles = {}
        for link in ("/contacts", "/history", "/missed", "/callbacks"):
            await page.click(f".topnav a[href='{link}']")
            titles[link] = await shown(page, link)
            # Keyboard and screen-reader users are on the new page's heading.
            assert await page.evaluate("document.activeElement.tagName") == "H1"
            assert await page.get_attribute(f".topnav a[href='{link}']", "aria-current") == "page"
        assert len(set(titles.values())) == 4, titles
        # Back twice and forward once, as the browser's buttons do.
        await page.go_back()
        assert await shown(page, "/missed") == titles["/missed"]
        await page.go_back()
        assert await shown(page, "/history") == titles["/history"]
        await page.go_forward()
        assert await shown(page, "/missed") == titles["/missed"]

        # A form sent mid-call: first with a mistake (the page says so, in place), then
        # right (the answer redirects to the new contact's page).
        await page.click(".topnav a[href='/contacts']")
        await shown(page, "/contacts")
        # By keyboard: the call window sits over this part of the page.
        await page.focus("main a[href='/contacts/new']")
        await page.keyboard.press("Enter")
        await shown(page, "/contacts/new")
        submit = "main form[action='/contacts/new'] button.primary"
        await page.focus(submit)
        await page.keyboard.press("Enter")
        await page.wait_for_selector("main .error-summary")
        assert await page.evaluate("document.activeElement.classList.contains('error-summary')")
        await page.fill("#name", "Marta Kowalska")
        await page.focus(submit)
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(r".*/contacts/\d+(\?.*)?$"))
        await shown(page, urlsplit(page.url).path)
        assert "Marta Kowalska" in await page.inner_text("main h1")
        # The contact page's own script ran for the swapped content (its calls section).
        await page.wait_for_selector("main [data-history-src] p.empty")

        # A page that cannot be fetched mid-call: the agent stays where they are, with
        # the call, and is told so; "Try again" opens it once it answers.
        await page.route("**/tickets", lambda route: route.abort())
        await page.click(".topnav a[href='/tickets']")
        notice = page.locator("#soft-nav-notice")
        await notice.wait_for()
        assert "call carries on" in await notice.inner_text()
        assert urlsplit(page.url).path.startswith("/contacts/")
        await page.unroute("**/tickets")
        await page.focus("[data-action=soft-nav-retry]")
        await page.keyboard.press("Enter")
        await shown(page, "/tickets")
        assert await notice.count() == 0

        await state(page, "call-state", "connected")
        assert await page.get_attribute(ROOT, "data-call-id") == call_id
        # The control: as long again of the same call without moving, to tell what
        # navigation costs from what a busy machine costs anyway. A measurement window,
        # not a wait for something to happen.
        moved = time.monotonic()
        low, high = CONTROL_SECONDS
        await asyncio.sleep(min(max(moved - since, low), high))
        until = time.monotonic()
        load_after = os.getloadavg()[0]
        recorded = await page.evaluate(STOP_RECORDING)
        assert recorded is not None, "a page was loaded for real: the document was replaced"
        assert recorded["samePc"], "the peer connection was replaced"
        heard = tone_times_ms(base64.b64decode(recorded["webm"]), PHONE_TONE)
        # The encoder's first and last 100 ms are left out.
        split = (moved - since) * 1000
        end = (until - since) * 1000
        here = (longest_gap(heard, 100, split), longest_gap(heard, split, end - 100))
        far = [(await asyncio.to_thread(phone.tone_gaps, BROWSER_TONE, a, b))["longest_gap_ms"]
               for a, b in ((since, moved), (moved, until))]
        quiet = (max(load_before, load_after) <= QUIET_LOAD
                 and max(here[1], far[1]) <= QUIET_CONTROL_MS)
        print(f"\nsoft navigation, 13 page changes in {moved - since:.1f} s: longest break in "
              f"the tone heard in the browser {here[0]:.0f} ms ({until - moved:.1f} s "
              f"without moving: {here[1]:.0f} ms), at the far end {far[0]:.0f} ms "
              f"({far[1]:.0f} ms); 1-minute load {load_before:.1f} -> {load_after:.1f}: "
              f"{'compared' if quiet else 'not compared (machine busy)'}")
        # That the line was never re-opened is what the assertions above prove, on any
        # machine. On a busy one the breaks are the machine's (at load 10-26 moving cost
        # 80-720 ms at the far end and a control without moving 50-610 ms, either one the
        # larger; in the browser a control of 10 ms once came with a 4.2 s break while
        # moving, when the worker fell 1.4-2.5 s behind its socket): reported only.
        if quiet:
            assert here[0] <= here[1] + EXTRA_GAP_MS, here
            assert far[0] <= far[1] + EXTRA_GAP_MS, far
        # One socket for the whole visit: no page was loaded for real.
        opened = [e for e in page.errors if e.startswith("ws open")]  # type: ignore[attr-defined]
        assert len(opened) == 1, opened
        await page.click("[data-action=hangup]")
        await state(page, "call-state", "ended")
        await asyncio.to_thread(phone.wait_state, "DISCONNECTED")
    # Nothing went wrong in the page, beyond the form sent with a mistake (a 400) and the
    # page that could not be fetched.
    assert [e for e in page.errors  # type: ignore[attr-defined]
            if not e.startswith(("ws ", "<", ">", "Failed to load resource: the server "
                                 "responded with a status of 400",
                                 "Failed to load resource: net::ERR_FAILED"))] == []


async def test_a_second_tab_waits_and_use_here_moves_the_call_to_it(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    first = await login(browser, server, "ana")
    await go_online(first)
    async with call_to_a_phone(first, lab, tone=PHONE_TONE) as phone:
        assert await hears(first, PHONE_TONE)
        second = await first.context.new_page()
        errors: list[str] = []
        second.errors = errors  # type: ignore[attr-defined]
        second.on("pageerror", lambda exc: errors.append(str(exc)))
        await second.goto(f"{server.url}/contacts")
        await state(second, "line-owner", "elsewhere")
        panel = second.locator(".sp-elsewhere")
        assert "another tab" in await panel.inner_text()
        assert not await second.locator("[data-action=dial]").is_visible()
        shots = os.environ.get("HEADSET_SCREENSHOTS")
        if shots:
            await second.set_viewport_size({"width": 1366, "height": 768})
            await second.screenshot(path=str(Path(shots) / "line-elsewhere-light.png"))
            await second.emulate_media(color_scheme="dark")
            await second.screenshot(path=str(Path(shots) / "line-elsewhere-dark.png"))
        # The first tab still has the call and its audio.
        await state(first, "line-owner", "here")
        assert await hears(first, PHONE_TONE)

        await second.click("[data-action=use-here]")
        await state(second, "line-owner", "here")
        await state(second, "call-state", "connected")
        await state(second, "pc-state", "connected")
        moved = time.monotonic()
        await state(first, "line-owner", "elsewhere")
        await state(first, "pc-state", "none")
        assert await hears(second, PHONE_TONE), "the call's audio did not follow to the new tab"
        # The customer hears the agent again, through the new tab's line.
        assert await asyncio.to_thread(phone.wait_hears, BROWSER_TONE, 8)
        print(f"\n'Use here': the far end hears the agent again "
              f"{time.monotonic() - moved:.2f} s after the new tab's audio connected (or sooner)")
        await second.click("[data-action=hangup]")
        await state(second, "call-state", "ended")
        await asyncio.to_thread(phone.wait_state, "DISCONNECTED")
    assert errors == []


async def test_a_page_script_stops_when_its_page_is_left(browser: Browser,
                                                         server: RunningServer) -> None:
    from crm import users
    from crm.db import open_database
    from tests.support.gateway import FAST_HASHING
    from tests.support.server import PASSWORD

    db = await open_database(server.settings.database_path)
    try:
        await users.create_user(db, "sofia", PASSWORD, role="supervisor", dialer_enabled=True,
                                hashing=FAST_HASHING)
    finally:
        await db.close()
    page = await login(browser, server, "sofia")
    # The page's clock, so that the agents board's 10 s refresh comes at once.
    await page.clock.install()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(urlsplit(request.url).path))
    await page.click(".topnav a[href='/agents']")
    await shown(page, "/agents")
    # The board refreshes itself while it is shown...
    async with page.expect_request(lambda request: urlsplit(request.url).path == "/agents"):
        await page.clock.run_for(10_500)
    await page.click(".topnav a[href='/contacts']")
    await shown(page, "/contacts")
    left = len(asked)
    await page.clock.run_for(60_000)
    await page.click(".topnav a[href='/history']")
    await shown(page, "/history")
    # ... and not once it has been left.
    assert "/agents" not in asked[left:], "the board kept refreshing after it was left"
