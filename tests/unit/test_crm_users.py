"""crm.users and crm.passwords."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from crm import users
from crm.db import Database, open_database
from crm.errors import Conflict, InvalidValue
from crm.passwords import PasswordHashing

FAST = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
PASSWORD = "correct horse battery"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "crm.sqlite3")
    yield database
    await database.close()


async def test_create_and_read_back(db: Database) -> None:
    user = await users.create_user(db, "Maria.Silva", PASSWORD, role="supervisor",
                                   display_name="Maria Silva", language="pt-BR",
                                   dialer_enabled=True, hashing=FAST)
    assert user.username == "Maria.Silva"
    assert user.role is users.Role.SUPERVISOR
    assert user.active and user.dialer_enabled and not user.dialer_user_toggle_allowed
    assert user.created_at.tzinfo is not None
    assert await users.get_user(db, user.id) == user
    assert await users.get_by_username(db, "maria.silva") == user
    assert await users.list_users(db) == [user]
    with pytest.raises(FrozenInstanceError):
        user.role = users.Role.ADMIN  # type: ignore[misc]


async def test_password_hash_is_argon2id(db: Database) -> None:
    user = await users.create_user(db, "ana", PASSWORD, hashing=FAST)
    row = await db.fetchone("SELECT password_hash FROM users WHERE id = ?", (user.id,))
    assert row is not None and row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]


def test_product_default_is_argon2id_with_real_cost() -> None:
    from crm.passwords import DEFAULT_HASHING

    assert DEFAULT_HASHING.hasher.memory_cost >= 19 * 1024  # OWASP's minimum for argon2id
    assert DEFAULT_HASHING.hasher.time_cost >= 2


async def test_username_unique_ignoring_case(db: Database) -> None:
    await users.create_user(db, "Jan", PASSWORD, hashing=FAST)
    with pytest.raises(Conflict):
        await users.create_user(db, "JAN", PASSWORD, hashing=FAST)


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65, "<script>", "semi;colon"])
async def test_bad_usernames_refused(db: Database, bad: str) -> None:
    with pytest.raises(InvalidValue):
        await users.create_user(db, bad, PASSWORD, hashing=FAST)


async def test_bad_language_and_short_password_refused(db: Database) -> None:
    with pytest.raises(InvalidValue):
        await users.create_user(db, "x", PASSWORD, language="de", hashing=FAST)
    with pytest.raises(InvalidValue) as info:
        await users.create_user(db, "x", "short", hashing=FAST)
    assert info.value.key == "password.too_short"


async def test_authenticate(db: Database) -> None:
    user = await users.create_user(db, "Zofia", PASSWORD, hashing=FAST)
    assert await users.authenticate(db, "zofia", PASSWORD, hashing=FAST) == user
    assert await users.authenticate(db, "zofia", "wrong password", hashing=FAST) is None
    assert await users.authenticate(db, "nobody", PASSWORD, hashing=FAST) is None
    assert await users.authenticate(db, "zofia", "x" * 10_000, hashing=FAST) is None
    await users.update_user(db, user.id, active=False)
    assert await users.authenticate(db, "zofia", PASSWORD, hashing=FAST) is None


async def test_unknown_user_still_costs_a_verification(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(FAST, "verify_nobody", lambda password: calls.append(password))
    assert await users.authenticate(db, "ghost", PASSWORD, hashing=FAST) is None
    assert calls == [PASSWORD]


async def test_rehash_when_parameters_change(db: Database) -> None:
    user = await users.create_user(db, "pedro", PASSWORD, hashing=FAST)
    stronger = PasswordHashing(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert await users.authenticate(db, "pedro", PASSWORD, hashing=stronger) == user
    row = await db.fetchone("SELECT password_hash FROM users WHERE id = ?", (user.id,))
    assert row is not None and "m=16,t=2" in row["password_hash"]


async def test_set_password(db: Database) -> None:
    user = await users.create_user(db, "luis", PASSWORD, hashing=FAST)
    await users.set_password(db, user.id, "another long one", hashing=FAST)
    assert await users.authenticate(db, "luis", PASSWORD, hashing=FAST) is None
    assert await users.authenticate(db, "luis", "another long one", hashing=FAST) == user


async def test_update_user(db: Database) -> None:
    user = await users.create_user(db, "eva", PASSWORD, hashing=FAST)
    changed = await users.update_user(db, user.id, role="admin", dialer_enabled=True,
                                      language="pl", display_name=" Eva K ")
    assert changed.role is users.Role.ADMIN and changed.is_admin
    assert changed.dialer_enabled and changed.language == "pl"
    assert changed.display_name == "Eva K"


async def test_ensure_first_admin(db: Database) -> None:
    password = await users.ensure_first_admin(db, hashing=FAST)
    assert password is not None and len(password) >= 16
    admin = await users.authenticate(db, "admin", password, hashing=FAST)
    assert admin is not None and admin.role is users.Role.ADMIN
    assert await users.ensure_first_admin(db, hashing=FAST) is None


def test_usable_from_sync_code(tmp_path: Path) -> None:
    async def main() -> str | None:
        db = await open_database(tmp_path / "cli.sqlite3")
        try:
            await users.create_user(db, "cli", PASSWORD, hashing=FAST)
            return await users.ensure_first_admin(db, hashing=FAST)
        finally:
            await db.close()

    assert asyncio.run(main()) is None


async def test_last_active_admin_cannot_be_demoted_or_deactivated(db: Database) -> None:
    first = await users.create_user(db, "first", PASSWORD, role="admin", hashing=FAST)
    with pytest.raises(Conflict) as caught:
        await users.update_user(db, first.id, role="agent")
    assert caught.value.key == "user.last_admin"
    with pytest.raises(Conflict):
        await users.update_user(db, first.id, active=False)
    assert await users.get_user(db, first.id) == first
    second = await users.create_user(db, "second", PASSWORD, role="admin", hashing=FAST)
    await users.update_user(db, second.id, active=False)
    with pytest.raises(Conflict):  # an inactive admin does not count
        await users.update_user(db, first.id, role="supervisor")
    await users.update_user(db, second.id, active=True)
    assert (await users.update_user(db, first.id, role="agent")).role is users.Role.AGENT
    # Changes that keep the last admin an active admin are fine.
    assert (await users.update_user(db, second.id, language="pl")).language == "pl"


async def test_role_and_display_name_checked(db: Database) -> None:
    with pytest.raises(InvalidValue) as caught:
        await users.create_user(db, "x", PASSWORD, role="root", hashing=FAST)
    assert caught.value.key == "user.invalid_role"
    with pytest.raises(InvalidValue):
        await users.create_user(db, "x", PASSWORD, display_name="a" * 101, hashing=FAST)
    user = await users.create_user(db, "x", PASSWORD, hashing=FAST)
    for bad in ("   ", "tab\tname", "a" * 101):
        with pytest.raises(InvalidValue):
            await users.update_user(db, user.id, display_name=bad)
    assert await users.get_user(db, user.id) == user
