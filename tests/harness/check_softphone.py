"""Drive the softphone harness with headless Chromium: behaviour checks and screenshots.

    python -m tests.harness.check_softphone [--shots /tmp] [--chromium /usr/bin/chromium]

Checks: going online sends ``online`` and an ``offer``, and a real answer (made by a second
RTCPeerConnection in the page, over loopback) brings ``data-pc-state`` to ``connected``
with a remote stream; Enter in the number field sends ``dial`` with that target; Answer
sends ``answer`` with the call id; an ``error`` event shows its translation (and the
message when the code is unknown); the keypad works from the keyboard; going offline
closes the peer connection; no console errors. Screenshots go to ``<shots>/softphone-*.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from tests.harness.softphone_page import CALLER, make_app
from tests.lab.ports import HOST, free_tcp_port
from tests.support.chromium import chromium_args

CHROMIUM_ARGS = chromium_args()
ROOT = ".softphone"

# Made in the page by a second peer connection: the "worker" end of the line.
ANSWER_JS = """async (offerSdp) => {
  const pc = new RTCPeerConnection();
  const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
  mic.getTracks().forEach((track) => pc.addTrack(track, mic));
  await pc.setRemoteDescription({ type: "offer", sdp: offerSdp });
  await pc.setLocalDescription(await pc.createAnswer());
  if (pc.iceGatheringState !== "complete") {
    await new Promise((resolve) => {
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      });
      setTimeout(resolve, 3000);
    });
  }
  window.__workerEnd = pc;
  return pc.localDescription.sdp;
}"""


class Failures(list[str]):
    def check(self, ok: bool, what: str) -> None:
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.append(what)


async def attr(page: Page, name: str) -> str | None:
    return await page.get_attribute(ROOT, f"data-{name}")


async def wait_attr(page: Page, name: str, value: str, timeout: float = 8000) -> None:
    await page.wait_for_selector(f'{ROOT}[data-{name}="{value}"]', timeout=timeout)


class Server:
    def __init__(self) -> None:
        self.port = free_tcp_port()
        self.base = f"http://{HOST}:{self.port}"
        self.runner = web.AppRunner(make_app())
        self.http: ClientSession | None = None

    async def __aenter__(self) -> Server:
        await self.runner.setup()
        await web.TCPSite(self.runner, HOST, self.port).start()
        self.http = ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.http is not None
        await self.http.close()
        await self.runner.cleanup()

    async def emit(self, *events: dict[str, Any]) -> None:
        assert self.http is not None
        async with self.http.post(f"{self.base}/_harness/emit", json=list(events)) as r:
            r.raise_for_status()

    async def commands(self) -> list[dict[str, Any]]:
        assert self.http is not None
        async with self.http.get(f"{self.base}/_harness/commands") as r:
            result: list[dict[str, Any]] = await r.json()
            return result

    async def wait_command(self, kind: str, timeout: float = 8.0) -> dict[str, Any]:
        for _ in range(int(timeout / 0.05)):
            found = [c for c in await self.commands() if c.get("type") == kind]
            if found:
                return found[-1]
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no {kind!r} command; got {await self.commands()}")

    async def reset(self) -> None:
        assert self.http is not None
        async with self.http.post(f"{self.base}/_harness/reset") as r:
            r.raise_for_status()


async def new_page(
    browser: Browser, errors: list[str], scheme: str = "light", locale: str = "en-US"
) -> Page:
    context = await browser.new_context(
        color_scheme=scheme,  # type: ignore[arg-type]
        locale=locale,
        viewport={"width": 1280, "height": 860},
        device_scale_factor=1,
    )
    await context.grant_permissions(["microphone"])
    page = await context.new_page()

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            errors.append(f"console: {msg.text} at {msg.location.get('url')}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    return page


# Every key the server can send: error codes (signalling.py and the server's refusals),
# call outcomes and registration reasons.
SERVER_KEYS = [
    *(
        f"error_{code}"
        for code in (
            "malformed_message",
            "unknown_message",
            "invalid_message",
            "unsupported_version",
            "message_too_large",
            "invalid_sdp",
            "invalid_number",
            "not_online",
            "no_line",
            "busy_line",
            "no_such_call",
            "registrar_not_configured",
            "worker_unavailable",
            "internal_error",
        )
    ),
    *(
        f"ended_{reason}"
        for reason in (
            "completed",
            "busy",
            "no_answer",
            "rejected",
            "cancelled",
            "missed",
            "not_found",
            "unreachable",
            "failed",
            "interrupted",
        )
    ),
    "reg_wrong_password",
    "reg_unreachable",
    "reg_failed",
]


async def translations(page: Page, fails: Failures) -> None:
    """Each language has exactly English's keys, none empty, and every server key."""
    report = await page.evaluate(
        """async (required) => {
          const { MESSAGES } = await import("/static/softphone-i18n.js");
          const en = Object.keys(MESSAGES.en);
          const out = {};
          for (const [lang, table] of Object.entries(MESSAGES)) {
            const keys = Object.keys(table);
            out[lang] = {
              missing: en.filter((k) => !keys.includes(k)),
              extra: keys.filter((k) => !en.includes(k)),
              empty: keys.filter((k) => !String(table[k]).trim()),
              untranslated: lang === "en" ? [] : keys.filter((k) => table[k] === MESSAGES.en[k]),
            };
          }
          out.required = required.filter((k) => !en.includes(k));
          return out;
        }""",
        SERVER_KEYS,
    )
    fails.check(report.pop("required") == [], "i18n: every server key has an English text")
    for lang, problems in report.items():
        # Identical words (Online, Offline, Número...) are fine; print them for a human.
        same = problems.pop("untranslated")
        fails.check(not any(problems.values()), f"i18n {lang}: complete ({problems})")
        if same:
            print(f"     {lang} same as English: {', '.join(same)}")


async def behaviour(browser: Browser, server: Server, shots: Path, fails: Failures) -> None:
    errors: list[str] = []
    page = await new_page(browser, errors)
    await page.goto(f"{server.base}/?lang=en&script=manual")
    await wait_attr(page, "socket-state", "open")
    await wait_attr(page, "line-state", "offline")
    await translations(page, fails)
    fails.check(await attr(page, "pc-state") == "none", "offline: data-pc-state is none")
    fails.check(await attr(page, "call-state") == "idle", "idle: data-call-state is idle")
    await page.locator("aside").screenshot(path=str(shots / "softphone-en-offline-light.png"))

    # Going online: online, then an offer; a real answer connects the line.
    await page.click('[data-action="online"]')
    await server.wait_command("online")
    offer = await server.wait_command("offer")
    fails.check(offer.get("sdp", "").startswith("v=0"), "online: offer carries an SDP")
    fails.check("a=candidate" in offer.get("sdp", ""), "online: offer has gathered candidates")
    await wait_attr(page, "line-state", "registered")
    answer = await page.evaluate(ANSWER_JS, offer["sdp"])
    await server.emit({"type": "answer_sdp", "sdp": answer})
    await wait_attr(page, "pc-state", "connected", timeout=10000)
    has_stream = await page.evaluate(
        """async () => {
          const { softphone } = await import("/static/softphone-boot.js");
          const audio = document.getElementById("softphone-remote-audio");
          return Boolean(softphone.pc && softphone.remoteStream
            && audio.srcObject === softphone.remoteStream
            && softphone.remoteStream.getAudioTracks().length === 1);
        }"""
    )
    fails.check(has_stream, "online: remote stream plays in #softphone-remote-audio")
    await page.locator("aside").screenshot(path=str(shots / "softphone-en-online-light.png"))

    # The keypad from the keyboard: one tab stop, arrows move, Enter/Space press.
    await page.focus('[data-action="digit"][data-digit="1"]')
    await page.keyboard.press("Enter")
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("Space")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Enter")
    await page.keyboard.press("9")
    value = await page.input_value("#softphone-number")
    fails.check(value == "1259", f"keypad: keyboard entry gives 1259 (got {value!r})")
    await page.click('[data-action="backspace"]')
    fails.check(await page.input_value("#softphone-number") == "125", "keypad: backspace")

    # Enter in the number field dials that target.
    await server.reset()
    target = "+48 22 123 45 67"
    await page.fill("#softphone-number", target)
    await page.press("#softphone-number", "Enter")
    dial = await server.wait_command("dial")
    expected = {"v": 1, "type": "dial", "target": target, "caller_id": ""}
    fails.check(dial == expected, f"dial: sent {dial}")
    await wait_attr(page, "call-state", "ringing")
    await page.locator("aside").screenshot(path=str(shots / "softphone-en-outbound-light.png"))
    await wait_attr(page, "call-state", "connected")
    await page.wait_for_timeout(1200)
    timer = await page.text_content(".sp-call__timer")
    fails.check(timer in ("00:01", "00:02"), f"call: talk timer runs (shows {timer!r})")
    call_id = await attr(page, "call-id")
    await page.click(f'[data-action="hangup"][data-call-id="{call_id}"]')
    await wait_attr(page, "call-state", "ended")
    outcome = await page.text_content(".sp-call__outcome")
    fails.check(outcome == "Call finished", f"call: ended reason in words ({outcome!r})")
    await wait_attr(page, "call-state", "idle", timeout=6000)

    # Inbound: ringing card, ringtone, Answer sends answer with the call id.
    await server.reset()
    await server.emit(
        {
            "type": "call",
            "call_id": "in-7",
            "state": "ringing",
            "direction": "inbound",
            **CALLER,
            "reason": "",
        }
    )
    await wait_attr(page, "call-state", "ringing")
    fails.check(await attr(page, "call-id") == "in-7", "inbound: data-call-id is in-7")
    ringing = await page.evaluate(
        """async () => (await import("/static/softphone-boot.js")).softphone.ringtone.playing"""
    )
    fails.check(ringing, "inbound: ringtone plays")
    label = await page.get_attribute('[data-action="answer"]', "aria-label")
    fails.check(label == "Answer the call from Maria Souza", f"inbound: aria-label {label!r}")
    await page.locator("aside").screenshot(path=str(shots / "softphone-en-ringing-light.png"))
    await page.click('[data-action="answer"]')
    answer_cmd = await server.wait_command("answer")
    fails.check(
        answer_cmd == {"v": 1, "type": "answer", "call_id": "in-7"},
        f"inbound: Answer sent {answer_cmd}",
    )
    await wait_attr(page, "call-state", "connected")
    ringing = await page.evaluate(
        """async () => (await import("/static/softphone-boot.js")).softphone.ringtone.playing"""
    )
    fails.check(not ringing, "inbound: ringtone stops on answer")

    # Errors: translated code; message when the code is unknown; state kept.
    await server.emit({"type": "error", "code": "busy_line", "message": "x", "ref": "dial"})
    await page.wait_for_selector(".sp-notice:not([hidden])")
    text = await page.text_content(".sp-notice__text")
    fails.check(text == "Your line is busy with another call.", f"error: translated ({text!r})")
    fails.check(await attr(page, "call-state") == "connected", "error: call state kept")
    await page.wait_for_timeout(1100)
    await page.locator("aside").screenshot(path=str(shots / "softphone-en-connected-light.png"))
    await server.emit({"type": "error", "code": "brand_new", "message": "Raw text", "ref": ""})
    await page.wait_for_function(
        "document.querySelector('.sp-notice__text').textContent === 'Raw text'"
    )
    fails.check(True, "error: unknown code falls back to message")

    await server.emit(
        {
            "type": "call",
            "call_id": "in-7",
            "state": "ended",
            "direction": "inbound",
            **CALLER,
            "reason": "completed",
        }
    )
    await wait_attr(page, "call-state", "ended")

    # Going offline closes the line.
    await page.click('[data-action="offline"]')
    await server.wait_command("offline")
    await wait_attr(page, "pc-state", "none")
    await wait_attr(page, "line-state", "offline")
    fails.check(True, "offline: pc closed, line offline")

    # A failed registration is said in words.
    await server.emit({"type": "line", "state": "failed", "reason": "reg_wrong_password"})
    await wait_attr(page, "line-state", "failed")
    hint = await page.text_content(".sp-hint")
    fails.check(
        bool(hint and hint.startswith("The phone system rejected")),
        f"line failed: reason in words ({hint!r})",
    )
    await page.locator("aside").screenshot(path=str(shots / "softphone-en-failed-light.png"))

    # Reconnect: the socket comes back by itself and nothing is replayed.
    await server.reset()
    await page.evaluate("""async () => {
      const { softphone } = await import("/static/softphone-boot.js");
      softphone.socket.close();
    }""")
    await wait_attr(page, "socket-state", "reconnecting", timeout=2000)
    await wait_attr(page, "socket-state", "open", timeout=5000)
    await page.wait_for_timeout(300)
    replayed = [c["type"] for c in await server.commands() if c.get("type") != "ping"]
    fails.check(replayed == [], f"reconnect: nothing re-sent ({replayed})")

    fails.check(not errors, f"no console errors ({errors})")
    await page.context.close()


async def screenshots(browser: Browser, server: Server, shots: Path, fails: Failures) -> None:
    """The demo script in each language and scheme: ringing and connected."""
    for lang, scheme in (
        ("en", "dark"),
        ("es", "light"),
        ("es", "dark"),
        ("pl", "light"),
        ("pl", "dark"),
        ("pt-BR", "light"),
    ):
        errors: list[str] = []
        page = await new_page(browser, errors, scheme=scheme, locale=lang)
        await server.reset()
        await page.goto(f"{server.base}/?lang={lang}&script=demo")
        offer = await server.wait_command("offer")  # the demo line re-attaches by itself
        answer = await page.evaluate(ANSWER_JS, offer["sdp"])
        await server.emit({"type": "answer_sdp", "sdp": answer})
        await wait_attr(page, "pc-state", "connected", timeout=10000)
        await wait_attr(page, "call-state", "ringing", timeout=8000)
        await page.locator("aside").screenshot(
            path=str(shots / f"softphone-{lang}-ringing-{scheme}.png")
        )
        await page.click('[data-action="answer"]')
        await wait_attr(page, "call-state", "connected")
        await page.wait_for_timeout(2100)
        await page.locator("aside").screenshot(
            path=str(shots / f"softphone-{lang}-connected-{scheme}.png")
        )
        if lang == "pl" and scheme == "light":
            await page.screenshot(path=str(shots / "softphone-pl-page-light.png"))
        fails.check(not errors, f"{lang}/{scheme}: no console errors ({errors})")
        await page.context.close()


async def run(shots: Path, chromium: str) -> int:
    fails = Failures()
    async with Server() as server, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            await behaviour(browser, server, shots, fails)
            await screenshots(browser, server, shots, fails)
        finally:
            await browser.close()
    print(json.dumps({"failures": fails}, indent=2) if fails else "all checks passed")
    return 1 if fails else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=Path, default=Path("/tmp"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.shots, args.chromium)))


if __name__ == "__main__":
    main()
