"""Chromium's Opus toward a line whose far end is telephone band only: the answer's
``maxplaybackrate=8000`` (webrtc/line.py) makes Chromium encode narrowband (SILK), which
the worker decodes for a fraction of full-band Opus's cost; without it Chromium sends
full band. Read from the TOC byte of the packets the line receives (RFC 6716 3.1)."""

from __future__ import annotations

import asyncio
import collections
import time

import pytest
from playwright.async_api import Browser

from webrtc.ice import restrict_host_addresses
from webrtc.line import Line

# A microphone that needs no secure context: an oscillator through a stream destination.
OFFER = """async () => {
  const ctx = new AudioContext();
  const osc = ctx.createOscillator();
  osc.frequency.value = 1000;
  const mic = ctx.createMediaStreamDestination();
  osc.connect(mic);
  osc.start();
  window.pc = new RTCPeerConnection();
  mic.stream.getTracks().forEach(t => pc.addTrack(t, mic.stream));
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(done => {
    if (pc.iceGatheringState === "complete") done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
  });
  return pc.localDescription.sdp;
}"""
SILK_NARROWBAND = {0, 1, 2, 3}  # TOC configurations: SILK-only, narrowband, 10-60 ms


async def _opus_configs(browser: Browser, far_end_wideband: bool) -> collections.Counter[int]:
    page = await browser.new_page()
    line = Line(1, ("opus",), [], lambda agent, state: None,
                far_end_wideband=far_end_wideband)
    configs: collections.Counter[int] = collections.Counter()
    try:
        # Loopback candidates only: Chromium's others are mDNS names, which aioice would
        # resolve with a lock bound to the first test's event loop.
        offer = "".join(row + "\r\n" for row in (await page.evaluate(OFFER)).splitlines()
                        if not row.startswith("a=candidate") or " 127.0.0.1 " in row)
        answer = await line.accept_offer(offer)
        assert ("maxplaybackrate=8000" in answer) is not far_end_wideband
        await page.evaluate("sdp => pc.setRemoteDescription({type: 'answer', sdp})", answer)
        deadline = time.monotonic() + 15
        while line._decoding is None:
            assert time.monotonic() < deadline, "the line never started receiving"
            await asyncio.sleep(0.02)
        decoding = line._decoding
        receive = decoding.receive

        def counted(payload_type: int, seq: int, timestamp: int, payload: bytes) -> None:
            configs[payload[0] >> 3] += 1
            receive(payload_type, seq, timestamp, payload)

        decoding.receive = counted  # type: ignore[method-assign]
        while sum(configs.values()) < 50:
            assert time.monotonic() < deadline, f"only {sum(configs.values())} packets"
            await asyncio.sleep(0.02)
        return configs
    finally:
        await line.close()
        await page.close()


@pytest.mark.parametrize("far_end_wideband", [False, True])
async def test_chromium_sends_narrowband_opus_when_the_answer_asks(
        browser: Browser, far_end_wideband: bool) -> None:
    restrict_host_addresses(["127.0.0.1"])
    configs = await _opus_configs(browser, far_end_wideband)
    narrowband = sum(n for config, n in configs.items() if config in SILK_NARROWBAND)
    if far_end_wideband:
        assert narrowband == 0, configs  # a full-band tone: CELT or hybrid
    else:
        assert narrowband == sum(configs.values()), configs
