"""Which line worker an agent goes to (pure).

pjsua2 as installed allows 4 calls and 8 accounts per process, and the 9th account
aborts the process. An agent needs one account and up to two call slots at once: the
call they are on plus a consult or waiting call. So a worker takes at most
``4 // 2 = 2`` agents; placement fills the busiest worker that still has room (fewer
processes, less memory) and asks for a new worker when none has.
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_CALLS_PER_WORKER = 4
MAX_ACCOUNTS_PER_WORKER = 8
CALL_SLOTS_PER_AGENT = 2
AGENTS_PER_WORKER_LIMIT = min(MAX_CALLS_PER_WORKER // CALL_SLOTS_PER_AGENT,
                              MAX_ACCOUNTS_PER_WORKER)


def choose_worker(loads: Mapping[int, int], agents_per_worker: int) -> int | None:
    """The worker id to place one more agent on, or ``None`` if a new worker is needed.

    ``loads`` maps each running worker to the number of agents placed on it.
    """
    capacity = min(agents_per_worker, AGENTS_PER_WORKER_LIMIT)
    candidates = [(count, -wid) for wid, count in loads.items() if count < capacity]
    if not candidates:
        return None
    _count, negative_id = max(candidates)
    return -negative_id


def next_worker_id(existing: set[int], limit: int) -> int | None:
    """The lowest free worker slot (its ports derive from it), or ``None`` when full."""
    for wid in range(limit):
        if wid not in existing:
            return wid
    return None
