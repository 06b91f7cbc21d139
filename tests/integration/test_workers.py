"""Line workers: agents spread over processes, and a worker that dies mid-call."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from gateway import ipc, signalling
from gateway.worker_spawn import WorkerSpawner
from tests.conftest import ECHO, HANGS_UP
from tests.integration.conftest import Gateway
from tests.lab.ports import free_udp_port, free_udp_port_range
from tests.support.gateway import echo_call_on_worker
from tests.support.rtc_client import RtcClient


@pytest.fixture
def gateway_options() -> dict[str, float]:
    # One agent per worker, so every agent in these tests has a process of their own.
    return {"agents_per_worker": 1}


async def test_agents_on_different_workers_call_at_the_same_time(gateway: Gateway) -> None:
    ana = await gateway.agent("ana", extension="1001", tone=1000)
    ben = await gateway.agent("ben", extension="1002", tone=1500)
    cai = await gateway.agent("cai", extension="1003", tone=700)
    await asyncio.gather(ana.online(), ben.online(), cai.online())
    pids = {gateway.lines.supervisor.worker_of(a.user.id).pid  # type: ignore[union-attr]
            for a in (ana, ben, cai)}
    assert len(pids) == 3, "each agent should be on a worker of their own"

    # Ana calls Ben (across two workers, through Kamailio) while Cai calls the echo line.
    ana_call = await ana.dial("1002")
    cai_call = await cai.dial(ECHO)
    ringing = await ben.wait_call("ringing")
    assert ringing["remote"] == "1001"
    await ben.send(signalling.AnswerCall(call_id=ringing["call_id"]))
    await asyncio.gather(ana.wait_call("connected"), ben.wait_call("connected"),
                         cai.wait_call("connected"))
    heard = await asyncio.gather(ana.rtc.wait_hears(1500), ben.rtc.wait_hears(1000),
                                 cai.rtc.wait_hears(700))
    assert heard == [True, True, True]

    await ana.send(signalling.Hangup(call_id=ana_call))
    await cai.send(signalling.Hangup(call_id=cai_call))
    ends = await asyncio.gather(ana.wait_call("ended"), ben.wait_call("ended"),
                                cai.wait_call("ended"))
    assert [e["reason"] for e in ends] == ["completed", "completed", "completed"]


async def test_killed_worker_is_restarted_and_the_agent_registers_again(
        gateway: Gateway) -> None:
    agent = await gateway.agent("dario", extension="1001")
    call = await echo_call_on_worker(gateway.lines, agent, gateway.settings.echo_number)
    call_id, old_pid, mark = call.call_id, call.worker_pid, call.mark
    started = time.monotonic()
    os.kill(old_pid, signal.SIGKILL)  # a worker this test's gateway started

    ended = await agent.wait_call("ended", since=mark)
    assert ended["call_id"] == call_id and ended["reason"] == "interrupted"
    reset = await agent.wait_event(
        lambda e: e["type"] == "line" and e["reason"] == "line_reset", since=mark)
    assert reset["state"] == "registering"
    await agent.wait_line("registered", since=mark)
    recovered = time.monotonic() - started
    new_worker = gateway.lines.supervisor.worker_of(agent.user.id)
    assert new_worker is not None and new_worker.pid != old_pid
    assert recovered < 10, f"took {recovered:.1f} s to register again"

    # The tab opens a new line to the new worker and calls work again.
    await agent.rtc.close()
    agent.rtc = RtcClient(1000)
    await agent.open_line()
    second = await agent.dial(gateway.settings.echo_number)
    await agent.wait_call("connected", since=mark + 1)
    assert await agent.rtc.wait_hears(1000)
    await agent.send(signalling.Hangup(call_id=second))
    assert (await agent.wait_event(
        lambda e: e["type"] == "call" and e["call_id"] == second and e["state"] == "ended"
    ))["reason"] == "completed"


@pytest.mark.parametrize("gateway_options", [{"register_timeout": 1.0, "registrar_down": 1}])
async def test_unreachable_registrar_is_reported(gateway: Gateway) -> None:
    agent = await gateway.agent("eli", extension="1001")
    await agent.send(signalling.Online())
    failed = await agent.wait_line("failed", timeout=15)
    assert failed["reason"] == "reg_unreachable"
    mark = len(agent.events)
    await agent.send(signalling.Dial(target=ECHO))
    refused = await agent.wait_event(lambda e: e["type"] == "error", since=mark)
    assert refused["code"] == "not_registered"
    await agent.send(signalling.Offline())
    await agent.wait_line("offline", since=mark)


async def test_account_change_takes_an_idle_agent_offline(gateway: Gateway) -> None:
    agent = await gateway.agent("fede", extension="1001")
    await agent.online()
    mark = len(agent.events)
    await gateway.lines.account_changed(agent.user.id)
    offline = await agent.wait_line("offline", since=mark)
    assert offline["reason"] == "account_changed"
    # Going online again registers (with whatever the account now is).
    await agent.rtc.close()
    agent.rtc = RtcClient(1000)
    await agent.online()


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return int(text[text.rindex(")") + 2:].split()[1])


async def test_workers_are_forked_by_the_launcher_which_is_replaced_if_it_dies(
        gateway: Gateway) -> None:
    supervisor = gateway.lines.supervisor
    ana = await gateway.agent("gil", extension="1001")
    await ana.online()
    first = supervisor.worker_of(ana.user.id)
    launcher = supervisor.launcher_pid
    assert first is not None and launcher is not None
    # Forked, so the worker shares the launcher's imported libraries.
    assert _parent_of(first.pid) == launcher

    os.kill(launcher, signal.SIGKILL)  # the launcher this test's gateway started
    deadline = time.monotonic() + 10
    while supervisor.launcher_pid is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert supervisor.launcher_pid is None

    # The next worker comes from a new launcher; the first worker never noticed.
    ben = await gateway.agent("hal", extension="1002", tone=1500)
    await ben.online()
    second = supervisor.worker_of(ben.user.id)
    assert second is not None and second.pid != first.pid
    new_launcher = supervisor.launcher_pid
    assert new_launcher not in (None, launcher)
    assert _parent_of(second.pid) == new_launcher
    for agent, tone in ((ana, 1000), (ben, 1500)):
        call_id = await agent.dial(gateway.settings.echo_number)
        await agent.wait_call("connected")
        assert await agent.rtc.wait_hears(tone)
        await agent.send(signalling.Hangup(call_id=call_id))
        assert (await agent.wait_call("ended"))["reason"] == "completed"


@pytest.mark.parametrize("use_launcher", [True, False], ids=["forked", "executed"])
async def test_a_spawned_worker_reports_ready_and_leaves_on_shutdown(
        use_launcher: bool) -> None:
    spawner = WorkerSpawner(use_launcher=use_launcher)
    config = ipc.WorkerConfig(worker_id=0, bind="127.0.0.1", sip_port=free_udp_port(),
                              rtp_port=free_udp_port_range(8), rtp_range=8,
                              sip_codecs=["pcmu"], browser_codecs=["opus"])
    try:
        worker = await spawner.spawn(ipc.encode_config(config))
        ready = ipc.decode_report(await asyncio.wait_for(worker.stdout.readline(), 30))
        assert isinstance(ready, ipc.Ready)
        assert ready.pid == worker.pid and ready.sip_port == config.sip_port
        assert (spawner.launcher_pid is not None) == use_launcher
        worker.stdin.write(ipc.encode(ipc.Shutdown()))
        await asyncio.wait_for(worker.wait(), 10)
        assert worker.exited
    finally:
        await spawner.close()
    assert spawner.launcher_pid is None


@pytest.mark.parametrize("sip_media", ["pjmedia"])  # ports are pjmedia's
async def test_conference_ports_are_reused_call_after_call(gateway: Gateway) -> None:
    # A port leaving pjmedia's bridge while its clock runs can crash the worker
    # (sip_bridge/port_pool.py), so calls borrow ports instead of making new ones.
    agent = await gateway.agent("ivo", extension="1001")
    await agent.online()
    worker = gateway.lines.supervisor.worker_of(agent.user.id)
    assert worker is not None
    # First an echo line the agent hangs up, then a line that hangs up by itself.
    mark = len(agent.events)
    call_id = await agent.dial(ECHO)
    await agent.wait_call("connected", since=mark)
    assert await agent.rtc.wait_hears(1000)
    await agent.send(signalling.Hangup(call_id=call_id))
    assert (await agent.wait_call("ended", since=mark))["reason"] == "completed"
    mark = len(agent.events)
    await agent.dial(HANGS_UP)
    await agent.wait_call("connected", since=mark)
    ended = await agent.wait_call("ended", since=mark)
    assert ended["reason"] == "completed"
    deadline = time.monotonic() + 5
    while (worker.sip_calls, worker.ports) != (0, 1) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert (worker.sip_calls, worker.ports) == (0, 1)
