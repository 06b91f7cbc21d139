"""The soak's short form (``bench/soak.py`` runs it for 10 minutes at 80 % of capacity).

Three agents call a SIPp echo line through Kamailio again and again for 40 s (calls of
4-8 s), their browsers real aiortc peers in a process of their own. Then everyone goes
offline and nothing may be left: no live call in the gateway, no SIP call, account or
peer connection in any worker, no open peer connection in the clients; every call has
its record, closed; no worker restarted; resident memory of the main process, workers
and launcher grew < 5 % from after the warm-up to the end. Timings are not asserted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.capacity import Rig
from bench.soak import MEMORY_GROWTH_LIMIT, soak
from webrtc.ice import restrict_host_addresses

CALLS = 3


async def test_short_soak_leaves_nothing_behind(tmp_path: Path) -> None:
    restrict_host_addresses(["127.0.0.1"])
    options = argparse.Namespace(agents_per_worker=2, client_procs=1, late_ms=60.0)
    rig = Rig("opus", CALLS, options, tmp_path)
    async with rig.running():
        result = await soak(rig, CALLS, seconds=40, warmup=12, hold=(4.0, 8.0))

    assert result["calls_connected"] >= CALLS, result["failures"]
    assert result["failures"] == []
    # Audio went both ways through the gateway: the clients heard their echoed tone.
    heard = result["last_window"]
    assert heard["received"] > 0 and heard["silent"] < heard["received"] / 2, heard

    assert result["leaks"] == {"gateway_live_calls": 0, "workers_holding": {},
                               "client_open_peer_connections": 0}
    records = result["records"]
    assert records["calls"] == result["calls_dialled"] == records["records"]
    assert (records["missing"], records["not_final"], records["unexpected"]) == ([], [], [])
    assert result["workers_restarted"] == []
    for key, growth in result["memory_growth"].items():
        assert growth < MEMORY_GROWTH_LIMIT, (key, result["memory_start"],
                                              result["memory_end"])
