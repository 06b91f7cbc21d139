"""Drives the gateway's control plane (``Lines``) the way a browser tab does, with real
line workers, pjsua2, Kamailio and SIPp behind it, and an aiortc peer as the tab."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher, Type

from crm import sip_accounts, users
from crm.db import Database
from crm.passwords import PasswordHashing
from crm.secret_key import SecretBox
from gateway import signalling
from gateway.lines import Lines, Session
from tests.support.rtc_client import RtcClient

Event = dict[str, Any]
FAST_HASHING = PasswordHashing(
    PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID))


class TabSession:
    """A browser tab's signalling as ``Lines`` sees it: commands in, events recorded."""

    def __init__(self, lines: Lines, user: users.User) -> None:
        self.lines = lines
        self.user = user
        self.session: Session = lines.connect(user, "en")
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        self._pump = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while (text := await self.session.outbox.get()) is not None:
            self.events.append(json.loads(text))
            self._changed.set()

    async def send(self, command: signalling.Command) -> None:
        await self.lines.handle(self.session, command)

    async def wait_event(self, match: Callable[[Event], bool], timeout: float = 10,
                         since: int = 0) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events[since:]:
                if match(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching event; got {self.events[since:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def close_session(self) -> None:
        self.lines.disconnect(self.session)
        self.session.close()
        await asyncio.gather(self._pump, return_exceptions=True)


class Agent(TabSession):
    """One browser tab of one agent, with an aiortc peer as its audio."""

    def __init__(self, lines: Lines, user: users.User, tone: float = 1000) -> None:
        super().__init__(lines, user)
        self.rtc = RtcClient(tone)

    async def wait_line(self, state: str, timeout: float = 10, since: int = 0) -> Event:
        return await self.wait_event(
            lambda e: e["type"] == "line" and e["state"] == state, timeout, since)

    async def wait_call(self, state: str, timeout: float = 10, since: int = 0) -> Event:
        return await self.wait_event(
            lambda e: e["type"] == "call" and e["state"] == state, timeout, since)

    async def online(self, expect: str = "registered") -> None:
        mark = len(self.events)
        await self.send(signalling.Online())
        await self.wait_line(expect, since=mark)
        await self.open_line()

    async def open_line(self) -> None:
        mark = len(self.events)
        await self.send(signalling.Offer(sdp=await self.rtc.offer()))
        answer = await self.wait_event(lambda e: e["type"] == "answer_sdp", since=mark)
        await self.rtc.accept(answer["sdp"])
        await self.rtc.wait_connected()

    async def dial(self, target: str) -> str:
        mark = len(self.events)
        await self.send(signalling.Dial(target=target))
        event = await self.wait_event(lambda e: e["type"] in ("call", "error"), since=mark)
        if event["type"] == "error":
            raise AssertionError(f"dial refused: {event}")
        return str(event["call_id"])

    async def close(self) -> None:
        await self.close_session()
        await self.rtc.close()


async def make_agent_user(db: Database, box: SecretBox, name: str, extension: str | None,
                          sip_password: str = "") -> users.User:
    user = await users.create_user(db, name, "correct horse battery", role="agent",
                                   dialer_enabled=True, hashing=FAST_HASHING)
    if extension is not None:
        await sip_accounts.set_account(db, box, user.id, extension=extension,
                                       auth_user=extension, display_name=name.title(),
                                       password=sip_password)
    return user



@dataclass(frozen=True)
class WorkerCall:
    """An agent's connected call and the line worker process carrying it."""

    call_id: str
    worker_pid: int
    mark: int  # len(agent.events) once the call is up: wait for what follows from here


async def echo_call_on_worker(lines: Lines, agent: Agent, echo: str,
                              tone: float = 1000) -> WorkerCall:
    """Bring the agent online and into a call to the echo line, proven by hearing its own
    tone back: the set-up of every test that then does something to the agent's worker."""
    await agent.online()
    call_id = await agent.dial(echo)
    await agent.wait_call("connected")
    assert await agent.rtc.wait_hears(tone)
    worker = lines.supervisor.worker_of(agent.user.id)
    assert worker is not None
    return WorkerCall(call_id, worker.pid, len(agent.events))
