"""Each user's SIP account (extension) and the credentials the gateway registers with.

Two views of one row: ``SipAccount`` (what pages and JSON may show; it has no password
field at all) and ``SipCredentials`` (for the gateway only, from ``get_credentials``).
The password is write-only: it is encrypted on the way in (crm/secret_key.py) and only
``get_credentials`` ever decrypts it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from crm import clock
from crm.db import Database, Row
from crm.errors import Conflict, InvalidValue
from crm.secret_key import SecretBox


@dataclass(frozen=True)
class SipAccount:
    user_id: int
    extension: str
    auth_user: str
    display_name: str
    caller_ids: tuple[str, ...]


@dataclass(frozen=True, repr=False)
class SipCredentials:
    """What a line worker needs to register; never sent to a browser or logged."""

    user_id: int
    extension: str
    auth_user: str
    password: str
    display_name: str

    def __repr__(self) -> str:
        return (
            f"SipCredentials(user_id={self.user_id!r}, extension={self.extension!r}, "
            f"auth_user={self.auth_user!r}, password='***', "
            f"display_name={self.display_name!r})"
        )

    __str__ = __repr__


def _clean(value: str, what: str) -> str:
    text = value.strip()
    if not text or len(text) > 128 or any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise InvalidValue(f"{what} {value!r}: 1-128 characters, no spaces",
                           key="sip.invalid_field", field=what)
    return text


def _from_row(row: Row) -> SipAccount:
    return SipAccount(
        user_id=int(row["user_id"]),
        extension=row["extension"],
        auth_user=row["auth_user"],
        display_name=row["display_name"],
        caller_ids=tuple(json.loads(row["caller_ids"])),
    )


async def set_account(
    db: Database,
    box: SecretBox,
    user_id: int,
    *,
    extension: str,
    auth_user: str = "",
    display_name: str = "",
    caller_ids: tuple[str, ...] | list[str] = (),
    password: str | None = None,
) -> SipAccount:
    """Create or update a user's SIP account.

    ``password=None`` keeps the stored password (forms leave it blank); a new account
    must be given one. ``auth_user`` defaults to the extension. Raises ``Conflict`` if
    another user has the extension.
    """
    extension = _clean(extension, "extension")
    auth_user = _clean(auth_user, "auth_user") if auth_user.strip() else extension
    ids = tuple(dict.fromkeys(_clean(number, "caller_id") for number in caller_ids))
    if password is not None and not password:
        raise InvalidValue("SIP password is empty", key="sip.empty_password")
    now = clock.to_db(clock.utc_now())
    async with db.transaction() as tx:
        owner = await tx.fetchone(
            "SELECT user_id FROM sip_accounts WHERE extension = ?", (extension,)
        )
        if owner is not None and int(owner["user_id"]) != user_id:
            raise Conflict(f"extension {extension} belongs to another user",
                           key="sip.extension_taken", extension=extension)
        exists = await tx.fetchone("SELECT 1 FROM sip_accounts WHERE user_id = ?", (user_id,))
        if exists is None:
            if password is None:
                raise InvalidValue("a new SIP account needs a password", key="sip.empty_password")
            await tx.execute(
                "INSERT INTO sip_accounts (user_id, extension, auth_user, password_encrypted,"
                " display_name, caller_ids, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user_id, extension, auth_user, box.encrypt(password), display_name.strip(),
                 json.dumps(ids), now),
            )
        else:
            await tx.execute(
                "UPDATE sip_accounts SET extension = ?, auth_user = ?, display_name = ?,"
                " caller_ids = ?, updated_at = ? WHERE user_id = ?",
                (extension, auth_user, display_name.strip(), json.dumps(ids), now, user_id),
            )
            if password is not None:
                await tx.execute(
                    "UPDATE sip_accounts SET password_encrypted = ? WHERE user_id = ?",
                    (box.encrypt(password), user_id),
                )
    return SipAccount(user_id, extension, auth_user, display_name.strip(), ids)


async def get_account(db: Database, user_id: int) -> SipAccount | None:
    row = await db.fetchone(
        "SELECT user_id, extension, auth_user, display_name, caller_ids"
        " FROM sip_accounts WHERE user_id = ?",
        (user_id,),
    )
    return None if row is None else _from_row(row)


async def list_accounts(db: Database) -> list[SipAccount]:
    rows = await db.fetchall(
        "SELECT user_id, extension, auth_user, display_name, caller_ids"
        " FROM sip_accounts ORDER BY extension"
    )
    return [_from_row(row) for row in rows]


async def delete_account(db: Database, user_id: int) -> bool:
    return await db.execute("DELETE FROM sip_accounts WHERE user_id = ?", (user_id,)) > 0


async def get_credentials(db: Database, box: SecretBox, user_id: int) -> SipCredentials | None:
    """The decrypted credentials for the gateway to register the user's line."""
    row = await db.fetchone(
        "SELECT user_id, extension, auth_user, password_encrypted, display_name"
        " FROM sip_accounts WHERE user_id = ?",
        (user_id,),
    )
    if row is None:
        return None
    return SipCredentials(
        user_id=int(row["user_id"]),
        extension=row["extension"],
        auth_user=row["auth_user"],
        password=box.decrypt(row["password_encrypted"]),
        display_name=row["display_name"],
    )
