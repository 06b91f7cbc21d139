"""SIP scanners at the edge: the shipped Kamailio snippet (deploy/kamailio/scanners.cfg,
which the lab's Kamailio includes as is) drops their requests before routing.

A line worker's socket filter passes only the PBX, but a scanner's request that the PBX
relays comes from the PBX: the worker would answer an OPTIONS 200 (the scanner learns the
extension exists) and an INVITE with a refusal. Here SIPp sweeps as friendly-scanner
through Kamailio (OPTIONS to the proxy, OPTIONS and INVITE to a registered agent) and
hears nothing at all, the agent's tab hears of no call, and then an ordinary caller's
call through the same Kamailio still rings the agent and carries audio. A plain OPTIONS
through Kamailio reaches the worker and is answered 200: the PBX's own keepalives are
legitimate, and it shows the path the scanner's were dropped from is open.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gateway import signalling
from tests.conftest import Lab
from tests.integration.conftest import Gateway
from tests.lab.sip_torture import RawSip
from tests.lab.sipp import Sipp, uac_call

SCANNER = "friendly-scanner"


class _Scanner(Sipp):
    """SIPp running uac_scanner.xml with a scanner's User-Agent."""

    def __init__(self, proxy: str, target: str, user_agent: str) -> None:
        super().__init__("uac_scanner", remote=proxy, service=target, timeout_s=120)
        self.user_agent = user_agent

    def command(self, work: Path) -> list[str]:
        return [*super().command(work), "-key", "user_agent", self.user_agent]

    @property
    def waiting(self) -> bool:
        """Still waiting for an answer: any answer would have ended its one call."""
        return self._proc is not None and self._proc.poll() is None


def _wait_dropped(lab: Lab, options: int, invites: int, timeout: float = 10.0) -> None:
    """Until Kamailio has logged dropping that many scanner requests of each method."""
    deadline = time.monotonic() + timeout
    while True:
        text = lab.kamailio.log_text()
        if (text.count("headset-scanners: dropped OPTIONS") >= options
                and text.count("headset-scanners: dropped INVITE") >= invites):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"Kamailio did not drop the scanner's requests:\n{text}")
        time.sleep(0.01)  # polling interval for the log file


async def test_scanners_get_no_answer_through_the_edge_and_a_caller_still_rings(
        gateway: Gateway, lab: Lab) -> None:
    agent = await gateway.agent("sam", extension="1001", tone=1000)
    await agent.online()
    mark = len(agent.events)

    # Control: the path to the worker is open; its answer carries pjsip's User-Agent.
    pbx_like = RawSip("127.0.0.1", (lab.kamailio.host, lab.kamailio.port))
    try:
        keepalive = await asyncio.to_thread(pbx_like.drain, "1001")
    finally:
        pbx_like.close()
    assert keepalive.status == 200 and "User-Agent: Headset" in keepalive.text

    scanner = _Scanner(lab.kamailio.hostport, "1001", SCANNER)
    scanner.start()
    try:
        await asyncio.to_thread(_wait_dropped, lab, options=2, invites=1)
        # The scanner's requests are gone; an ordinary caller rings the agent.
        with uac_call(lab.kamailio.hostport, "1001", hold_ms=2000, tone_hz=1500) as customer:
            ringing = await agent.wait_call("ringing", since=mark)
            await agent.send(signalling.AnswerCall(call_id=ringing["call_id"]))
            await agent.wait_call("connected", since=mark)
            assert await agent.rtc.wait_hears(1500)
            await agent.wait_call("ended", since=mark, timeout=15)
            assert (await asyncio.to_thread(customer.wait, 10)).ok
        # The scanner's wait ends at any answer (SIPp exits): it is still waiting.
        assert scanner.waiting
    finally:
        scanner.terminate()
    log = scanner.log_text()
    assert log.count("message sent") >= 3, log  # the sweep did go out
    assert "message received" not in log, log
    calls = {e["call_id"] for e in agent.events[mark:] if e["type"] == "call"}
    assert calls == {ringing["call_id"]}, "the scanner's INVITE reached the agent"
