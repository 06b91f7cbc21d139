"""crm.sip_accounts and crm.secret_key: the SIP password never leaks."""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from crm import sip_accounts, users
from crm.db import Database, open_database
from crm.errors import Conflict, InvalidValue
from crm.passwords import PasswordHashing
from crm.secret_key import SecretBox, SecretKeyError, load_or_create_key

FAST = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
SIP_PASSWORD = "s1p-Secret-Do-Not-Leak"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


@pytest.fixture
def box(tmp_path: Path) -> SecretBox:
    return load_or_create_key(tmp_path)


async def _user(db: Database, name: str = "agent1") -> int:
    return (await users.create_user(db, name, "long enough password", hashing=FAST)).id


def test_key_file_created_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create_key(tmp_path / "data")
    path = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = first.encrypt("x")
    assert load_or_create_key(tmp_path / "data").decrypt(token) == "x"
    assert "key" not in repr(first).replace("key hidden", "")


def test_wrong_key_says_what_to_do(tmp_path: Path) -> None:
    token = load_or_create_key(tmp_path / "a").encrypt("x")
    with pytest.raises(SecretKeyError, match=r"secret\.key"):
        load_or_create_key(tmp_path / "b").decrypt(token)


async def test_account_round_trip_without_password(db: Database, box: SecretBox) -> None:
    uid = await _user(db)
    account = await sip_accounts.set_account(
        db, box, uid, extension="1001", display_name="Agent One",
        caller_ids=["+5511999990000", "+5511999990000", "+48221234567"], password=SIP_PASSWORD)
    assert account.auth_user == "1001"
    assert account.caller_ids == ("+5511999990000", "+48221234567")
    assert await sip_accounts.get_account(db, uid) == account
    assert await sip_accounts.list_accounts(db) == [account]
    assert "password" not in {f.name for f in dataclasses.fields(sip_accounts.SipAccount)}
    assert SIP_PASSWORD not in repr(account) and SIP_PASSWORD not in str(account)


async def test_password_encrypted_in_every_column(db: Database, box: SecretBox) -> None:
    uid = await _user(db)
    await sip_accounts.set_account(db, box, uid, extension="1001", password=SIP_PASSWORD)
    for row in await db.fetchall("SELECT * FROM sip_accounts"):
        for value in row.values():
            assert SIP_PASSWORD not in str(value)
    raw = (db.path.read_bytes() + Path(f"{db.path}-wal").read_bytes()
           if Path(f"{db.path}-wal").exists() else db.path.read_bytes())
    assert SIP_PASSWORD.encode() not in raw


async def test_credentials_for_gateway_mask_repr(db: Database, box: SecretBox) -> None:
    uid = await _user(db)
    await sip_accounts.set_account(db, box, uid, extension="1001", auth_user="u1001",
                                   password=SIP_PASSWORD)
    creds = await sip_accounts.get_credentials(db, box, uid)
    assert creds is not None and creds.password == SIP_PASSWORD
    assert creds.auth_user == "u1001"
    assert SIP_PASSWORD not in repr(creds) and SIP_PASSWORD not in str(creds)
    assert SIP_PASSWORD not in f"{creds}" and SIP_PASSWORD not in repr([creds])
    assert await sip_accounts.get_credentials(db, box, uid + 100) is None


async def test_update_keeps_password_unless_given(db: Database, box: SecretBox) -> None:
    uid = await _user(db)
    await sip_accounts.set_account(db, box, uid, extension="1001", password=SIP_PASSWORD)
    await sip_accounts.set_account(db, box, uid, extension="1002", display_name="New")
    creds = await sip_accounts.get_credentials(db, box, uid)
    assert creds is not None and creds.password == SIP_PASSWORD and creds.extension == "1002"
    await sip_accounts.set_account(db, box, uid, extension="1002", password="rotated")
    creds = await sip_accounts.get_credentials(db, box, uid)
    assert creds is not None and creds.password == "rotated"


async def test_new_account_needs_password(db: Database, box: SecretBox) -> None:
    uid = await _user(db)
    with pytest.raises(InvalidValue):
        await sip_accounts.set_account(db, box, uid, extension="1001")
    with pytest.raises(InvalidValue):
        await sip_accounts.set_account(db, box, uid, extension="1001", password="")
    with pytest.raises(InvalidValue):
        await sip_accounts.set_account(db, box, uid, extension="10 01", password="x")


async def test_extension_unique(db: Database, box: SecretBox) -> None:
    a, b = await _user(db, "a"), await _user(db, "b")
    await sip_accounts.set_account(db, box, a, extension="1001", password="x")
    with pytest.raises(Conflict):
        await sip_accounts.set_account(db, box, b, extension="1001", password="y")


async def test_account_deleted_with_user(db: Database, box: SecretBox) -> None:
    uid = await _user(db)
    await sip_accounts.set_account(db, box, uid, extension="1001", password="x")
    await db.execute("DELETE FROM users WHERE id = ?", (uid,))
    assert await sip_accounts.get_account(db, uid) is None
    assert not await sip_accounts.delete_account(db, uid)


# The last one is "1001" in full-width digits, which str.isdigit() would accept.
@pytest.mark.parametrize("bad", ["", "1", "10a1", "1" * 16, "+1001", "10 01",
                                 "\uff11\uff10\uff10\uff11"])
def test_extension_is_digits(bad: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        sip_accounts.clean_extension(bad)
    assert caught.value.key == "sip.invalid_extension"


@pytest.mark.parametrize(("typed", "stored"), [
    ("+34 910 00 00 00", "+34910000000"),
    ("+55 (11) 99999-0000", "+5511999990000"),
    ("+48 22 123 45 67", "+48221234567"),
    ("0048221234567", "0048221234567"),
    ("2001", "2001"),
])
def test_caller_id_cleaned(typed: str, stored: str) -> None:
    assert sip_accounts.clean_caller_id(typed) == stored


@pytest.mark.parametrize("bad", ["=cmd|calc", "<script>", "+1", "12", "+999 1234 5678 9999"])
def test_caller_id_refused(bad: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        sip_accounts.clean_caller_id(bad)
    assert caught.value.key == "sip.invalid_caller_id" and caught.value.params["number"] == bad


def test_display_name_and_password_limits() -> None:
    assert sip_accounts.clean_display_name("  Ana  ") == "Ana"
    for bad in ('Ana "A"', "back\\slash", "x" * 65, "new\nline"):
        with pytest.raises(InvalidValue):
            sip_accounts.clean_display_name(bad)
    for bad in ("", "x" * 129, "with\nnewline"):
        with pytest.raises(InvalidValue):
            sip_accounts.check_password(bad)
    with pytest.raises(InvalidValue):
        sip_accounts.clean_caller_ids([f"+3491000{n:04d}" for n in range(21)])
