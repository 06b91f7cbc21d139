"""crm.call_work and crm.disposition_catalog: stored notes, tags, dispositions, policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from crm import call_records, call_work, disposition_catalog, users
from crm.call_flow import Answered, Ended
from crm.db import Database, open_database
from crm.dispositions import FieldType, Kind, Scenario, Submission, WrapUp
from crm.errors import Conflict, InvalidValue
from crm.passwords import PasswordHashing

FAST = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
ECHO = "*43"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


async def _agent(db: Database, name: str = "agent") -> int:
    return (await users.create_user(db, name, "long enough password", hashing=FAST)).id


async def _call(db: Database, user_id: int, call_id: str, *, direction: str = "outbound",
                answered: bool = True, at: datetime | None = None,
                remote: str = "+34911234567") -> None:
    at = at or datetime.now(UTC) - timedelta(minutes=5)
    await call_records.create(db, call_id, user_id, direction, "1001", remote, "",  # type: ignore[arg-type]
                              at)
    if answered:
        await call_records.apply_event(db, call_id, Answered(), at + timedelta(seconds=3))
    await call_records.apply_event(db, call_id, Ended(reason="hangup", side="remote"),
                                   at + timedelta(seconds=60))


async def test_notes_keep_the_newest_revision(db: Database) -> None:
    agent = await _agent(db)
    await _call(db, agent, "c1")
    now = datetime.now(UTC)
    first = await call_work.save_note(db, "c1", agent, "first", 10, now)
    assert (first.body, first.revision) == ("first", 10)
    assert (await call_work.save_note(db, "c1", agent, "stale", 9, now)).body == "first"
    assert (await call_work.save_note(db, "c1", agent, "newer", 11, now)).body == "newer"


async def test_unfinished_list_and_blocking_policy(db: Database) -> None:
    agent = await _agent(db)
    other = await _agent(db, "other")
    now = datetime.now(UTC)
    await _call(db, agent, "answered-in", direction="inbound")
    await _call(db, agent, "missed-in", direction="inbound", answered=False)
    await _call(db, agent, "busy-out", answered=False)
    await _call(db, agent, "echo", remote=ECHO)
    await _call(db, agent, "old", at=now - timedelta(hours=25))
    await _call(db, other, "theirs")
    ids = {r["id"] for r in await call_work.unfinished(db, agent, now, ECHO)}
    assert ids == {"answered-in", "busy-out"}
    # No policy row, or a policy without the flag: nothing blocks.
    assert await call_work.blocking_call(db, agent, now, ECHO) is None
    await disposition_catalog.set_must_disposition(db, True)
    assert await disposition_catalog.must_disposition(db)
    blocker = await call_work.blocking_call(db, agent, now, ECHO)
    assert blocker in ids
    for call_id in ids:
        await call_work.ensure(db, call_id, agent)
        await call_work.finish(db, call_id, Submission(wrap_up=WrapUp.VOICEMAIL), now)
    assert await call_work.blocking_call(db, agent, now, ECHO) is None
    assert await call_work.unfinished(db, agent, now, ECHO) == []
    await disposition_catalog.set_must_disposition(db, False)
    assert not await disposition_catalog.must_disposition(db)


async def test_catalogue(db: Database) -> None:
    sold = await disposition_catalog.create_category(db, "Vendido", Kind.SUCCESS)
    with pytest.raises(Conflict):
        await disposition_catalog.create_category(db, "vendido", Kind.FAILURE)
    form = await disposition_catalog.create_form(db, "Venta")
    await disposition_catalog.add_field(db, form, "Importe", "number", True, [])
    await disposition_catalog.add_field(db, form, "Plan", "choice", False, ["Oro", "Plata"])
    with pytest.raises(InvalidValue):
        await disposition_catalog.add_field(db, form, "Color", "colour", False, [])
    (stored,) = await disposition_catalog.list_forms(db)
    assert [f.type for f in stored.definitions] == [FieldType.NUMBER, FieldType.CHOICE]
    sale = await disposition_catalog.create_disposition(
        db, "Venta cerrada", sold, form, frozenset({Scenario.INBOUND, Scenario.MANUAL}))
    (listed,) = await disposition_catalog.list_dispositions(db)
    assert (listed.id, listed.category, listed.kind, listed.form_id) == (
        sale, "Vendido", Kind.SUCCESS, form)
    assert listed.scenarios == {Scenario.INBOUND, Scenario.MANUAL} and listed.active
    await disposition_catalog.set_category_active(db, sold, False)
    assert not (await disposition_catalog.list_dispositions(db))[0].active
    fields = await disposition_catalog.form_fields(db, [form])
    assert [f.name for f in fields[form]] == ["importe", "plan"]


async def test_contact_activity(db: Database) -> None:
    from crm import contacts
    from crm.contacts import ContactDraft, ContactKind

    agent = await _agent(db)
    ana = await contacts.create_contact(db, ContactDraft(kind=ContactKind.PERSON, name="Ana"))
    now = datetime.now(UTC)
    for i in range(12):
        await _call(db, agent, f"c{i}", at=now - timedelta(hours=i + 1))
        await call_work.start(db, f"c{i}", agent, ana.id, now)
        await call_work.save_note(db, f"c{i}", agent, f"note {i}", 1, now)
    activity = await call_work.contact_activity(db, ana.id, exclude_call="c0")
    assert [a.call_id for a in activity] == [f"c{i}" for i in range(1, 11)]
    assert activity[0].note == "note 1" and activity[0].agent == "agent"
    # A call caller ID linked to her (no call window opened) counts too; one the agent
    # said was someone else does not.
    bea = await contacts.create_contact(db, ContactDraft(kind=ContactKind.PERSON, name="Bea"))
    await _call(db, agent, "linked", at=now - timedelta(minutes=1))
    await _call(db, agent, "picked-other", at=now - timedelta(minutes=2))
    await db.execute("UPDATE call_records SET contact_id = ? WHERE id IN (?, ?)",
                     (ana.id, "linked", "picked-other"))
    await call_work.start(db, "picked-other", agent, bea.id, now)
    activity = await call_work.contact_activity(db, ana.id, exclude_call="c0", limit=3)
    assert [a.call_id for a in activity] == ["linked", "c1", "c2"]


async def test_auto_open_setting(db: Database) -> None:
    agent = await _agent(db)
    assert await call_work.auto_open(db, agent)
    await call_work.set_auto_open(db, agent, False)
    assert not await call_work.auto_open(db, agent)
    assert await call_work.auto_open_all(db) == {agent: False}
