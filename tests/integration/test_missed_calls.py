"""Missed calls from real calls: SIPp customers through Kamailio to a real line worker.

Calls no one answers fold into one row per caller; the caller calling again and being
answered removes it; each new missed call is e-mailed to a subscriber through a real SMTP
server (aiosmtpd on loopback).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from crm import call_records, clock, missed_call_store
from crm.deployment import Deployment, LiveDeployment, defaults_from
from crm.missed_call_mail import MissedCallMailer
from crm.missed_calls import ATTEMPT_GAP, Closure, MissedRow
from gateway import signalling
from tests.conftest import ECHO, Lab
from tests.integration.conftest import Gateway
from tests.lab.ports import free_tcp_port
from tests.lab.sipp import uac_call, uac_cancel
from web import i18n

CUSTOMER = "34911234567"     # as the trunk presents it
KEY = "+34911234567"
SUBSCRIBER = "supervisor@example.com"


@dataclass
class Sink:
    """An SMTP server that keeps what it receives."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        raw = envelope.original_content or b""
        self.messages.append(message_from_bytes(raw, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    port = free_tcp_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()  # returns once the server answers on the port
    try:
        yield sink, port
    finally:
        controller.stop()


async def until(check: Callable[[], object], what: str, timeout: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await _call(check):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def _call(check: Callable[[], object]) -> object:
    result = check()
    return await result if asyncio.iscoroutine(result) else result


async def rows(gateway: Gateway) -> list[MissedRow]:
    now = clock.utc_now()
    return await missed_call_store.load_rows(
        gateway.db, missed_call_store.Numbering(gateway.settings.region),
        since=now - timedelta(days=1), now=now, retention_days=30)


async def test_missed_calls_fold_notify_by_email_and_clear_when_answered(
        gateway: Gateway, lab: Lab, smtp_sink: tuple[Sink, int]) -> None:
    sink, smtp_port = smtp_sink
    agent = await gateway.agent("hana", extension="1001")
    await agent.online()
    live = LiveDeployment(defaults_from(gateway.settings))
    await live.save(gateway.db, gateway.box, replace_smtp(live, smtp_port), None, None)
    await missed_call_store.set_subscription(gateway.db, agent.user.id, SUBSCRIBER)
    mailer = MissedCallMailer(gateway.db, live, gateway.box, i18n.translate)
    mailing = asyncio.create_task(mailer.run(interval=0.2))
    try:
        for attempt in (1, 2):
            mark = len(agent.events)
            with uac_cancel(lab.kamailio.hostport, "1001", from_user=CUSTOMER,
                            ring_ms=800) as customer:
                ringing = await agent.wait_call("ringing", since=mark)
                assert ringing["remote"] == CUSTOMER
                ended = await agent.wait_call("ended", since=mark)
                assert ended["reason"] == "missed"
                assert (await asyncio.to_thread(customer.wait, 10)).ok
            # Each new missed call is e-mailed once, after the hunt-group grace.
            await until(lambda: len(sink.messages) == attempt, f"e-mail {attempt}")  # noqa: B023

        listed = [row for row in await rows(gateway) if row.closure is None]
        assert [(row.key, row.count) for row in listed] == [(KEY, 2)]
        message = sink.messages[-1]
        assert message["To"] == SUBSCRIBER and message["From"] == "headset@example.com"
        assert message["Subject"] == "Missed call from 911 23 45 67"
        body = message.get_body(("plain",))
        assert body is not None
        content = body.get_content()
        assert "no one answered" in content and "still waiting: 2" in content
        assert sink.envelopes[-1].rcpt_tos == [SUBSCRIBER]

        # The caller tries again and this time the agent answers: the row is gone.
        mark = len(agent.events)
        with uac_call(lab.kamailio.hostport, "1001", from_user=CUSTOMER, hold_ms=1500):
            ringing = await agent.wait_call("ringing", since=mark)
            await agent.send(signalling.AnswerCall(call_id=ringing["call_id"]))
            await agent.wait_call("connected", since=mark)
            assert (await agent.wait_call("ended", since=mark))["reason"] == "completed"
        after = await rows(gateway)
        assert [row.closure for row in after] == [Closure.GOT_THROUGH]
        assert after[0].count == 2
        # No e-mail for an answered call.
        assert await mailer.check(clock.utc_now() + timedelta(seconds=10)) == 0
        assert len(sink.messages) == 2
    finally:
        mailing.cancel()
        await asyncio.gather(mailing, return_exceptions=True)


def replace_smtp(live: LiveDeployment, port: int) -> Deployment:
    """The settings in force with a plain-SMTP server on loopback."""
    return replace(live.current, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                   smtp_from="headset@example.com", company_name="Acme")


async def test_an_answered_callback_from_the_row_removes_it(gateway: Gateway, lab: Lab) -> None:
    # The customer is a line the PBX can route to (the lab's echo line), so the agent's
    # callback to the number on the row really rings and is answered.
    agent = await gateway.agent("ines", extension="1001")
    await agent.online()
    for _ in range(2):
        mark = len(agent.events)
        with uac_cancel(lab.kamailio.hostport, "1001", from_user=ECHO, ring_ms=500) as customer:
            await agent.wait_call("ringing", since=mark)
            assert (await agent.wait_call("ended", since=mark))["reason"] == "missed"
            assert (await asyncio.to_thread(customer.wait, 10)).ok
        # The second call must be the caller dialling again, not the next leg of the same
        # call (legs closer than ATTEMPT_GAP are one call): wait until that much has passed.
        record = await call_records.get(gateway.db, (await agent.wait_call(
            "ended", since=mark))["call_id"])
        assert record is not None and record.ended_at is not None
        settled = record.ended_at + ATTEMPT_GAP
        await until(lambda: clock.utc_now() > settled, "the attempt to settle")  # noqa: B023
    listed = [row for row in await rows(gateway) if row.closure is None]
    assert [(row.key, row.count, row.dialable) for row in listed] == [(ECHO, 2, True)]
    # "Call back" dials the row's number (data-dial) through the softphone.
    mark = len(agent.events)
    call_id = await agent.dial(listed[0].key)
    await agent.wait_call("connected", since=mark)
    await agent.send(signalling.Hangup(call_id=call_id))
    assert (await agent.wait_call("ended", since=mark))["reason"] == "completed"
    after = await rows(gateway)
    assert [(row.closure, row.count) for row in after] == [(Closure.REACHED, 2)]
    assert [entry.kind.value for entry in after[0].timeline] == ["missed", "missed", "callback"]
