"""Each user's SIP account (extension) and the credentials the gateway registers with.

Two views of one row: ``SipAccount`` (what pages and JSON may show; it has no password
field at all) and ``SipCredentials`` (for the gateway only, from ``get_credentials``).
The password is write-only: it is encrypted on the way in (crm/secret_key.py) and only
``get_credentials`` ever decrypts it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

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


# Extensions are what people dial inside the PBX: digits only. 2-15 covers every plan
# seen in the field (3-6 digits usually) and stays within E.164's length.
_EXTENSION = re.compile(r"^[0-9]{2,15}$")
_CALLER_ID = re.compile(r"^\+?[0-9]{3,16}$")
# Characters people type to group digits; none of them reach the PBX.
_NUMBER_PUNCTUATION = str.maketrans("", "", " -.()/\u00a0")
MAX_DISPLAY_NAME = 64
MAX_PASSWORD = 128
MAX_CALLER_IDS = 20


def clean_extension(extension: str) -> str:
    """The extension trimmed; raises ``InvalidValue`` unless it is 2-15 digits."""
    text = extension.strip()
    if not _EXTENSION.match(text):
        raise InvalidValue(f"extension {extension!r}: use 2-15 digits",
                           key="sip.invalid_extension")
    return text


def clean_auth_user(auth_user: str) -> str:
    """The digest user name trimmed; 1-128 characters without spaces or control codes."""
    text = auth_user.strip()
    if not text or len(text) > 128 or any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise InvalidValue(f"auth user {auth_user!r}: 1-128 characters, no spaces",
                           key="sip.invalid_auth_user")
    return text


def clean_display_name(display_name: str) -> str:
    """The SIP display name trimmed (may be empty).

    It goes into a quoted SIP header, so quotes, backslashes and control characters
    are refused rather than escaped differently by each PBX.
    """
    text = unicodedata.normalize("NFC", display_name).strip()
    if len(text) > MAX_DISPLAY_NAME or any(
        ch in '"\\' or unicodedata.category(ch) == "Cc" for ch in text
    ):
        raise InvalidValue(f"SIP display name {display_name!r} is not acceptable",
                           key="sip.invalid_display_name", max=MAX_DISPLAY_NAME)
    return text


def clean_caller_id(number: str) -> str:
    """A caller ID as stored: digits, or E.164 when it starts with +.

    Numbers without + are kept as typed (minus spaces and dashes): the PBX reads them in
    its own national plan, which this module does not know.
    """
    text = number.strip().translate(_NUMBER_PUNCTUATION)
    if _CALLER_ID.match(text):
        if not text.startswith("+"):
            return text
        try:
            parsed = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is not None and phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidValue(f"caller ID {number!r} is not a phone number",
                       key="sip.invalid_caller_id", number=number.strip())


def clean_caller_ids(numbers: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Each caller ID cleaned, duplicates and blank entries dropped, order kept."""
    ids = tuple(dict.fromkeys(clean_caller_id(n) for n in numbers if n.strip()))
    if len(ids) > MAX_CALLER_IDS:
        raise InvalidValue(f"{len(ids)} caller IDs: at most {MAX_CALLER_IDS}",
                           key="sip.too_many_caller_ids", max=MAX_CALLER_IDS)
    return ids


def check_password(password: str) -> None:
    """Raise ``InvalidValue`` unless ``password`` can be a SIP password."""
    if not password:
        raise InvalidValue("SIP password is empty", key="sip.empty_password")
    if len(password) > MAX_PASSWORD or any(ord(ch) < 32 for ch in password):
        raise InvalidValue("SIP password is too long or has control characters",
                           key="sip.invalid_password", max=MAX_PASSWORD)


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
    extension = clean_extension(extension)
    auth_user = clean_auth_user(auth_user) if auth_user.strip() else extension
    display_name = clean_display_name(display_name)
    ids = clean_caller_ids(caller_ids)
    if password is not None:
        check_password(password)
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
                (user_id, extension, auth_user, box.encrypt(password), display_name,
                 json.dumps(ids), now),
            )
        else:
            await tx.execute(
                "UPDATE sip_accounts SET extension = ?, auth_user = ?, display_name = ?,"
                " caller_ids = ?, updated_at = ? WHERE user_id = ?",
                (extension, auth_user, display_name, json.dumps(ids), now, user_id),
            )
            if password is not None:
                await tx.execute(
                    "UPDATE sip_accounts SET password_encrypted = ? WHERE user_id = ?",
                    (box.encrypt(password), user_id),
                )
    return SipAccount(user_id, extension, auth_user, display_name, ids)


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
