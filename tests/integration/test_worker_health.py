"""A worker that stops answering is restarted, busy host or not, when it is not running."""

from __future__ import annotations

import os
import signal
import time

from tests.integration.conftest import Gateway
from tests.support.gateway import echo_call_on_worker


async def test_a_stopped_worker_is_restarted_after_the_ping_timeout(gateway: Gateway) -> None:
    agent = await gateway.agent("elena", extension="1001")
    call = await echo_call_on_worker(gateway.lines, agent, gateway.settings.echo_number)
    call_id, old_pid, mark = call.call_id, call.worker_pid, call.mark
    started = time.monotonic()
    # Stopped, not killed: the process is there but will never answer a ping. Whatever
    # the machine's load, a stopped worker reads as not running (worker_health.py).
    os.kill(old_pid, signal.SIGSTOP)  # a worker this test's gateway started

    ended = await agent.wait_call("ended", since=mark, timeout=30)
    assert ended["call_id"] == call_id and ended["reason"] == "interrupted"
    await agent.wait_line("registered", since=mark)
    took = time.monotonic() - started
    new_worker = gateway.lines.supervisor.worker_of(agent.user.id)
    assert new_worker is not None and new_worker.pid != old_pid
    print(f"stopped worker replaced, agent registered again after {took:.1f} s "
          f"(ping_timeout {gateway.settings.workers.ping_timeout} s)")
