"""crm.contacts: storing people and companies with their numbers, and finding them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from crm import contact_search, contacts, users
from crm.contact_search import ContactFilter, Cursor
from crm.contacts import (
    ContactDraft,
    ContactKind,
    ContactPhone,
    PhoneLabel,
)
from crm.db import Database, open_database
from crm.errors import InvalidValue, NotFound
from crm.passwords import PasswordHashing

FAST = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
MOBILE = PhoneLabel.MOBILE
WORK = PhoneLabel.WORK


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


def person(name: str, *phones: str, **values: object) -> ContactDraft:
    return ContactDraft(kind=ContactKind.PERSON, name=name,
                        phones=tuple(ContactPhone(MOBILE, p) for p in phones),
                        **values)  # type: ignore[arg-type]


async def test_create_read_update_delete(db: Database) -> None:
    owner = await users.create_user(db, "agent", "agent password 1", hashing=FAST)
    company = await contacts.create_contact(
        db, ContactDraft(kind=ContactKind.COMPANY, name="Transportes Łódź S.A."))
    created = await contacts.create_contact(db, ContactDraft(
        kind=ContactKind.PERSON, name="  José Núñez ", company_id=company.id,
        email="jose@example.es", owner_id=owner.id, fields={"NIF": "12345678Z"},
        tags=("VIP", "vip", " Moroso "), lists=("Campaña marzo",),
        phones=(ContactPhone(MOBILE, "+34612345678"), ContactPhone(WORK, "+34912345678"),
                ContactPhone(WORK, "+34612345678"))))
    assert created.name == "José Núñez"
    assert created.company_name == "Transportes Łódź S.A."
    assert created.owner_name == "agent"
    assert created.tags == ("Moroso", "VIP")
    assert created.lists == ("Campaña marzo",)
    assert created.fields == {"NIF": "12345678Z"}
    assert created.phones == (ContactPhone(MOBILE, "+34612345678"),
                              ContactPhone(WORK, "+34912345678"))
    assert await contacts.get_contact(db, created.id) == created

    updated = await contacts.update_contact(db, created.id, ContactDraft(
        kind=ContactKind.PERSON, name="José Núñez García", email="",
        phones=(ContactPhone(PhoneLabel.HOME, "+34912345678"),), tags=("VIP",)))
    assert updated.company_id is None and updated.owner_id is None
    assert updated.phones == (ContactPhone(PhoneLabel.HOME, "+34912345678"),)
    assert updated.tags == ("VIP",) and updated.lists == () and updated.fields == {}
    assert updated.created_at == created.created_at

    assert await contacts.delete_contact(db, created.id)
    assert await contacts.get_contact(db, created.id) is None
    assert await db.fetchall("SELECT * FROM contact_phones") == []
    assert await db.fetchall("SELECT * FROM contact_tags") == []
    assert await db.fetchall("SELECT * FROM contact_lists") == []
    assert not await contacts.delete_contact(db, created.id)


async def test_deleting_a_company_keeps_its_people(db: Database) -> None:
    company = await contacts.create_contact(
        db, ContactDraft(kind=ContactKind.COMPANY, name="Acme"))
    worker = await contacts.create_contact(db, person("Ana", company_id=company.id))
    with pytest.raises(InvalidValue) as caught:
        await contacts.update_contact(db, company.id, person("Acme"))
    assert caught.value.key == "contact.company_has_people"
    await contacts.delete_contact(db, company.id)
    again = await contacts.get_contact(db, worker.id)
    assert again is not None and again.company_id is None


@pytest.mark.parametrize(("draft", "key"), [
    (ContactDraft(kind=ContactKind.PERSON, name="  "), "contact.empty_name"),
    (ContactDraft(kind=ContactKind.PERSON, name="x" * 201), "contact.invalid_name"),
    (ContactDraft(kind=ContactKind.PERSON, name="a\x00b"), "contact.invalid_name"),
    (ContactDraft(kind="robot", name="R2"), "contact.invalid_kind"),  # type: ignore[arg-type]
    (ContactDraft(kind=ContactKind.PERSON, name="A", email="not-an-email"),
     "contact.invalid_email"),
    (ContactDraft(kind=ContactKind.PERSON, name="A", email="a@b.c" + "x" * 260),
     "contact.invalid_email"),
    (ContactDraft(kind=ContactKind.PERSON, name="A", tags=("t" * 41,)), "contact.invalid_tag"),
    (ContactDraft(kind=ContactKind.PERSON, name="A", tags=tuple(f"t{i}" for i in range(31))),
     "contact.too_many_tags"),
    (ContactDraft(kind=ContactKind.PERSON, name="A", lists=("l" * 61,)),
     "contact.invalid_list"),
    (ContactDraft(kind=ContactKind.PERSON, name="A", fields={"": "v"}),
     "contact.invalid_field_name"),
    (ContactDraft(kind=ContactKind.PERSON, name="A", fields={"k": "v" * 1001}),
     "contact.invalid_field_value"),
    (ContactDraft(kind=ContactKind.PERSON, name="A",
                  phones=(ContactPhone(MOBILE, "612345678"),)), "phone.invalid"),
    (ContactDraft(kind=ContactKind.PERSON, name="A",
                  phones=tuple(ContactPhone(MOBILE, f"+346123456{i:02d}") for i in range(21))),
     "contact.too_many_phones"),
    (ContactDraft(kind=ContactKind.COMPANY, name="A", company_id=1),
     "contact.company_of_company"),
    (ContactDraft(kind=ContactKind.PERSON, name="A", company_id=999),
     "contact.company_not_found"),
    (ContactDraft(kind=ContactKind.PERSON, name="A", owner_id=999), "contact.owner_not_found"),
])
async def test_refuses_invalid_drafts_and_stores_nothing(
    db: Database, draft: ContactDraft, key: str
) -> None:
    with pytest.raises(InvalidValue) as caught:
        await contacts.create_contact(db, draft)
    assert caught.value.key == key
    assert await db.fetchall("SELECT id FROM contacts") == []


async def test_a_person_cannot_work_for_a_person(db: Database) -> None:
    ana = await contacts.create_contact(db, person("Ana"))
    with pytest.raises(InvalidValue) as caught:
        await contacts.create_contact(db, person("Bea", company_id=ana.id))
    assert caught.value.key == "contact.company_not_found"


async def test_update_missing_contact_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound):
        await contacts.update_contact(db, 42, person("Ana"))
    with pytest.raises(NotFound):
        await contacts.add_phone(db, 42, ContactPhone(MOBILE, "+34612345678"))


@pytest.mark.parametrize(("label", "number", "region", "area", "expected"), [
    ("mobile", "612 34 56 78", "ES", "", ContactPhone(MOBILE, "+34612345678")),
    ("work", "3456-7890", "BR", "11", ContactPhone(WORK, "+551134567890")),
    ("home", "0048 22 123 45 67", "PL", "", ContactPhone(PhoneLabel.HOME, "+48221234567")),
])
def test_clean_phone(label: str, number: str, region: str, area: str,
                     expected: ContactPhone) -> None:
    assert contacts.clean_phone(label, number, region, area) == expected


@pytest.mark.parametrize(("label", "number", "key"), [
    ("fax", "612345678", "contact.invalid_label"),
    ("mobile", "2001", "contact.extension"),
    ("mobile", "hello", "phone.invalid"),
    ("mobile", "", "phone.empty"),
])
def test_clean_phone_refuses(label: str, number: str, key: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        contacts.clean_phone(label, number, "ES")
    assert caught.value.key == key


def test_parse_fields_and_names() -> None:
    assert contacts.parse_fields("NIF: 1234Z\n\nCity : Kraków \nempty:") == {
        "NIF": "1234Z", "City": "Kraków"}
    assert contacts.format_fields({"NIF": "1", "URL": "http://x"}) == "NIF: 1\nURL: http://x"
    assert contacts.parse_fields("URL: http://x") == {"URL": "http://x"}
    with pytest.raises(InvalidValue) as caught:
        contacts.parse_fields("no colon here")
    assert caught.value.key == "contact.field_without_colon"
    assert contacts.clean_tags(contacts.split_names("a, b\nA,,")) == ("a", "b")


def test_fold_ignores_case_and_accents() -> None:
    assert contacts.fold("José ÑÚÑEZ Łódź São") == "jose nunez lodz sao"


async def test_add_phone_to_existing_contact(db: Database) -> None:
    ana = await contacts.create_contact(db, person("Ana", "+34612345678"))
    more = await contacts.add_phone(db, ana.id, ContactPhone(WORK, "+48221234567"))
    assert [p.e164 for p in more.phones] == ["+34612345678", "+48221234567"]
    same = await contacts.add_phone(db, ana.id, ContactPhone(WORK, "+48221234567"))
    assert same.phones == more.phones


async def _names(db: Database, where: ContactFilter, **kwargs: object) -> list[str]:
    """Every contact the list finds, following its "next" links (a walk that stops
    short of a page says where to keep looking)."""
    names: list[str] = []
    cursor: Cursor | None = None
    order = None
    while True:
        page = await contact_search.list_contacts(
            db, where, cursor=cursor, order=order, **kwargs)  # type: ignore[arg-type]
        names.extend(c.name for c in page.contacts)
        if page.next_after is None:
            return names
        cursor, order = Cursor(page.next_after), page.order


@pytest.fixture(params=["walking the index", "by ids", "keep looking"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every way of running a search must find the same contacts."""
    if request.param != "by ids":
        monkeypatch.setattr(contact_search, "NARROW", -1)
    if request.param == "keep looking":
        # One row read per page: most pages come back empty, saying where to go on.
        monkeypatch.setattr(contact_search, "WALK_ROWS", 1)
    return str(request.param)


async def test_search_by_name_email_and_number(db: Database, strategy: str) -> None:
    await contacts.create_contact(db, person("Zofia Wójcik", "+48601234567",
                                             email="zofia@firma.pl"))
    await contacts.create_contact(db, person("João Silva", "+5511999998888"))
    await contacts.create_contact(db, person("100% Real_Name", "+34612345678"))
    assert await _names(db, ContactFilter(query="wojcik")) == ["Zofia Wójcik"]
    assert await _names(db, ContactFilter(query="JOAO")) == ["João Silva"]
    assert await _names(db, ContactFilter(query="firma.pl")) == ["Zofia Wójcik"]
    # Digits anywhere in the stored number, or the number as typed in national format.
    assert await _names(db, ContactFilter(query="99999")) == ["João Silva"]
    assert await _names(db, ContactFilter(query="(11) 99999-8888"), region="BR") == [
        "João Silva"]
    assert await _names(db, ContactFilter(query="99999-8888"), region="BR",
                        area_code="11") == ["João Silva"]
    assert await _names(db, ContactFilter(query="601 234 567"), region="PL") == [
        "Zofia Wójcik"]
    # Wildcards and quotes typed by a user are plain characters.
    assert await _names(db, ContactFilter(query="00%")) == ["100% Real_Name"]
    assert await _names(db, ContactFilter(query="l_na")) == ["100% Real_Name"]
    assert await _names(db, ContactFilter(query='"real" OR *')) == []
    assert await _names(db, ContactFilter(query="nobody")) == []
    # Fewer than three characters: the beginning of the name.
    assert await _names(db, ContactFilter(query="jo")) == ["João Silva"]
    assert await _names(db, ContactFilter(query="%")) == []
    # Short words narrow what the long ones found.
    assert await _names(db, ContactFilter(query="silva jo")) == ["João Silva"]
    assert await _names(db, ContactFilter(query="silva zo")) == []


async def test_search_by_company_follows_renames_and_deletes(db: Database,
                                                            strategy: str) -> None:
    acme = await contacts.create_contact(db, ContactDraft(kind=ContactKind.COMPANY,
                                                          name="Acme Łódź"))
    ana = await contacts.create_contact(db, person("Ana", company_id=acme.id))
    # By name when the matches are few (newest first when a walk finds them).
    assert await _names(db, ContactFilter(query="lodz")) == (
        ["Acme Łódź", "Ana"] if strategy == "by ids" else ["Ana", "Acme Łódź"])
    await contacts.update_contact(db, acme.id, ContactDraft(kind=ContactKind.COMPANY,
                                                            name="Zeta Kraków"))
    assert await _names(db, ContactFilter(query="lodz")) == []
    assert sorted(await _names(db, ContactFilter(query="krakow"))) == ["Ana", "Zeta Kraków"]
    await contacts.delete_contact(db, acme.id)
    assert await _names(db, ContactFilter(query="krakow")) == []
    # A number added later is found by its digits too.
    await contacts.add_phone(db, ana.id, ContactPhone(WORK, "+48221234567"))
    assert await _names(db, ContactFilter(query="22 123")) == ["Ana"]


def test_search_plans() -> None:
    assert contact_search.plan_search("  ", "ES") is None
    number = contact_search.plan_search("612 34 56 78", "ES")
    assert number is not None and number.ids_params == ('"612345678"', "+34612345678")
    assert number.check_params == ("%612345678%", "+34612345678")
    words = contact_search.plan_search('ana "x', "ES")
    assert words is not None and words.ids_params == ('"ana"',)
    assert words.check_params == ("%ana%", '%"x%')
    prefix = contact_search.plan_search("Jo", "ES")
    assert prefix is not None and prefix.ids_params == prefix.check_params
    assert prefix.check_params[0] == "jo"


def test_the_order_a_list_is_shown_in() -> None:
    narrow = contact_search.NARROW
    name, newest = contact_search.ListOrder.NAME, contact_search.ListOrder.NEWEST
    # Without a search: by name, however many match (a walk of the name index).
    assert contact_search.choose_order(False, []) is name
    assert contact_search.choose_order(False, [narrow + 1, None]) is name
    # A search: by name while some condition matches few (read and sorted), else newest.
    assert contact_search.choose_order(True, [narrow]) is name
    assert contact_search.choose_order(True, [narrow + 1, 5]) is name
    assert contact_search.choose_order(True, [narrow + 1]) is newest
    assert contact_search.choose_order(True, [narrow + 1, None]) is newest


def test_the_narrowest_small_set_drives_the_query() -> None:
    narrow = contact_search.NARROW
    assert contact_search.choose_driver([None, 10, 3]) == 2
    assert contact_search.choose_driver([narrow + 1, 7]) == 1
    assert contact_search.choose_driver([None, narrow + 1]) is None
    assert contact_search.choose_driver([]) is None


async def test_search_uses_the_trigram_index(db: Database) -> None:
    plan = contact_search.plan_search("wojcik", "ES")
    assert plan is not None
    assert plan.ids is not None
    rows = await db.fetchall("EXPLAIN QUERY PLAN SELECT c.id FROM contacts c WHERE c.id IN ("
                             + plan.ids + ")", plan.ids_params)
    assert any("contact_fts VIRTUAL TABLE" in str(row["detail"]) for row in rows), rows


async def test_filters_and_stable_pagination(db: Database, strategy: str) -> None:
    owner = await users.create_user(db, "agent", "agent password 1", hashing=FAST)
    acme = await contacts.create_contact(db, ContactDraft(kind=ContactKind.COMPANY,
                                                          name="Acme"))
    for i in range(7):
        await contacts.create_contact(db, person(
            "Same Name", company_id=acme.id if i % 2 else None,
            owner_id=owner.id if i < 3 else None,
            tags=("VIP",) if i % 3 == 0 else (), lists=("Marzo",) if i == 4 else ()))
    first = await contact_search.list_contacts(db, per_page=3)
    second = await contact_search.list_contacts(db, cursor=Cursor(first.contacts[-1].id),
                                                per_page=3)
    third = await contact_search.list_contacts(db, cursor=Cursor(second.contacts[-1].id),
                                               per_page=3)
    ids = [c.id for page in (first, second, third) for c in page.contacts]
    assert len(ids) == 8 == len(set(ids))
    assert first.has_next and second.has_next and not third.has_next
    assert not first.has_prev and second.has_prev and third.has_prev
    assert first.contacts[0].name == "Acme"
    # Back from the third page: the second again, and from the second: the first.
    back = await contact_search.list_contacts(
        db, cursor=Cursor(third.contacts[0].id, before=True), per_page=3)
    assert back == second
    assert (await contact_search.list_contacts(
        db, cursor=Cursor(second.contacts[0].id, before=True), per_page=3)).contacts == (
        first.contacts)
    # The same pages with a filter, in both orders (by name; newest first for a search
    # a walk answers), the order kept from page to page.
    for where in (ContactFilter(tag="vip"), ContactFilter(query="same")):
        pages: list[list[int]] = []
        cursor, order = None, None
        while True:
            page = await contact_search.list_contacts(db, where, cursor=cursor, order=order,
                                                      per_page=2)
            pages.append([c.id for c in page.contacts])
            if page.next_after is None:
                break
            cursor, order = Cursor(page.next_after), page.order
        flat = [i for ids_ in pages for i in ids_]
        assert len(flat) == len(set(flat)) == (3 if where.tag else 7)
        if where.query:
            # Every one is "Same Name": by name is by id.
            assert flat == sorted(flat, reverse=page.newest_first)
            assert page.newest_first == (strategy != "by ids")
    # The company filter shows the company and its people.
    assert len(await _names(db, ContactFilter(company_id=acme.id))) == 4
    assert len(await _names(db, ContactFilter(tag="vip"))) == 3
    assert len(await _names(db, ContactFilter(list="MARZO"))) == 1
    assert len(await _names(db, ContactFilter(owner_id=owner.id))) == 3
    assert [c.name for c in await contacts.list_companies(db)] == ["Acme"]
    assert await contacts.tag_names(db) == ["VIP"]
    assert await contacts.list_names(db) == ["Marzo"]
    empty = await contact_search.list_contacts(db, ContactFilter(query="same"),
                                               cursor=Cursor(1),
                                               order=contact_search.ListOrder.NEWEST)
    assert empty.contacts == () and not empty.has_next


async def test_phone_lookup_uses_the_index(db: Database) -> None:
    plan = await db.fetchall(
        "EXPLAIN QUERY PLAN SELECT contact_id FROM contact_phones WHERE e164 IN (?, ?)",
        ("+34612345678", "+34912345678"))
    assert any("contact_phones_e164" in str(row["detail"]) for row in plan)
