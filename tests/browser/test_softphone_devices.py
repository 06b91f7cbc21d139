"""The softphone's settings panel, ringing, shortcuts and quality in headless Chromium.

Against the real app, a line worker, Kamailio and SIPp. Chromium's fake devices stand in
for a headset; its microphone is a 1 kHz tone file. Headless Chromium cannot show a
desktop notification (its permission is always "denied"), so the tests that need one
replace ``window.Notification`` with a recorder before the page loads and make the
document report itself hidden; everything else is the real browser API.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from playwright.async_api import Browser, Page

from tests.conftest import Lab
from tests.lab.sipp import uac_call
from tests.support.server import RunningServer

from .conftest import login
from .test_softphone import go_online, state

SHOTS = Path(os.environ.get("HEADSET_SCREENSHOTS", "/tmp/headset-shots"))

# A Notification that records what the page shows, and a switch to hide the tab.
NOTIFICATION_STUB = """
window.__notes = [];
window.__closed = 0;
class RecordingNotification {
  constructor(title, options = {}) {
    this.title = title;
    this.body = options.body || "";
    this.onclick = null;
    window.__notes.push(this);
  }
  close() { window.__closed += 1; }
  static requestPermission() {
    RecordingNotification.permission = "granted";
    return Promise.resolve("granted");
  }
}
RecordingNotification.permission = "default";
window.Notification = RecordingNotification;
window.__hidden = false;
Object.defineProperty(document, "visibilityState", {
  get: () => (window.__hidden ? "hidden" : "visible"),
});
"""

SETTLED = """() => document.getAnimations().every(a => a.playState !== "running"
  || (a.effect && a.effect.target && a.effect.target.classList.contains("sp-meter__fill")))"""

SINK_OF_RINGER = """async () => {
  const { softphone } = await import("/static/softphone-boot.js");
  return softphone.ringtone.output ? softphone.ringtone.output.sinkId : null;
}"""


async def open_settings(page: Page) -> None:
    await page.click("[data-action=settings]")
    await page.wait_for_selector("#softphone-settings:not([hidden])")


async def meter_level(page: Page, selector: str) -> int:
    return int(await page.get_attribute(selector, "data-level") or 0)


async def test_settings_panel_lists_devices_and_the_meter_follows_the_mic(
        browser: Browser, server: RunningServer) -> None:
    page = await login(browser, server, "ana")
    await go_online(page)
    await open_settings(page)
    assert await page.get_attribute("[data-action=settings]", "aria-expanded") == "true"
    # Permission was granted by going online: the fake devices come with their names.
    await page.wait_for_function(
        "document.querySelectorAll('[data-device=mic] option').length >= 2")
    mics = await page.eval_on_selector_all("[data-device=mic] option", "os => os.map(o => o.text)")
    assert mics[0] and all(mics), mics
    assert any("Fake" in label for label in mics[1:]), mics
    speakers = await page.eval_on_selector_all("[data-device=speaker] option",
                                               "os => os.map(o => o.value)")
    assert speakers[0] == "" and len(speakers) >= 2, speakers
    # The 1 kHz tone moves the meter well off the floor.
    await page.wait_for_function(
        "Number(document.querySelector('.sp-settings .sp-meter').dataset.level) > 30",
        timeout=10000)
    # The choice is kept and reapplied: pick the second microphone, the line carries on.
    second = await page.eval_on_selector_all("[data-device=mic] option", "os => os[1].value")
    await page.select_option("[data-device=mic]", second)
    stored = await page.evaluate("JSON.parse(localStorage.getItem('headset.softphone.devices'))")
    assert stored["mic"] == second
    await page.wait_for_function(
        "Number(document.querySelector('.sp-settings .sp-meter').dataset.level) > 30",
        timeout=10000)
    await state(page, "pc-state", "connected")
    # The shortcuts are listed, all five, with their keys.
    keys = await page.eval_on_selector_all(".sp-shortcuts kbd", "ks => ks.map(k => k.textContent)")
    assert keys == ["Alt+Shift+A", "Alt+Shift+X", "Alt+Shift+H", "Alt+Shift+M", "Alt+Shift+K"]
    # Looked at by a person: light and dark, on a laptop screen.
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.set_viewport_size({"width": 1366, "height": 768})
    await page.screenshot(path=str(SHOTS / "softphone-settings-light.png"))
    await page.emulate_media(color_scheme="dark")
    # Buttons fade to their dark colours: wait for that (the meter keeps moving).
    await page.wait_for_function(SETTLED)
    await page.screenshot(path=str(SHOTS / "softphone-settings-dark.png"))
    await page.emulate_media(color_scheme="light")
    # Alt+Shift+K goes to the keypad.
    await page.keyboard.press("Alt+Shift+KeyK")
    assert await page.evaluate("document.activeElement.dataset.digit") == "1"

    await page.click("[data-action=settings]")
    assert await page.is_hidden("#softphone-settings")


async def test_a_hidden_tab_notifies_and_shortcuts_answer_mute_and_decline(
        browser: Browser, server: RunningServer, lab: Lab) -> None:
    page = await login(browser, server, "ana")
    await page.context.add_init_script(NOTIFICATION_STUB)
    await page.reload()
    await page.wait_for_selector("section.softphone")
    await go_online(page)
    await open_settings(page)
    await page.click("[data-action=allow-notifications]")
    await page.wait_for_selector("[data-action=allow-notifications][hidden]", state="attached")
    # Ring on one output, talk on another (Chromium's fake outputs).
    await page.wait_for_function(
        "document.querySelectorAll('[data-device=ringer] option').length >= 2")
    outputs = await page.eval_on_selector_all("[data-device=ringer] option",
                                              "os => os.map(o => o.value)")
    ringer, speaker = outputs[1], outputs[-1]
    await page.select_option("[data-device=ringer]", ringer)
    await page.select_option("[data-device=speaker]", speaker)
    await page.click("[data-action=settings]")
    await page.evaluate("window.__hidden = true")

    with uac_call(lab.kamailio.hostport, "1001", from_user="48221234567", hold_ms=9000,
                  tone_hz=1500) as customer:
        await state(page, "call-state", "ringing")
        await state(page, "ringing", "true")
        notes = await page.evaluate("window.__notes.map(n => [n.title, n.body])")
        assert len(notes) == 1 and "48221234567" in notes[0][1], notes
        # Clicking it brings the tab forward and closes it.
        await page.evaluate("window.__notes[0].onclick()")
        assert await page.evaluate("window.__closed") == 1
        assert await page.evaluate(SINK_OF_RINGER) == ringer
        answer = page.locator("button[data-action=answer]")
        assert await answer.get_attribute("aria-keyshortcuts") == "Alt+Shift+A"
        await page.keyboard.press("Alt+Shift+KeyA")
        await state(page, "call-state", "connected")
        await state(page, "ringing", "false")
        assert await page.eval_on_selector("#softphone-remote-audio", "a => a.sinkId") == speaker
        assert await page.evaluate("window.__closed") == 1
        # Live quality from the worker: SIPp on loopback is a clean line.
        await page.wait_for_selector(".sp-quality[data-grade=good]:not([hidden])", timeout=10000)
        # The call window (opened by itself when the call rang) shows it too.
        await page.wait_for_selector("#call-window .cw-quality[data-grade=good]:not([hidden])")
        figures = await page.get_attribute(".sp-quality", "title") or ""
        assert "MOS" in figures and "Phone network" in figures, figures
        await page.click(".sp-quality__summary")  # the figures, expanded
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.set_viewport_size({"width": 1366, "height": 768})
        await page.screenshot(path=str(SHOTS / "softphone-in-call-quality.png"))
        await page.keyboard.press("Alt+Shift+KeyM")
        await state(page, "muted", "true")
        await page.keyboard.press("Alt+Shift+KeyM")
        await state(page, "muted", "false")
        # The in-call meter shows while connected.
        assert await page.is_visible(".sp-live .sp-meter--inline")
        await state(page, "call-state", "ended", timeout=20)
        assert (await asyncio.to_thread(customer.wait, 10)).ok
    assert await page.is_hidden(".sp-quality")

    with uac_call(lab.kamailio.hostport, "1001", from_user="48221234568", hold_ms=9000,
                  tone_hz=1500) as second:
        await state(page, "call-state", "ringing")
        call_id = await page.get_attribute("section.softphone", "data-call-id")
        # Alt+Shift+X declines a ringing call.
        await page.keyboard.press("Alt+Shift+KeyX")
        await state(page, "call-state", "ended")
        reason = await page.get_attribute(f"article.sp-call[data-call-id='{call_id}']",
                                          "data-reason")
        assert reason == "rejected", reason
        await asyncio.to_thread(second.wait, 10)
