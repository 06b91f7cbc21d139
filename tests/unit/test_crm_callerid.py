"""crm.callerid: the decision (pure) and the lookup against stored contacts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm import callerid, contacts
from crm.callerid import CallerMatch, Outcome
from crm.contacts import ContactDraft, ContactKind, ContactPhone, ContactRef, PhoneLabel
from crm.db import Database, open_database
from crm.phone_numbers import Kind, PhoneNumber


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


async def _add(db: Database, name: str, *numbers: str, company_id: int | None = None,
               kind: ContactKind = ContactKind.PERSON) -> int:
    contact = await contacts.create_contact(db, ContactDraft(
        kind=kind, name=name, company_id=company_id,
        phones=tuple(ContactPhone(PhoneLabel.MOBILE, n) for n in numbers)))
    return contact.id


ANA = ContactRef(1, "Ana", None)
BEA = ContactRef(2, "Bea", "Acme")
NUMBER = PhoneNumber(Kind.NUMBER, "+34612345678")


@pytest.mark.parametrize(("number", "found", "expected"), [
    (NUMBER, [ANA], CallerMatch(Outcome.ONE, "+34612345678", (ANA,))),
    (NUMBER, [ANA, BEA], CallerMatch(Outcome.SEVERAL, "+34612345678", (ANA, BEA))),
    (NUMBER, [], CallerMatch(Outcome.NONE, "+34612345678")),
    (PhoneNumber(Kind.EXTENSION, "2001"), [], CallerMatch(Outcome.EXTENSION, "2001")),
    (None, [], CallerMatch(Outcome.UNREADABLE, "")),
])
def test_decide(number: PhoneNumber | None, found: list[ContactRef],
                expected: CallerMatch) -> None:
    assert callerid.decide(number, found) == expected


def test_kind() -> None:
    assert CallerMatch(Outcome.NONE, "+1").kind == "number"
    assert CallerMatch(Outcome.EXTENSION, "20").kind == "extension"
    assert CallerMatch(Outcome.UNREADABLE, "").kind == "unknown"


async def test_brazilian_local_number_matches_stored_mobile(db: Database) -> None:
    joao = await _add(db, "João Silva", "+5511999998888")
    found = await callerid.match(db, "99999-8888", "BR", "11")
    assert found.outcome is Outcome.ONE and found.number == "+5511999998888"
    assert [m.id for m in found.matches] == [joao]
    # The same mobile sent with the area code, with the trunk 0, or without the ninth digit.
    for raw in ("11999998888", "011 99999 8888", "+55 11 99999-8888", "1199998888"):
        assert [m.id for m in (await callerid.match(db, raw, "BR", "11")).matches] == [joao], raw


async def test_polish_0048_prefix_matches(db: Database) -> None:
    zofia = await _add(db, "Zofia", "+48601234567")
    for raw in ("0048601234567", "+48 601 234 567", "48601234567", "601234567"):
        found = await callerid.match(db, raw, "PL", "")
        assert found.outcome is Outcome.ONE and [m.id for m in found.matches] == [zofia], raw


async def test_argentine_mobile_without_the_nine_matches(db: Database) -> None:
    lucia = await _add(db, "Lucía", "+5491123456789")
    found = await callerid.match(db, "11 2345-6789", "AR", "")
    assert [m.id for m in found.matches] == [lucia]


async def test_several_contacts_make_a_pick_list_with_companies(db: Database) -> None:
    acme = await _add(db, "Acme", "+34912345678", kind=ContactKind.COMPANY)
    bea = await _add(db, "Bea", "+34912345678", company_id=acme)
    found = await callerid.match(db, "912 345 678", "ES")
    assert found.outcome is Outcome.SEVERAL
    assert found.matches == (ContactRef(acme, "Acme", None), ContactRef(bea, "Bea", "Acme"))


async def test_unknown_number_offers_its_e164(db: Database) -> None:
    await _add(db, "Ana", "+34612345678")
    found = await callerid.match(db, "0034 699 000 111", "ES")
    assert found == CallerMatch(Outcome.NONE, "+34699000111")


@pytest.mark.parametrize(("raw", "outcome", "number"), [
    ("2001", Outcome.EXTENSION, "2001"),
    ("anonymous", Outcome.UNREADABLE, ""),
    ("", Outcome.UNREADABLE, ""),
    ("x" * 10_000, Outcome.UNREADABLE, ""),
])
async def test_no_lookup_without_a_number(db: Database, raw: str, outcome: Outcome,
                                          number: str) -> None:
    await _add(db, "Ana", "+34612345678")
    assert await callerid.match(db, raw, "ES") == CallerMatch(outcome, number)
