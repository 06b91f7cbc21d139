"""The softphone in headless Chromium, through the real app, workers, Kamailio and SIPp.

Chromium's microphone is a 1 kHz tone file; a WebAudio analyser injected into the page
listens to what the softphone plays.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.conftest import AGENTS, ECHO, Lab
from tests.lab.phone import Phone
from tests.lab.sipp import uac_call
from tests.support.server import PASSWORD, RunningServer

from .conftest import BROWSER_TONE, login

PROBE = (Path(__file__).parent / "tone_probe.js").read_text()
ROOT = "section.softphone"


async def hears(page: Page, freq: float, timeout: float = 8) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await page.evaluate(PROBE, freq)
        if result["present"]:
            return True
        await asyncio.sleep(0.2)
    return False


async def state(page: Page, attribute: str, value: str, timeout: float = 15) -> None:
    try:
        await page.wait_for_selector(f"{ROOT}[data-{attribute}='{value}']",
                                     timeout=timeout * 1000)
    except PlaywrightTimeout:
        seen = await page.eval_on_selector(ROOT, "e => ({...e.dataset})")
        text = await page.inner_text(ROOT)
        raise AssertionError(f"no {attribute}={value}; softphone {seen}: {text!r}; "
                             f"console: {page.errors}") from None  # type: ignore[attr-defined]


async def go_online(page: Page) -> None:
    await page.click("[data-action=online]")
    await state(page, "line-state", "registered")
    await state(page, "pc-state", "connected")


@asynccontextmanager
async def call_to_a_phone(page: Page, lab: Lab, tone: float = 1500) -> AsyncIterator[Phone]:
    """A real pjsua2 phone on extension 1003, called from the page and answered."""
    with Phone("far-end", tone_hz=tone, auto_answer=True) as phone:
        assert await asyncio.to_thread(phone.register, "1003", AGENTS["1003"],
                                       lab.kamailio.hostport) == 200
        await page.fill("#softphone-number", "1003")
        await page.press("#softphone-number", "Enter")
        await state(page, "call-state", "connected")
        yield phone


@asynccontextmanager
async def online_in_a_call_heard_both_ways(
        page: Page, lab: Lab, tone: float) -> AsyncIterator[tuple[Phone, str | None]]:
    """The page goes online and calls a real phone playing ``tone`` (``call_to_a_phone``);
    each side hears the other before the test goes on. Yields the phone and the call's id."""
    await go_online(page)
    async with call_to_a_phone(page, lab, tone=tone) as phone:
        assert await hears(page, tone)
        assert await asyncio.to_thread(phone.wait_hears, BROWSER_TONE, 8)
        yield phone, await page.get_attribute(ROOT, "data-call-id")


async def test_login_go_online_and_echo_test(browser: Browser, server: RunningServer) -> None:
    page = await login(browser, server, "nuria")  # no SIP account: the echo test still works
    assert await page.get_attribute("html", "lang") == "es"
    await go_online(page)
    await page.click("[data-action=echo-test]")
    await state(page, "call-state", "connected")
    assert await hears(page, BROWSER_TONE), "the echo test did not return the microphone"
    await page.click("[data-action=hangup]")
    await state(page, "call-state", "ended")
    assert [e for e in page.errors if not e.startswith(("ws ", "<", ">"))] == []  # type: ignore[attr-defined]


async def test_outbound_call_audio_both_ways(browser: Browser, server: RunningServer,
                                             lab: Lab) -> None:
    page = await login(browser, server, "ana")
    await go_online(page)
    async with call_to_a_phone(page, lab) as phone:
        # Browser microphone heard by the SIP phone; SIP phone heard in the browser.
        assert await asyncio.to_thread(phone.wait_hears, BROWSER_TONE, 8)
        assert await hears(page, 1500)
        await page.click("[data-action=hangup]")
        await state(page, "call-state", "ended")
        await asyncio.to_thread(phone.wait_state, "DISCONNECTED")


async def test_inbound_call_rings_the_page_and_is_answered(browser: Browser,
                                                           server: RunningServer,
                                                           lab: Lab) -> None:
    page = await login(browser, server, "ana")
    await go_online(page)
    with uac_call(lab.kamailio.hostport, "1001", from_user="48221234567", hold_ms=5000,
                  tone_hz=1500) as customer:
        await state(page, "call-state", "ringing")
        assert "48221234567" in (await page.inner_text(ROOT))
        await page.click("[data-action=answer]")
        await state(page, "call-state", "connected")
        assert await hears(page, 1500)
        await state(page, "call-state", "ended", timeout=20)
        assert (await asyncio.to_thread(customer.wait, 10)).ok


async def next_error(ws: aiohttp.ClientWebSocketResponse) -> dict[str, str]:
    while (event := await ws.receive_json(timeout=5))["type"] != "error":
        pass
    return event  # type: ignore[no-any-return]


async def test_socket_requires_login_and_same_origin(server: RunningServer) -> None:
    # unsafe=True: keep cookies for an IP-address host (127.0.0.1).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{server.url}/ws") as response:
            assert response.status == 401
        page = await (await http.get(f"{server.url}/login")).text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        await http.post(f"{server.url}/login", data={
            "username": "ana", "password": PASSWORD, "csrf_token": token.group(1)})
        # Logged in, but a page from another site must not drive the phone.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{server.url}/ws", origin="http://evil.example")
        assert refused.value.status == 403
        origin = server.url
        async with http.ws_connect(f"{server.url}/ws", origin=origin) as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello["type"] == "hello" and hello["user"] == "ana"
            await ws.send_str("{not json")
            assert (await next_error(ws))["code"] == "malformed_message"
            await ws.send_str('{"v":1,"type":"dial","target":"abc"}')
            assert (await next_error(ws))["code"] == "not_online"
            await ws.send_str('{"v":1,"type":"launch_missiles"}')
            unknown = await next_error(ws)
            assert unknown["code"] == "unknown_message" and unknown["message"]
            await ws.send_str('{"v":1,"type":"ping"}')
            while (await ws.receive_json(timeout=5))["type"] != "pong":
                pass
        # Nothing in any answer may carry the SIP password.
        home = await (await http.get(f"{server.url}/")).text()
        assert AGENTS["1001"] not in home


async def test_reload_reattaches_the_tab_to_its_live_call(browser: Browser,
                                                          server: RunningServer) -> None:
    page = await login(browser, server, "ana")
    await go_online(page)
    await page.click("[data-action=echo-test]")
    await state(page, "call-state", "connected")
    assert await hears(page, BROWSER_TONE)
    call_id = await page.get_attribute(ROOT, "data-call-id")
    started = time.monotonic()
    await page.reload()
    # Same call, new page: the softphone asks for a new line and the call's audio
    # continues on it.
    await state(page, "call-state", "connected")
    assert await page.get_attribute(ROOT, "data-call-id") == call_id
    await state(page, "pc-state", "connected")
    assert await hears(page, BROWSER_TONE)
    # How fast is measured by bench/reattach.py (goal 5 s), not asserted here: a timed
    # assertion fails on a busy host without anything being wrong.
    print(f"reload -> call heard again: {time.monotonic() - started:.1f} s")
    await page.click("[data-action=hangup]")
    await state(page, "call-state", "ended")


async def test_keypad_sends_dtmf_and_hold_plays_music(browser: Browser, server: RunningServer,
                                                      lab: Lab) -> None:
    page = await login(browser, server, "ana")
    await go_online(page)
    async with call_to_a_phone(page, lab) as phone:
        for digit in "42#":
            await page.click(f"[data-action=digit][data-digit='{digit}']")
        for _ in range(50):
            if await asyncio.to_thread(phone.dtmf_received) == "42#":
                break
            await asyncio.sleep(0.1)
        assert await asyncio.to_thread(phone.dtmf_received) == "42#"
        assert await page.input_value("#softphone-number") == "1003"  # tones, not typing

        await page.click("[data-action=hold]")
        await page.wait_for_selector("[data-action=hold][aria-pressed=true]")
        assert await asyncio.to_thread(phone.wait_hears, 440, 5)  # music on hold
        await page.click("[data-action=hold]")
        await page.wait_for_selector("[data-action=hold][aria-pressed=false]")
        assert await asyncio.to_thread(phone.wait_hears, BROWSER_TONE, 5)
        await page.click("[data-action=hangup]")
        await state(page, "call-state", "ended")


async def test_ringing_page_names_the_known_caller(browser: Browser, server: RunningServer,
                                                   lab: Lab) -> None:
    from crm import contacts
    from crm.db import open_database

    db = await open_database(server.settings.database_path)
    try:
        known = await contacts.create_contact(db, contacts.ContactDraft(
            kind=contacts.ContactKind.PERSON, name="Zofia Nowak",
            phones=(contacts.ContactPhone(label=contacts.PhoneLabel.WORK, e164="+48221234567"),)))
    finally:
        await db.close()
    page = await login(browser, server, "ana")
    await go_online(page)
    with uac_call(lab.kamailio.hostport, "1001", from_user="0048221234567", hold_ms=1000):
        await state(page, "call-state", "ringing")
        card = page.locator("article.sp-call[data-state=ringing]")
        assert "Zofia Nowak" in await card.inner_text()
        assert await card.locator("a.sp-call__contact").get_attribute("href") == (
            f"/contacts/{known.id}")
        await page.click("[data-action=reject]")
        await state(page, "call-state", "ended")


async def test_transfer_from_the_call_card(browser: Browser, server: RunningServer,
                                           lab: Lab) -> None:
    page = await login(browser, server, "ana")
    await go_online(page)
    async with call_to_a_phone(page, lab) as phone:
        await page.click("[data-action=transfer]")
        await page.fill(".sp-transfer input", ECHO)
        await page.press(".sp-transfer input", "Enter")
        await state(page, "call-state", "ended")
        card = page.locator("article.sp-call[data-state=ended]")
        assert await card.get_attribute("data-reason") == "transferred"
        assert await asyncio.to_thread(phone.wait_hears, 1500, 8)  # now on the echo line
        await asyncio.to_thread(phone.hangup)


async def test_page_recovers_when_its_worker_is_killed(browser: Browser,
                                                       server: RunningServer) -> None:
    page = await login(browser, server, "ana")
    await go_online(page)
    worker = next(iter(server.lines.supervisor.workers.values()))
    assert worker.agents, "the agent should be on a worker"
    os.kill(worker.pid, signal.SIGKILL)  # a worker this test's server started
    # The page is told (line_reset), opens a new line to the new worker, and works.
    await page.wait_for_function(
        "() => document.querySelector('section.softphone').dataset.lineState === 'registering'"
        " || document.querySelector('section.softphone').dataset.pcState !== 'connected'")
    await state(page, "line-state", "registered")
    await state(page, "pc-state", "connected")
    await page.click("[data-action=echo-test]")
    await state(page, "call-state", "connected")
    assert await hears(page, BROWSER_TONE)
    await page.click("[data-action=hangup]")
    await state(page, "call-state", "ended")
