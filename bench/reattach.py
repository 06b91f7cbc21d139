"""How fast a reloaded tab re-attaches to its live call.

    python -m bench.reattach [--reloads 10] [--baseline 5] [--json PATH]

The lab: Kamailio as the registrar, a pjsua2 phone (``tests/lab/phone.py``) on extension
1003 that answers and plays a 1.5 kHz tone, the Headset app (web, line workers) and
headless Chromium whose microphone plays 1 kHz. The agent calls the phone from the page;
then each round reloads the tab and times, from the reload:

- **call shown**: the new page shows the call connected (the server reported it);
- **line connected**: the new page's RTCPeerConnection is connected;
- **page hears the phone**: the phone's tone is in the page's audio again;
- **phone hears the page**: the page's tone is heard by the phone again (after the phone
  first heard it stop; a round where it never stopped leaves the column empty).

Baseline in the same run: the same tab, online with no call, reloaded until its new
RTCPeerConnection is connected — what a page load and a new line cost with nothing to
re-attach. The issue's goal is a reload re-attached within 5 s (the page hears the call
again): p95 against it is printed. p50/p95 per step; ``uptime`` load before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright

from bench.capacity import load_average, set_niceness
from bench.step_times import ms, print_steps, save
from tests.browser.conftest import BROWSER_TONE, login
from tests.browser.test_softphone import PROBE, ROOT, go_online, state
from tests.conftest import AGENTS, gateway_settings
from tests.lab.kamailio import Kamailio
from tests.lab.phone import Phone
from tests.lab.tone import write_tone_wav
from tests.support.chromium import CHROMIUM, chromium_args
from tests.support.server import add_agent, running_server
from webrtc.ice import restrict_host_addresses

Json = dict[str, Any]
PHONE_TONE = 1500
GOAL_S = 5.0
TIMEOUT_S = 30.0
POLL_S = 0.05


async def _page_hears(page: Page, freq: float, started: float) -> float | None:
    while time.monotonic() - started < TIMEOUT_S:
        if (await page.evaluate(PROBE, freq))["present"]:
            return time.monotonic() - started
        await asyncio.sleep(POLL_S)
    return None


def _phone_hears_again(phone: Phone, started: float, result: list[float | None]) -> None:
    """In a thread: from ``started``, wait for the page's tone to stop at the phone, then
    for it to come back; the time it came back, or None."""
    stopped = False
    while time.monotonic() - started < TIMEOUT_S:
        heard = phone.hears(BROWSER_TONE)
        if not heard:
            stopped = True
        elif stopped:
            result.append(time.monotonic() - started)
            return
        time.sleep(POLL_S)
    result.append(None)


async def _state_time(page: Page, attribute: str, value: str, started: float) -> float:
    await page.wait_for_selector(f"{ROOT}[data-{attribute}='{value}']",
                                 timeout=TIMEOUT_S * 1000)
    return time.monotonic() - started


async def one_reload(page: Page, phone: Phone, call_id: str) -> Json:
    heard_back: list[float | None] = []
    started = time.monotonic()
    watcher = threading.Thread(target=_phone_hears_again, args=(phone, started, heard_back))
    watcher.start()
    await page.reload()
    shown = await _state_time(page, "call-state", "connected", started)
    if await page.get_attribute(ROOT, "data-call-id") != call_id:
        raise RuntimeError("the reloaded page shows another call")
    line = await _state_time(page, "pc-state", "connected", started)
    hears = await _page_hears(page, PHONE_TONE, started)
    await asyncio.to_thread(watcher.join)
    return {"call_shown_s": shown, "line_connected_s": line, "page_hears_phone_s": hears,
            "phone_hears_page_s": heard_back[0] if heard_back else None}


async def idle_reload(page: Page) -> float:
    started = time.monotonic()
    await page.reload()
    await state(page, "line-state", "registered")
    return await _state_time(page, "pc-state", "connected", started)


async def run(args: argparse.Namespace) -> Json:
    restrict_host_addresses(["127.0.0.1"])
    results: Json = {"config": {"reloads": args.reloads, "baseline": args.baseline,
                                "cpus": os.cpu_count(), "python": platform.python_version(),
                                "load_start": load_average(),
                                "started": time.strftime("%Y-%m-%dT%H:%M:%S")}}
    rounds: list[Json] = []
    idle: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-reattach-") as tmp_name:
        tmp = Path(tmp_name)
        tone = write_tone_wav(tmp / "mic.wav", BROWSER_TONE, seconds=2.0)
        with Kamailio(users={"1001": AGENTS["1001"], "1003": AGENTS["1003"]}) as kamailio:
            settings = gateway_settings(tmp / "data", kamailio.hostport)
            await add_agent(settings, "ana", "1001", AGENTS["1001"])
            async with running_server(settings) as server, async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM,
                                                   args=chromium_args(tone))
                try:
                    page = await login(browser, server, "ana")
                    await go_online(page)
                    for i in range(args.baseline):
                        idle.append(await idle_reload(page))
                        print(f"  baseline reload {i + 1:2d}: line connected "
                              f"{1000 * idle[-1]:6.0f} ms", flush=True)
                    with Phone("far-end", tone_hz=PHONE_TONE, auto_answer=True) as phone:
                        code = await asyncio.to_thread(phone.register, "1003", AGENTS["1003"],
                                                       kamailio.hostport)
                        if code != 200:
                            raise RuntimeError(f"the phone did not register: {code}")
                        await page.fill("#softphone-number", "1003")
                        await page.press("#softphone-number", "Enter")
                        await state(page, "call-state", "connected")
                        call_id = await page.get_attribute(ROOT, "data-call-id")
                        assert call_id
                        if await _page_hears(page, PHONE_TONE, time.monotonic()) is None:
                            raise RuntimeError("the page does not hear the phone")
                        for i in range(args.reloads):
                            r = await one_reload(page, phone, call_id)
                            rounds.append(r)
                            print(f"  reload {i + 1:2d}: " + ", ".join(
                                f"{k.removesuffix('_s')} "
                                f"{'-' if v is None else round(1000 * v)} ms"
                                for k, v in r.items()), flush=True)
                        await page.click(f"{ROOT} [data-action=hangup]")
                        await state(page, "call-state", "ended")
                finally:
                    await browser.close()
    results["rounds"] = rounds
    results["baseline_s"] = idle
    results["summary_ms"] = {key: ms([r[key] for r in rounds]) for key in (
        "call_shown_s", "line_connected_s", "page_hears_phone_s", "phone_hears_page_s")}
    results["summary_ms"]["baseline_idle_line_connected_s"] = ms(list(idle))
    results["config"]["load_end"] = load_average()
    return results


def print_table(results: Json) -> None:
    cfg = results["config"]
    s = results["summary_ms"]
    print(f"\nTab reloaded during a call to a pjsua2 phone, {cfg['reloads']} times "
          f"({cfg['cpus']} CPUs, Python {cfg['python']}); load average at start "
          f"{cfg['load_start']}, at end {cfg['load_end']}\n")
    print_steps("from the reload to ... (ms)", s, {
        "call_shown_s": "the call shown connected again",
        "line_connected_s": "the new peer connection connected",
        "page_hears_phone_s": "the page hears the phone again",
        "phone_hears_page_s": "the phone hears the page again",
        "baseline_idle_line_connected_s": "baseline: idle reload -> line connected",
    })
    p95 = s["page_hears_phone_s"].get("p95")
    if p95 is not None:
        verdict = "met" if p95 < 1000 * GOAL_S else "MISSED"
        print(f"\n  goal: re-attached (the page hears the call) within {GOAL_S:g} s: "
              f"p95 {p95} ms, {verdict}")
    base = s["baseline_idle_line_connected_s"].get("p50")
    line = s["line_connected_s"].get("p50")
    if base and line:
        print(f"  line connected after a reload, p50, with a call / without: "
              f"x{round(line / base, 2)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reloads", type=int, default=10)
    parser.add_argument("--baseline", type=int, default=5, help="reloads with no call")
    parser.add_argument("--nice", type=int, default=0,
                        help="niceness of the benchmark and its session (see bench.capacity)")
    parser.add_argument("--json", type=Path,
                        help="default: bench/results/reattach-TIME.json")
    args = parser.parse_args()
    set_niceness(args.nice)
    results = asyncio.run(run(args))
    print_table(results)
    save(results, args.json, "reattach")


if __name__ == "__main__":
    main()
