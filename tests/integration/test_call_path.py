"""The call path against real peers: line workers (pjsua2 + aiortc), Kamailio, SIPp."""

from __future__ import annotations

import asyncio

import pytest

from crm import call_records
from gateway import ipc, signalling
from gateway.supervisor import WorkerUnavailable
from tests.conftest import AGENTS, BUSY, ECHO, HANGS_UP, NO_ANSWER, Lab
from tests.integration.conftest import Gateway
from tests.lab.phone import Phone
from tests.lab.sipp import Sipp, uac_call, uac_cancel
from tests.support.gateway import Agent, make_agent_user


async def test_echo_test_number_works_without_a_sip_account(gateway: Gateway) -> None:
    agent = await gateway.agent("nuria", extension=None)
    await agent.online()
    assert agent.events[-1]["type"] != "error"
    call_id = await agent.dial(gateway.settings.echo_number)
    await agent.wait_call("connected")
    assert await agent.rtc.wait_hears(1000), "own tone not echoed back"
    await agent.send(signalling.Hangup(call_id=call_id))
    ended = await agent.wait_call("ended")
    assert ended["reason"] == "completed"
    assert await agent.rtc.wait_silence(1000)


@pytest.mark.parametrize("sip_media", ["pjmedia", "direct"])
async def test_outbound_call_carries_audio_both_ways(gateway: Gateway, lab: Lab) -> None:
    agent = await gateway.agent("ana", extension="1001", tone=1000)
    await agent.online()
    call_id = await agent.dial(ECHO)
    await agent.wait_call("connected")
    # SIPp echoes RTP: hearing our tone proves browser->SIP and SIP->browser.
    assert await agent.rtc.wait_hears(1000)
    await agent.send(signalling.Hangup(call_id=call_id))
    ended = await agent.wait_call("ended")
    assert ended["reason"] == "completed"
    record = await call_records.get(gateway.db, call_id)
    assert record is not None
    assert record.state == "ended" and record.outcome == "completed"
    assert record.answered_at is not None and record.hangup_side == "agent"
    assert lab.lines[ECHO].wait(10).ok


@pytest.mark.parametrize("sip_media", ["pjmedia", "direct"])
async def test_inbound_call_rings_with_caller_number_and_carries_audio(
        gateway: Gateway, lab: Lab) -> None:
    agent = await gateway.agent("bea", extension="1001", tone=1000)
    await agent.online()
    customer = uac_call(lab.kamailio.hostport, "1001", from_user="34911234567",
                        hold_ms=4000, tone_hz=1500)
    with customer:
        ringing = await agent.wait_call("ringing")
        assert ringing["direction"] == "inbound"
        assert ringing["remote"] == "34911234567"
        await agent.send(signalling.AnswerCall(call_id=ringing["call_id"]))
        await agent.wait_call("connected")
        # The customer's 1.5 kHz tone reaches the browser.
        assert await agent.rtc.wait_hears(1500)
        ended = await agent.wait_call("ended", timeout=15)
        assert ended["reason"] == "completed"
        assert (await asyncio.to_thread(customer.wait, 10)).ok
    record = await call_records.get(gateway.db, ringing["call_id"])
    assert record is not None and record.hangup_side == "remote"
    assert record.remote_number == "34911234567" and record.direction == "inbound"


@pytest.mark.parametrize("sip_media", ["pjmedia", "direct"])
async def test_audio_both_ways_between_agent_and_a_real_phone(gateway: Gateway,
                                                              lab: Lab) -> None:
    agent = await gateway.agent("carla", extension="1001", tone=1000)
    await agent.online()
    with Phone("desk", tone_hz=1500, auto_answer=True) as phone:
        code = await asyncio.to_thread(phone.register, "1003", AGENTS["1003"],
                                       lab.kamailio.hostport)
        assert code == 200
        call_id = await agent.dial("1003")
        await agent.wait_call("connected")
        # Browser tone detected at the SIP peer, SIP peer's tone detected in the browser.
        assert await asyncio.to_thread(phone.wait_hears, 1000, 5)
        assert await agent.rtc.wait_hears(1500)
        await agent.send(signalling.Hangup(call_id=call_id))
        await agent.wait_call("ended")
        await asyncio.to_thread(phone.wait_state, "DISCONNECTED")


async def test_far_end_hangup(gateway: Gateway) -> None:
    agent = await gateway.agent("dora", extension="1001")
    await agent.online()
    call_id = await agent.dial(HANGS_UP)
    await agent.wait_call("connected")
    ended = await agent.wait_call("ended", timeout=10)
    assert ended["reason"] == "completed"
    record = await call_records.get(gateway.db, call_id)
    assert record is not None and record.hangup_side == "remote"


async def test_busy_line(gateway: Gateway) -> None:
    agent = await gateway.agent("eva", extension="1001")
    await agent.online()
    call_id = await agent.dial(BUSY)
    ended = await agent.wait_call("ended")
    assert ended["reason"] == "busy"
    record = await call_records.get(gateway.db, call_id)
    assert record is not None and record.sip_code == 486


async def test_dials_in_quick_succession_do_not_bring_the_worker_down(
        gateway: Gateway) -> None:
    # Each failed dial opens and closes two media sockets, whose ioqueue keys pjlib holds
    # for 500 ms; ~30 back to back exhausted them and aborted the worker
    # (sip_bridge/socket_pacer.py): the dials are paced instead. Nobody has this number,
    # so the PBX (Kamailio) refuses every dial at once.
    agent = await gateway.agent("eloy", extension="1001")
    await agent.online()
    pids = [w.pid for w in gateway.lines.supervisor.workers.values()]
    for _ in range(40):
        mark = len(agent.events)
        call_id = await agent.dial("5550199")
        await agent.wait_event(lambda e, c=call_id: e["type"] == "call"  # type: ignore[misc]
                               and e["call_id"] == c and e["state"] == "ended", since=mark)
    assert [w.pid for w in gateway.lines.supervisor.workers.values()] == pids
    record = await call_records.get(gateway.db, call_id)
    assert record is not None and record.sip_code == 404


async def test_a_dial_its_worker_can_no_longer_take_ends_and_the_next_one_works(
        gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # The worker died after the agent was placed on it and before the supervisor moved
    # the agent on: sending the dial fails. Without an end the call stayed "dialing" for
    # good, and every later dial was refused as busy.
    agent = await gateway.agent("elia", extension="1001")
    await agent.online()
    worker = gateway.lines.supervisor.worker_of(agent.user.id)
    assert worker is not None
    send = worker.send

    def gone(command: ipc.Command) -> None:
        if isinstance(command, ipc.MakeCall):
            raise WorkerUnavailable("worker 0 is not running")
        send(command)

    monkeypatch.setattr(worker, "send", gone)
    mark = len(agent.events)
    await agent.send(signalling.Dial(target=ECHO))
    error = await agent.wait_event(lambda e: e["type"] == "error", since=mark)
    assert error["code"] == "worker_unavailable"
    ended = await agent.wait_event(lambda e: e["type"] == "call" and e["state"] == "ended",
                                   since=mark)
    assert ended["reason"] == "interrupted"
    record = await call_records.get(gateway.db, ended["call_id"])
    assert record is not None and record.state == "ended" and record.ended_at is not None
    monkeypatch.setattr(worker, "send", send)
    call_id = await agent.dial(ECHO)
    await agent.wait_call("connected", since=mark)
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_event(lambda e: e["type"] == "call" and e["call_id"] == call_id
                           and e["state"] == "ended", since=mark)


async def test_agent_cancels_while_far_end_rings(gateway: Gateway, lab: Lab) -> None:
    agent = await gateway.agent("fran", extension="1001")
    await agent.online()
    call_id = await agent.dial(NO_ANSWER)
    await agent.wait_call("ringing")
    await agent.send(signalling.Hangup(call_id=call_id))
    ended = await agent.wait_call("ended")
    assert ended["reason"] == "cancelled"
    assert (await asyncio.to_thread(lab.lines[NO_ANSWER].wait, 10)).ok


async def test_unknown_number_and_unregistered_extension(gateway: Gateway) -> None:
    agent = await gateway.agent("gala", extension="1001")
    await agent.online()
    await agent.dial("999999")
    assert (await agent.wait_call("ended"))["reason"] == "not_found"
    mark = len(agent.events)
    await agent.dial("1002")  # a known extension nobody has registered
    assert (await agent.wait_call("ended", since=mark))["reason"] == "unreachable"


async def test_caller_cancels_while_agent_rings(gateway: Gateway, lab: Lab) -> None:
    agent = await gateway.agent("hana", extension="1001")
    await agent.online()
    with uac_cancel(lab.kamailio.hostport, "1001", ring_ms=800) as customer:
        ringing = await agent.wait_call("ringing")
        ended = await agent.wait_call("ended")
        assert ended["call_id"] == ringing["call_id"]
        assert ended["reason"] == "missed"
        assert (await asyncio.to_thread(customer.wait, 10)).ok


async def test_agent_rejects_inbound_call(gateway: Gateway, lab: Lab) -> None:
    agent = await gateway.agent("ines", extension="1001")
    await agent.online()
    with uac_call(lab.kamailio.hostport, "1001") as customer:
        ringing = await agent.wait_call("ringing")
        await agent.send(signalling.RejectCall(call_id=ringing["call_id"]))
        ended = await agent.wait_call("ended")
        assert ended["reason"] == "rejected"
        result = await asyncio.to_thread(customer.wait, 10)
        assert result.failed == 1  # the customer was refused, not answered


async def test_wrong_sip_password_is_reported(gateway: Gateway) -> None:
    user = await make_agent_user(gateway.db, gateway.box, "jon", "1002", "not-the-password")
    agent = Agent(gateway.lines, user)
    gateway.agents.append(agent)
    await agent.send(signalling.Online())
    failed = await agent.wait_line("failed")
    assert failed["reason"] == "reg_wrong_password"


async def test_bad_commands_get_errors_and_leave_the_session_usable(
        gateway: Gateway) -> None:
    agent = await gateway.agent("kai", extension="1001")
    await agent.send(signalling.Dial(target="555"))
    assert (await agent.wait_event(lambda e: e["type"] == "error"))["code"] == "not_online"
    await agent.online()
    for bad, code in (("call me maybe", "invalid_number"), ("1001; DROP TABLE", "invalid_number")):
        mark = len(agent.events)
        await agent.send(signalling.Dial(target=bad))
        error = await agent.wait_event(lambda e: e["type"] == "error", since=mark)
        assert error["code"] == code and error["ref"] == "dial"
    mark = len(agent.events)
    await agent.send(signalling.Offer(sdp="v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\ngarbage"))
    error = await agent.wait_event(lambda e: e["type"] == "error", since=mark)
    assert error["code"] == "invalid_sdp" and error["ref"] == "offer"
    mark = len(agent.events)
    await agent.send(signalling.AnswerCall(call_id="not-a-call"))
    error = await agent.wait_event(lambda e: e["type"] == "error", since=mark)
    assert error["code"] == "no_such_call"
    # Still usable, on the line it already had: a real call goes through with audio.
    call_id = await agent.dial(ECHO)
    await agent.wait_call("connected")
    assert await agent.rtc.wait_hears(1000)
    await agent.send(signalling.Hangup(call_id=call_id))
    await agent.wait_call("ended")


@pytest.mark.parametrize("gateway_options", [{"ring_timeout": 1.5}])
async def test_unanswered_outbound_call_ends_as_no_answer(gateway: Gateway, lab: Lab) -> None:
    agent = await gateway.agent("lola", extension="1001")
    await agent.online()
    call_id = await agent.dial(NO_ANSWER)
    await agent.wait_call("ringing")
    ended = await agent.wait_call("ended", timeout=10)
    assert ended["reason"] == "no_answer"
    record = await call_records.get(gateway.db, call_id)
    assert record is not None and record.hangup_side == "system"
    assert (await asyncio.to_thread(lab.lines[NO_ANSWER].wait, 10)).ok


async def test_ringing_shows_the_contact_the_crm_knows(gateway: Gateway, lab: Lab) -> None:
    from crm import contacts

    known = await contacts.create_contact(gateway.db, contacts.ContactDraft(
        kind=contacts.ContactKind.PERSON, name="Lucía Fernández",
        phones=(contacts.ContactPhone(label=contacts.PhoneLabel.MOBILE, e164="+34911234567"),)))
    agent = await gateway.agent("tere", extension="1001")
    await agent.online()
    # The trunk presents the number without "+", as Spanish carriers often do.
    with uac_call(lab.kamailio.hostport, "1001", from_user="34911234567", hold_ms=500):
        ringing = await agent.wait_call("ringing")
        assert ringing["remote_name"] == "Lucía Fernández"
        assert ringing["contact_id"] == known.id and ringing["matches"] == 1
        await agent.send(signalling.RejectCall(call_id=ringing["call_id"]))
        await agent.wait_call("ended")
    record = await call_records.get(gateway.db, ringing["call_id"])
    assert record is not None and record.remote_name == "Lucía Fernández"


async def test_invites_that_bypass_the_pbx_are_refused(gateway: Gateway, lab: Lab) -> None:
    agent = await gateway.agent("uma", extension="1001")
    await agent.online()
    worker = gateway.lines.supervisor.worker_of(agent.user.id)
    assert worker is not None
    worker_sip = f"127.0.0.1:{gateway.settings.workers.sip_ports[0] + worker.worker_id}"
    # Someone who found the worker's port calls it directly, from an address that is
    # not the PBX's (another loopback address: Kamailio is on 127.0.0.1). The worker's
    # socket filter drops it unread: no answer at all, so SIPp gives up on its own timer.
    mark = len(agent.events)
    with Sipp("uac_call", remote=worker_sip, service="1001", hold_ms=500, timeout_s=2,
              host="127.0.0.2") as intruder:
        result = await asyncio.to_thread(intruder.wait, 10)
    assert result.returncode != 0 and result.successful == 0
    assert "UDP message sent" in result.log  # it did call
    assert "message received" not in result.log, "the worker answered the intruder"
    # The PBX itself still gets through, and rings first: the worker reports in order.
    with uac_call(lab.kamailio.hostport, "1001", hold_ms=500):
        ringing = await agent.wait_call("ringing", since=mark)
        assert not [e for e in agent.events[mark:] if e["type"] == "call"
                    and e["call_id"] != ringing["call_id"]], "the intruder rang"
        await agent.send(signalling.RejectCall(call_id=ringing["call_id"]))
        await agent.wait_call("ended", since=mark)
