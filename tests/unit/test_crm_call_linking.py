"""crm.call_records: calls linked to the remote number's E.164 key and its one contact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crm import call_records, contacts, users
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database, open_database
from tests.unit.test_crm_call_records import FAST

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


async def _person(db: Database, name: str, *numbers: str) -> int:
    contact = await contacts.create_contact(db, ContactDraft(
        kind=ContactKind.PERSON, name=name,
        phones=tuple(ContactPhone(PhoneLabel.MOBILE, n) for n in numbers)))
    return contact.id


async def test_create_with_the_numbering_plan_links_at_once(db: Database) -> None:
    user = await users.create_user(db, "agent", "long enough password", hashing=FAST)
    joao = await _person(db, "João", "+5511987654321")
    # A Brazilian PBX sends the local number without area code (and an old 8-digit one).
    record = await call_records.create(db, "c1", user.id, "inbound", "1001", "87654321", "",
                                       T0, region="BR", area_code="11")
    assert (record.remote_e164, record.contact_id) == ("+5511987654321", joao)
    assert record.remote_number == "87654321"  # as the PBX sent it


async def test_gateway_records_are_linked_later(db: Database) -> None:
    user = await users.create_user(db, "agent", "long enough password", hashing=FAST)
    await _person(db, "Switchboard A", "+48221234567")
    await _person(db, "Switchboard B", "+48221234567")
    zofia = await _person(db, "Zofia", "+48601234567")
    for call_id, remote in (("shared", "221234567"), ("zofia", "0048 601 234 567"),
                            ("zofia-2", "601234567"), ("ext", "1002"), ("anon", "anonymous"),
                            ("unknown", "+48 22 765 43 21")):
        record = await call_records.create(db, call_id, user.id, "inbound", "1001", remote,
                                           "", T0)
        assert (record.remote_e164, record.contact_id) == (None, None)
    assert await call_records.link_pending(db, "PL") == 6
    linked = {cid: await call_records.get(db, cid) for cid in
              ("shared", "zofia", "zofia-2", "ext", "anon", "unknown")}
    found = {cid: (r.remote_e164, r.contact_id) for cid, r in linked.items() if r}
    assert found == {
        "shared": ("+48221234567", None),  # two contacts have it: nobody in particular
        "zofia": ("+48601234567", zofia),
        "zofia-2": ("+48601234567", zofia),
        "ext": ("", None),
        "anon": ("", None),
        "unknown": ("+48227654321", None),
    }
    assert await call_records.link_pending(db, "PL") == 0  # nothing left to read


async def test_deleting_a_contact_unlinks_its_calls(db: Database) -> None:
    user = await users.create_user(db, "agent", "long enough password", hashing=FAST)
    ana = await _person(db, "Ana", "+34612345678")
    await call_records.create(db, "c1", user.id, "outbound", "1001", "612345678", "", T0,
                              region="ES")
    await contacts.delete_contact(db, ana)
    record = await call_records.get(db, "c1")
    assert record is not None and record.contact_id is None
    assert record.remote_e164 == "+34612345678"
