"""Garbage on a logged-in ``/ws`` during a live call: random and malformed messages
(hypothesis), binary frames, broken SDP offers and an oversized frame.

Each bad message gets exactly one ``error`` event (checked with a ping behind it), an
oversized one the documented close (1009) of that socket only, and afterwards the same
session still works and the call on it still carries audio both ways; nothing leaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import time
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisDeprecationWarning

from gateway import signalling
from tests.conftest import AGENTS, ECHO, Lab, gateway_settings
from tests.support.rtc_client import RtcClient
from tests.support.server import PASSWORD, RunningServer, add_agent, running_server
from webrtc.ice import restrict_host_addresses

Event = dict[str, Any]
COMMAND_TYPES = ["online", "offline", "offer", "dial", "answer", "reject", "hangup", "dtmf",
                 "hold", "unhold", "transfer", "ping"]
# What a malformed message may be answered with (gateway/signalling.py).
ERROR_CODES = {"malformed_message", "message_too_large", "unsupported_version",
               "unknown_message", "invalid_message", "invalid_sdp", "invalid_number",
               "invalid_dtmf"}
EXAMPLES = 40  # per strategy; the reliability group runs in CI and must stay short


@pytest.fixture
async def server(tmp_path: Path, lab: Lab) -> AsyncIterator[RunningServer]:
    restrict_host_addresses(["127.0.0.1"])
    settings_ = gateway_settings(tmp_path / "data", lab.kamailio.hostport)
    await add_agent(settings_, "ana", "1001", AGENTS["1001"])
    async with running_server(settings_) as running:
        yield running
        assert running.lines.active_calls() == 0


class Tab:
    """A logged-in WebSocket, its events recorded as they arrive."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[Event] = []
        self.texts: list[str] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.texts.append(message.data)
                self.events.append(json.loads(message.data))
                self._changed.set()
        self._changed.set()

    async def wait(self, match: Callable[[Event], bool], since: int = 0,
                   timeout: float = 10) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events[since:]:
                if match(event):
                    return event
            if self.ws.closed:
                raise AssertionError(f"socket closed ({self.ws.close_code}): {self.events[since:]}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching event; got {self.events[since:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def send(self, command: signalling.Command) -> None:
        await self.ws.send_str(msgspec.json.encode(command).decode())

    async def errors_for(self, send: Callable[[], Any]) -> list[Event]:
        """Send something, then a ping; the events in between."""
        mark = len(self.events)
        await send()
        await self.ws.send_str('{"v":1,"type":"ping"}')
        pong = await self.wait(lambda e: e["type"] == "pong", since=mark)
        between = self.events[mark:self.events.index(pong, mark)]
        return [e for e in between if e["type"] == "error"]

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)


@contextlib.asynccontextmanager
async def logged_in(server: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    # unsafe=True: keep cookies for an IP-address host (127.0.0.1).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = await (await http.get(f"{server.url}/login")).text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        await http.post(f"{server.url}/login", data={
            "username": "ana", "password": PASSWORD, "csrf_token": token.group(1)})
        yield http


async def open_tab(http: aiohttp.ClientSession, server: RunningServer) -> Tab:
    ws = await http.ws_connect(f"{server.url}/ws", origin=server.url,
                               max_msg_size=signalling.MAX_MESSAGE_BYTES * 4)
    tab = Tab(ws)
    await tab.wait(lambda e: e["type"] == "hello")
    return tab


# -- what hypothesis sends --------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12)
_not_a_string = st.none() | st.booleans() | st.integers() | st.lists(st.integers(), max_size=3) \
    | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)


def _is_valid(text: str) -> bool:
    try:
        signalling.decode_command(text)
    except signalling.BadMessage:
        return False
    return True


random_text = st.text(max_size=200)
random_json = _json.map(json.dumps)
wrong_types = st.builds(
    lambda kind, field, value: json.dumps({"v": 1, "type": kind, field: value}),
    st.sampled_from(COMMAND_TYPES),
    st.sampled_from(["sdp", "target", "call_id", "digits", "v", "type"]), _not_a_string)
wrong_version = st.builds(
    lambda kind, v: json.dumps({"v": v, "type": kind}),
    st.sampled_from(COMMAND_TYPES),
    st.integers().filter(lambda v: v != signalling.VERSION) | st.text(max_size=5) | st.none())
unknown_types = st.builds(lambda kind: json.dumps({"v": 1, "type": kind}),
                          st.text(max_size=50).filter(lambda k: k not in COMMAND_TYPES))
unknown_fields = st.builds(
    lambda kind, extra: json.dumps({"v": 1, "type": kind, **extra}),
    st.sampled_from(COMMAND_TYPES),
    st.dictionaries(st.text(min_size=1, max_size=10).filter(
        lambda k: k not in ("v", "type", "sdp", "target", "call_id", "digits")),
        st.integers(), min_size=1, max_size=3))
long_strings = st.builds(
    lambda kind, field, n: json.dumps({"v": 1, "type": kind, field: "9" * n}),
    st.sampled_from(["dial", "transfer", "dtmf", "hangup"]),
    st.sampled_from(["target", "digits", "call_id"]),
    st.integers(min_value=33, max_value=60_000))
bad_messages = (random_text | random_json | wrong_types | wrong_version | unknown_types
                | unknown_fields | long_strings).filter(lambda text: not _is_valid(text))


async def test_garbage_on_the_socket_leaves_the_session_and_its_call_working(
        server: RunningServer) -> None:
    rtc = RtcClient(1000)
    async with logged_in(server) as http:
        tab = await open_tab(http, server)
        try:
            await tab.send(signalling.Online())
            await tab.wait(lambda e: e["type"] == "line" and e["state"] == "registered")
            mark = len(tab.events)
            await tab.send(signalling.Offer(sdp=await rtc.offer()))
            answer = await tab.wait(lambda e: e["type"] == "answer_sdp", since=mark)
            await rtc.accept(answer["sdp"])
            await rtc.wait_connected()
            mark = len(tab.events)
            await tab.send(signalling.Dial(target=ECHO))
            connected = await tab.wait(
                lambda e: e["type"] == "call" and e["state"] == "connected", since=mark)
            call_id = connected["call_id"]
            assert await rtc.wait_hears(1000)

            await _hypothesis_storm(tab)
            # Binary frames and broken SDP offers, mid-call.
            for blob in (b"", b"\x00\xff" * 100, json.dumps({"v": 1, "type": "ping"}).encode()):
                errors = await tab.errors_for(functools.partial(tab.ws.send_bytes, blob))
                assert [e["code"] for e in errors] == ["malformed_message"]
            for sdp in ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\ngarbage",
                        "v=0\r\n" + "a=candidate:" + "x" * 5000,
                        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                        "m=audio 0 RTP/AVP 0\r\n", "not sdp at all"):
                # The worker judges the SDP, so its answer may come after the pong.
                mark = len(tab.events)
                await tab.send(signalling.Offer(sdp=sdp))
                error = await tab.wait(lambda e: e["type"] == "error", since=mark)
                assert error["code"] == "invalid_sdp", error
                assert await tab.errors_for(lambda: asyncio.sleep(0)) == []
            # A frame over the size limit closes that socket (1009) and nothing else.
            other = await open_tab(http, server)
            await other.ws.send_str(json.dumps({"v": 1, "type": "dial",
                                                "target": "1" * signalling.MAX_MESSAGE_BYTES}))
            await asyncio.wait_for(other._reader, 10)
            assert other.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
            await other.close()

            # The session and its call still work: audio both ways through the echo line,
            # and a normal hang-up.
            assert not tab.ws.closed
            assert await rtc.wait_hears(1000)
            assert server.lines.active_calls() == 1
            mark = len(tab.events)
            await tab.send(signalling.Hangup(call_id=call_id))
            ended = await tab.wait(lambda e: e["type"] == "call" and e["state"] == "ended",
                                   since=mark)
            assert ended["reason"] == "completed"
            for text in tab.texts:
                assert AGENTS["1001"] not in text
        finally:
            await tab.close()
            await rtc.close()
    assert server.lines.active_calls() == 0


async def _hypothesis_storm(tab: Tab) -> None:
    """Hypothesis runs in a thread (it is synchronous) and hands each message to the
    event loop; a failing example is shrunk and reported as usual."""
    loop = asyncio.get_running_loop()
    seen: list[str] = []

    @settings(max_examples=EXAMPLES * 4, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(bad_messages)
    def storm(text: str) -> None:
        seen.append(text)
        errors = asyncio.run_coroutine_threadsafe(
            tab.errors_for(lambda: tab.ws.send_str(text)), loop).result(15)
        assert len(errors) == 1, (text[:200], errors)
        assert errors[0]["code"] in ERROR_CODES, errors[0]
        assert errors[0]["message"], errors[0]  # words for the user, not just a code

    def run_storm() -> None:
        # Hypothesis warns when the global ``random`` state changes while it draws an
        # example; here the gateway's event loop (aiortc, aioice) draws from ``random`` in
        # another thread at the same moment, which the strategies never do.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=HypothesisDeprecationWarning,
                                    message="Do not use the `random` module")
            storm()

    await asyncio.to_thread(run_storm)
    assert len(seen) >= EXAMPLES

