"""crm.missed_call_store against SQLite: the quick "still listed" load answers exactly what
the full fold lists, on random call histories."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest

from crm import call_records, clock, missed_call_store, users
from crm.call_flow import Answered, Ended
from crm.db import Database
from crm.missed_calls import ActionKind, MissedRow
from tests.support.gateway import FAST_HASHING

NUMBERS = ("911234567", "+34911234567", "612000001", "+34612000002", "0034612000003",
           "anonymous", "612000004")


def _summary(rows: list[MissedRow]) -> list[tuple[object, ...]]:
    return sorted((r.key, r.count, r.hidden, r.first_at, r.last_at, len(r.timeline))
                  for r in rows if r.closure is None)


@pytest.mark.parametrize("seed", range(6))
async def test_open_rows_match_the_full_fold(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    agent = await users.create_user(db, f"a{seed}", "password 123", hashing=FAST_HASHING)
    now = clock.utc_now()
    for _ in range(120):
        start = now - timedelta(seconds=rng.randrange(40 * 86_400))
        call_id = str(uuid.uuid4())
        inbound = rng.random() < 0.75
        number = rng.choice(NUMBERS)
        await call_records.create(db, call_id, agent.id, "inbound" if inbound else "outbound",
                                  "1001", number, "", start)
        if rng.random() < 0.4:
            await call_records.apply_event(db, call_id, Answered(), start + timedelta(seconds=5))
        await call_records.apply_event(db, call_id, Ended(reason="hangup", side="remote"),
                                       start + timedelta(seconds=30))
    numbering = missed_call_store.Numbering("ES")
    for _ in range(15):
        key = numbering.key(rng.choice(NUMBERS))
        await missed_call_store.add_action(
            db, key, rng.choice(list(ActionKind)), agent.id,
            now - timedelta(seconds=rng.randrange(40 * 86_400)))
    full = await missed_call_store.load_rows(db, numbering, since=now - timedelta(days=30),
                                             now=now, retention_days=30)
    quick = await missed_call_store.load_open_rows(db, numbering, now=now, retention_days=30)
    assert _summary(quick) == _summary(full)
    assert all(row.closure is None for row in quick)
