"""A line worker's SIP port under hostile traffic: RFC 4475-style torture messages,
malformed datagrams and SIP scanner sweeps, from the PBX's address and from elsewhere,
each sent as one burst.

From elsewhere nothing is answered at all (the socket filter drops it before pjsip:
sip_bridge/source_filter.py), not even a flood of INVITEs that are never ACKed, which
used to take pjsua's 4 call slots (a PBX INVITE read in the same turn got 486) and, kept
up, abort the worker. From the PBX's address every reply is a sane SIP response and
nothing rings, even while it relays a flood of scanner INVITEs (refusals are paced:
sip_bridge/socket_pacer.py). Afterwards the worker is the same process, still answers
the supervisor and the PBX, a real call rings the agent and carries audio, no call
reached the agent's tab, no SIP call is left in the worker, no reply or log line carries
a SIP password, and the worker leaves without an abort when the gateway closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

import pytest

from gateway import signalling
from tests.conftest import AGENTS, Lab
from tests.integration.conftest import Gateway
from tests.lab.sip_torture import (
    RawSip,
    Reply,
    Torture,
    invalid_tortures,
    scanner_probes,
    valid_tortures,
)
from tests.lab.sipp import uac_call

PBX_HOST = "127.0.0.1"  # Kamailio, the configured registrar
STRANGER_HOST = "127.0.0.2"
FLOOD = 8  # unACKed INVITEs per burst from the stranger: twice pjsua's call slots
FLOOD_MAX = 4000  # INVITEs at most while the real call sets up
# Scanner INVITEs the PBX relays: refused as fast as they came, a sustained flood of them
# exhausted pjsip's ioqueue and aborted the worker (sip_bridge/socket_pacer.py).
PBX_FLOOD = 1600
# What a worker's stderr shows when it dies inside pjsip or pjsua (faulthandler, assert).
CRASH_MARKS = ("Fatal Python error", "Assertion", "Segmentation fault", "Aborted")


def _send_all(sock: RawSip, corpus: list[Torture]) -> None:
    for message in corpus:
        sock.send(message.data)


async def _drain(sock: RawSip) -> Reply:
    """The probe OPTIONS's answer, once every earlier datagram has been handled."""
    try:
        return await asyncio.to_thread(sock.drain, "1001")
    except TimeoutError as exc:
        raise AssertionError(f"the worker stopped answering {sock.host}") from exc


def _replies_to(sock: RawSip, corpus: list[Torture]) -> dict[str, list[Reply]]:
    by_call = {t.call_id: t.name for t in corpus if t.call_id}
    out: dict[str, list[Reply]] = {}
    for reply in sock.replies:
        out.setdefault(by_call.get(reply.call_id, f"unknown:{reply.call_id}"), []).append(reply)
    return out


def _flood(target: str, source: str, count: int = FLOOD) -> list[Torture]:
    """``count`` distinct INVITEs as a scanner's sweep sends them."""
    invites: list[Torture] = []
    while len(invites) < count:
        invites += [t for t in scanner_probes(target, source, "1001") if t.method == "INVITE"]
    return invites[:count]


def _flood_until(sock: RawSip, target: str, stop: threading.Event,
                 most: int = FLOOD_MAX) -> int:
    """Bursts of ``_flood`` until ``stop`` or ``most`` INVITEs; returns how many were
    sent. Without the socket filter, a PBX INVITE read in the same turn as 4 of a
    stranger's got 486."""
    sent = 0
    while not stop.is_set() and sent < most:
        for invite in _flood(target, sock.source):
            sock.send(invite.data)
        sent += FLOOD
        stop.wait(0.002)  # pacing, not waiting for anything
    return sent


def _pending(sock: RawSip) -> list[bytes]:
    """Whatever has reached ``sock`` and not been read (non-blocking)."""
    sock.sock.setblocking(False)
    out: list[bytes] = []
    with contextlib.suppress(BlockingIOError):
        while True:
            out.append(sock.sock.recv(65535))
    return out


async def test_torture_and_scanners_leave_the_worker_working(
        gateway: Gateway, lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # worker stderr (pjsip's log) included
    agent = await gateway.agent("tess", extension="1001", tone=1000)
    await agent.online()
    worker = gateway.lines.supervisor.worker_of(agent.user.id)
    assert worker is not None
    pid = worker.pid
    port = gateway.settings.workers.sip_ports[0] + worker.worker_id
    target = f"{PBX_HOST}:{port}"
    mark = len(agent.events)

    stranger = RawSip(STRANGER_HOST, (PBX_HOST, port))
    pbx = RawSip(PBX_HOST, (PBX_HOST, port))
    try:
        # From the PBX's own address only what must be refused whoever sends it: pjsip
        # reads many odd INVITEs leniently, and from the PBX those would ring.
        from_pbx = ([t for t in invalid_tortures(target, pbx.source, "1001")
                     if t.method != "INVITE" or t.name.startswith("missing-")]
                    + scanner_probes(target, pbx.source, "1001"))
        _send_all(pbx, from_pbx)
        relayed = await asyncio.to_thread(_flood_until, pbx, target, threading.Event(),
                                          PBX_FLOOD)
        pbx_probe = await _drain(pbx)
        # Then the stranger's whole corpus, and INVITEs it never ACKs flooding in while
        # a real call arrives through the PBX: it rings the agent and carries the
        # caller's tone. The worker reports in order, so if any torture INVITE had rung,
        # it would come first.
        from_stranger = (valid_tortures(target, stranger.source, "1001")
                         + invalid_tortures(target, stranger.source, "1001")
                         + scanner_probes(target, stranger.source, "1001"))
        _send_all(stranger, from_stranger)
        stop = threading.Event()
        flood = asyncio.ensure_future(asyncio.to_thread(_flood_until, stranger, target, stop))
        try:
            with uac_call(lab.kamailio.hostport, "1001", hold_ms=3000,
                          tone_hz=1500) as customer:
                ringing = await agent.wait_call("ringing", since=mark)
                stop.set()
                await agent.send(signalling.AnswerCall(call_id=ringing["call_id"]))
                await agent.wait_call("connected", since=mark)
                assert await agent.rtc.wait_hears(1500)
                await agent.wait_call("ended", since=mark, timeout=15)
                assert (await asyncio.to_thread(customer.wait, 10)).ok
        finally:
            stop.set()
            flooded = await flood
        # The worker reads its socket in order: once the PBX's probe is answered, any
        # answer to the stranger would have been sent.
        after_probe = await _drain(pbx)
        to_stranger = _pending(stranger)
    finally:
        stranger.close()
        pbx.close()

    assert flooded >= FLOOD and relayed >= PBX_FLOOD
    assert pbx_probe.status == 200 and after_probe.status == 200
    assert to_stranger == [], f"{len(to_stranger)} answers to a stranger: {to_stranger[:2]}"
    # Replies to the PBX are SIP responses; none accepts a call.
    replies_by_message = _replies_to(pbx, from_pbx)
    for name, replies in replies_by_message.items():
        for reply in replies:
            assert reply.status is not None, (name, reply.text[:200])
            assert 100 <= reply.status < 700, (name, reply.status)
            if reply.cseq_method == "INVITE":
                assert not 200 <= reply.status < 300, (name, reply.text[:300])
        for secret in AGENTS.values():
            assert all(secret not in r.text for r in replies), name
    # Every scanner INVITE through the PBX got a final refusal: 403 from the screening,
    # or 486 while refusals of the same burst still hold pjsua's call slots.
    for t in from_pbx:
        if t.method == "INVITE":
            finals = [r.status for r in replies_by_message.get(t.name, [])
                      if r.status and r.status >= 200]
            assert all(code >= 400 for code in finals), (t.name, finals)
            if t.valid:
                assert finals and finals[0] in (403, 486), (t.name, finals)

    calls = {e["call_id"] for e in agent.events[mark:] if e["type"] == "call"}
    assert calls == {ringing["call_id"]}, "a torture or scanner message rang the agent"
    # Same worker process, still answering the supervisor's pings.
    assert worker.pid == pid
    assert gateway.lines.supervisor.worker_of(agent.user.id) is worker
    loop = asyncio.get_running_loop()
    assert loop.time() - worker.last_pong < gateway.settings.workers.ping_timeout
    # And it leaves cleanly: refused calls used to outlive libDestroy and abort the
    # worker at exit (pjsua_call_set_user_data asserting in ~Call).
    await gateway.lines.close()
    worker_lines = [r.getMessage() for r in caplog.records
                    if r.name.startswith("headset.worker")]
    assert not [line for line in worker_lines if any(m in line for m in CRASH_MARKS)]
    for secret in AGENTS.values():
        assert secret not in caplog.text


async def test_an_oversized_invite_is_refused_without_a_crash(gateway: Gateway) -> None:
    # Regression: refusing an INVITE that filled pjsip's 4000-byte packet buffer from
    # inside onIncomingCall aborted the worker (assertion in pjsip_rx_data_free_cloned).
    # Sent from the PBX's address (a stranger's never reaches pjsip) with a scanner's
    # User-Agent, so the screening refuses it.
    agent = await gateway.agent("otto", extension="1001")
    await agent.online()
    worker = gateway.lines.supervisor.worker_of(agent.user.id)
    assert worker is not None
    port = gateway.settings.workers.sip_ports[0] + worker.worker_id
    pbx = RawSip(PBX_HOST, (PBX_HOST, port))
    try:
        huge = next(t for t in invalid_tortures(f"{PBX_HOST}:{port}", pbx.source, "1001")
                    if t.name == "huge-datagram")
        assert len(huge.data) > 4000
        pbx.send(huge.data.replace(b"\r\nMax-Forwards:",
                                   b"\r\nUser-Agent: friendly-scanner\r\nMax-Forwards:", 1))
        probe = await _drain(pbx)
    finally:
        pbx.close()
    assert probe.status == 200
    assert [r.status for r in pbx.replies if r.status and r.status >= 200] == [403]
    assert gateway.lines.supervisor.worker_of(agent.user.id) is worker
