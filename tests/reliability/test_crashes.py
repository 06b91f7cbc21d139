"""What survives a crash: the server killed with SIGKILL in the middle of a call.

The real `headset serve` runs as a child process; an aiortc peer drives it through the
real login and WebSocket, as a browser would. After the kill, the line workers must
notice (their control pipe closes), hang up their SIP legs and exit; at the next start
the call's record is closed as interrupted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from crm import call_records
from crm.db import open_database
from tests.conftest import AGENTS, ECHO, Lab
from tests.lab.ports import free_tcp_port, free_udp_port_range
from tests.support.rtc_client import RtcClient
from webrtc.ice import restrict_host_addresses

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def server_env(data: Path, lab: Lab, http_port: int) -> dict[str, str]:
    sip = free_udp_port_range(4 + 800)  # one run: the two ranges must not overlap
    rtp = sip + 4
    return {
        **os.environ,
        "HEADSET_DATA_DIR": str(data),
        "HEADSET_HTTP_HOST": "127.0.0.1",
        "HEADSET_HTTP_PORT": str(http_port),
        "HEADSET_SIP_REGISTRAR": lab.kamailio.hostport,
        "HEADSET_ICE_HOST_ADDRESSES": "127.0.0.1",
        "HEADSET_WORKERS_BIND": "127.0.0.1",
        "HEADSET_WORKERS_SIP_PORTS": f"{sip}-{sip + 3}",
        "HEADSET_WORKERS_RTP_PORTS": f"{rtp}-{rtp + 799}",
    }


def headset(env: dict[str, str], *args: str, stdin: str = "") -> None:
    subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=env, cwd=ROOT,
                   input=stdin, text=True, check=True, capture_output=True, timeout=60)


class Server:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve"], env=env, cwd=ROOT,
            stdout=self._log, stderr=subprocess.STDOUT)

    async def ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, "server exited"
                try:
                    async with http.get(f"{self.url}/login") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError("server did not answer")

    def descendants(self) -> list[int]:
        """The server's children (the worker launcher), theirs (the workers), and so on."""
        found: list[int] = []
        todo = [self.process.pid]
        while todo:
            pid = todo.pop()
            try:
                kids = [int(k) for k in
                        Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def env(tmp_path: Path, lab: Lab) -> Iterator[dict[str, str]]:
    port = free_tcp_port()
    environment = server_env(tmp_path / "data", lab, port)
    environment["TEST_HTTP_PORT"] = str(port)
    headset(environment, "user", "add", "ana", "--dialer", stdin=PASSWORD + "\n")
    headset(environment, "sip", "set", "ana", "--extension", "1001",
            stdin=AGENTS["1001"] + "\n")
    yield environment


async def next_event(ws: aiohttp.ClientWebSocketResponse, kind: str,
                     timeout: float = 15) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {kind} event"
        event = json.loads((await ws.receive(timeout=remaining)).data)
        if event["type"] == kind and not (kind == "line" and event["state"] != "registered"):
            return event  # type: ignore[no-any-return]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose: it holds no sockets.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.split(") ")[1][0] != "Z"


async def test_server_killed_mid_call(env: dict[str, str], tmp_path: Path, lab: Lab) -> None:
    restrict_host_addresses(["127.0.0.1"])
    port = int(env["TEST_HTTP_PORT"])
    server = Server(env, port, tmp_path / "server.log")
    rtc = RtcClient(1000)
    try:
        await server.ready()
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            page = await (await http.get(f"{server.url}/login")).text()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token is not None
            await http.post(f"{server.url}/login", data={
                "username": "ana", "password": PASSWORD, "csrf_token": token.group(1)})
            ws = await http.ws_connect(f"{server.url}/ws", origin=server.url)
            await ws.send_json({"v": 1, "type": "online"})
            await next_event(ws, "line")
            await ws.send_json({"v": 1, "type": "offer", "sdp": await rtc.offer()})
            answer = await next_event(ws, "answer_sdp")
            await rtc.accept(str(answer["sdp"]))
            await rtc.wait_connected()
            await ws.send_json({"v": 1, "type": "dial", "target": ECHO})
            call = await next_event(ws, "call")
            call_id = str(call["call_id"])
            while call["state"] != "connected":
                call = await next_event(ws, "call")
            assert await rtc.wait_hears(1000)

            workers = server.descendants()
            assert len(workers) >= 2, "no launcher and line worker running"
            server.process.send_signal(signal.SIGKILL)  # our own child
            server.process.wait()
            await ws.close()

        # The workers see their control pipe close, hang up and leave.
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not any(alive(pid) for pid in workers), "a worker outlived the server"
        # ...and the SIP peer got its BYE: the echo line's call completed.
        assert (await asyncio.to_thread(lab.lines[ECHO].wait, 10)).ok

        # The next start closes the record the crash left open.
        server.stop()
        server = Server(env, port, tmp_path / "server.log")
        await server.ready()
        db = await open_database(Path(env["HEADSET_DATA_DIR"]) / "headset.sqlite3")
        try:
            record = await call_records.get(db, call_id)
        finally:
            await db.close()
        assert record is not None and record.state == "ended"
        assert record.outcome == "interrupted" and record.answered_at is not None
    finally:
        await rtc.close()
        server.stop()
