"""Users: who may log in, with which role, language and dialer permission.

Usernames are unique ignoring case (``username_key`` holds the case-folded form) and are
shown as typed. Passwords are argon2id hashes (crm/passwords.py). Every function is a
coroutine; a synchronous CLI calls them through ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import enum
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from crm import clock
from crm.db import Database, Row, Transaction
from crm.errors import Conflict, InvalidValue, NotFound
from crm.passwords import (
    DEFAULT_HASHING,
    MAX_PASSWORD_LENGTH,
    PasswordHashing,
    check_new_password,
    generate_password,
)

# Empty means "follow the browser's Accept-Language".
LANGUAGES = ("", "en", "es", "pt-BR", "pl")
FIRST_ADMIN_USERNAME = "admin"

_USERNAME = re.compile(r"^[\w.@+-]{1,64}$")
MAX_DISPLAY_NAME = 100


class Role(enum.StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    language: str
    dialer_enabled: bool
    dialer_user_toggle_allowed: bool
    active: bool
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def normalize_username(username: str) -> str:
    """The username as stored for display: NFC, trimmed; raises if it is not acceptable."""
    name = unicodedata.normalize("NFC", username).strip()
    if not _USERNAME.match(name):
        raise InvalidValue(
            f"username {username!r}: use 1-64 letters, digits or . _ @ + -",
            key="user.invalid_username",
        )
    return name


def username_key(username: str) -> str:
    """The case-insensitive identity of a username."""
    return unicodedata.normalize("NFC", username).strip().casefold()


def check_language(language: str) -> None:
    """Raise ``InvalidValue`` unless ``language`` is one of ``LANGUAGES``."""
    if language not in LANGUAGES:
        raise InvalidValue(f"language {language!r}: use one of en, es, pt-BR, pl or empty",
                           key="user.invalid_language")


def parse_role(value: str) -> Role:
    """The role named by ``value``; raises ``InvalidValue`` for anything else."""
    try:
        return Role(value)
    except ValueError:
        raise InvalidValue(f"role {value!r}: use admin, supervisor or agent",
                           key="user.invalid_role") from None


def clean_display_name(display_name: str) -> str:
    """The display name trimmed; raises if it is empty, too long or has control characters."""
    name = unicodedata.normalize("NFC", display_name).strip()
    if not name:
        raise InvalidValue("display name is empty", key="user.empty_display_name")
    if len(name) > MAX_DISPLAY_NAME or any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidValue(f"display name {display_name!r} is too long or has control characters",
                           key="user.invalid_display_name", max=MAX_DISPLAY_NAME)
    return name


_COLUMNS = (
    "id, username, display_name, role, language, dialer_enabled, "
    "dialer_user_toggle_allowed, active, created_at"
)


def _from_row(row: Row) -> User:
    return User(
        id=int(row["id"]),
        username=row["username"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        language=row["language"],
        dialer_enabled=bool(row["dialer_enabled"]),
        dialer_user_toggle_allowed=bool(row["dialer_user_toggle_allowed"]),
        active=bool(row["active"]),
        created_at=clock.from_db(row["created_at"]),
    )


async def create_user(
    db: Database,
    username: str,
    password: str,
    *,
    role: Role | str = Role.AGENT,
    display_name: str = "",
    language: str = "",
    dialer_enabled: bool = False,
    dialer_user_toggle_allowed: bool = False,
    hashing: PasswordHashing = DEFAULT_HASHING,
) -> User:
    """Create an active user. Raises ``Conflict`` if the username is taken (any case)."""
    name = normalize_username(username)
    role = parse_role(role)
    shown = clean_display_name(display_name) if display_name.strip() else name
    check_language(language)
    check_new_password(password)
    password_hash = await asyncio.to_thread(hashing.hash, password)
    async with db.transaction() as tx:
        return await _insert(
            tx, name, password_hash, role, shown, language,
            dialer_enabled, dialer_user_toggle_allowed,
        )


async def _insert(
    tx: Transaction,
    name: str,
    password_hash: str,
    role: Role,
    display_name: str,
    language: str,
    dialer_enabled: bool,
    dialer_user_toggle_allowed: bool,
) -> User:
    if await tx.fetchone("SELECT 1 FROM users WHERE username_key = ?", (username_key(name),)):
        raise Conflict(f"username {name!r} is taken", key="user.username_taken", username=name)
    row = await tx.fetchone(
        "INSERT INTO users (username, username_key, display_name, role, language,"
        " password_hash, dialer_enabled, dialer_user_toggle_allowed, active, created_at)"
        f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?) RETURNING {_COLUMNS}",
        (name, username_key(name), display_name, role.value, language, password_hash,
         int(dialer_enabled), int(dialer_user_toggle_allowed), clock.to_db(clock.utc_now())),
    )
    assert row is not None
    return _from_row(row)


async def get_user(db: Database, user_id: int) -> User | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,))
    return None if row is None else _from_row(row)


async def get_by_username(db: Database, username: str) -> User | None:
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM users WHERE username_key = ?", (username_key(username),)
    )
    return None if row is None else _from_row(row)


async def list_users(db: Database) -> list[User]:
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM users ORDER BY username_key")
    return [_from_row(row) for row in rows]


async def update_user(
    db: Database,
    user_id: int,
    *,
    display_name: str | None = None,
    role: Role | str | None = None,
    language: str | None = None,
    dialer_enabled: bool | None = None,
    dialer_user_toggle_allowed: bool | None = None,
    active: bool | None = None,
) -> User:
    """Change the given fields (None leaves a field as it is); return the updated user.

    Raises ``Conflict`` (``user.last_admin``) rather than demote or deactivate the last
    active administrator: nobody could manage users any more.
    """
    changes: dict[str, object] = {}
    if display_name is not None:
        changes["display_name"] = clean_display_name(display_name)
    if role is not None:
        changes["role"] = parse_role(role).value
    if language is not None:
        check_language(language)
        changes["language"] = language
    for name, flag in (("dialer_enabled", dialer_enabled),
                       ("dialer_user_toggle_allowed", dialer_user_toggle_allowed),
                       ("active", active)):
        if flag is not None:
            changes[name] = int(flag)
    async with db.transaction() as tx:
        row = await tx.fetchone(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,))
        if row is None:
            raise NotFound(f"user {user_id} does not exist")
        before = _from_row(row)
        stays_admin = (changes.get("role", before.role.value) == Role.ADMIN.value
                       and changes.get("active", int(before.active)) == 1)
        if before.is_admin and before.active and not stays_admin:
            # Checked inside the write transaction, so two admins demoting each other at
            # the same moment cannot both succeed.
            other = await tx.fetchone(
                "SELECT 1 FROM users WHERE role = 'admin' AND active = 1 AND id != ? LIMIT 1",
                (user_id,),
            )
            if other is None:
                raise Conflict(f"user {before.username!r} is the last active administrator",
                               key="user.last_admin")
        if changes:
            # Column names come from the fixed set above, never from the caller.
            assignments = ", ".join(f"{column} = ?" for column in changes)
            await tx.execute(
                f"UPDATE users SET {assignments} WHERE id = ?", (*changes.values(), user_id)
            )
        row = await tx.fetchone(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,))
    assert row is not None
    return _from_row(row)


async def set_password(
    db: Database, user_id: int, password: str, *, hashing: PasswordHashing = DEFAULT_HASHING
) -> None:
    """Replace a user's password (callers revoke the user's other sessions)."""
    check_new_password(password)
    password_hash = await asyncio.to_thread(hashing.hash, password)
    count = await db.execute(
        "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
    )
    if count == 0:
        raise NotFound(f"user {user_id} does not exist")


async def authenticate(
    db: Database, username: str, password: str, *, hashing: PasswordHashing = DEFAULT_HASHING
) -> User | None:
    """The active user with this username and password, or None.

    Unknown and inactive users cost a full verification too, so response time does not
    reveal which usernames exist. A hash made with older parameters is upgraded here,
    the only moment the plain password is at hand.
    """
    row = await db.fetchone(
        f"SELECT {_COLUMNS}, password_hash FROM users WHERE username_key = ?",
        (username_key(username),),
    )
    # No stored password is longer than the maximum, so longer input cannot match; it is
    # cut rather than hashed in full, which would let anyone make the server work hard.
    if row is None or len(password) > MAX_PASSWORD_LENGTH:
        await asyncio.to_thread(hashing.verify_nobody, password[:MAX_PASSWORD_LENGTH])
        return None
    stored = row["password_hash"]
    if not await asyncio.to_thread(hashing.verify, stored, password):
        return None
    user = _from_row(row)
    if not user.active:
        return None
    if hashing.needs_rehash(stored):
        new_hash = await asyncio.to_thread(hashing.hash, password)
        # Only if unchanged meanwhile: a concurrent password change must win.
        await db.execute(
            "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
            (new_hash, user.id, stored),
        )
    return user


async def ensure_first_admin(
    db: Database, *, hashing: PasswordHashing = DEFAULT_HASHING
) -> str | None:
    """On an empty database create ``admin`` with a random password and return it.

    Returns None when any user exists. The caller shows the password once (console);
    it is not stored anywhere in plain text.
    """
    if await db.fetchone("SELECT 1 FROM users LIMIT 1") is not None:
        return None
    password = generate_password()
    password_hash = await asyncio.to_thread(hashing.hash, password)
    async with db.transaction() as tx:
        # Checked again under the write lock: another process may have won the race.
        if await tx.fetchone("SELECT 1 FROM users LIMIT 1") is not None:
            return None
        await _insert(tx, FIRST_ADMIN_USERNAME, password_hash, Role.ADMIN, "Administrator",
                      "", False, False)
    return password
