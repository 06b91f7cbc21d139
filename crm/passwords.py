"""Password hashing with argon2id, and the rules a new password must meet.

Hashing is slow and memory-hungry on purpose (argon2-cffi's defaults: RFC 9106's
low-memory profile, 64 MiB), so callers on the event loop run it in a thread
(``asyncio.to_thread``; the C code releases the GIL). ``PasswordHashing`` bounds how many
run at once, so a burst of logins cannot take the process's memory.

Tests pass a ``PasswordHashing`` built on cheap parameters; the product default is
never weakened.
"""

from __future__ import annotations

import secrets
import threading
from functools import cached_property

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from crm.errors import InvalidValue

MIN_PASSWORD_LENGTH = 10
# Bounds the work one login attempt can cause; no one types more.
MAX_PASSWORD_LENGTH = 256


class PasswordHashing:
    """Hash and verify passwords; verification of unknown users costs the same time."""

    def __init__(self, hasher: PasswordHasher | None = None, *, concurrency: int = 4) -> None:
        self.hasher = hasher or PasswordHasher(type=Type.ID)
        if self.hasher.type is not Type.ID:
            raise ValueError("PasswordHashing needs an argon2id hasher")
        self._slots = threading.BoundedSemaphore(concurrency)

    def hash(self, password: str) -> str:
        with self._slots:
            return self.hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """True when the password matches; a malformed stored hash is a mismatch."""
        with self._slots:
            try:
                return self.hasher.verify(stored_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def verify_nobody(self, password: str) -> None:
        """Spend the time a real verification would, for a username that does not exist.

        Without it, a fast "no such user" answer tells an attacker which names are real.
        """
        self.verify(self._dummy_hash, password)

    @cached_property
    def _dummy_hash(self) -> str:
        # Made with this hasher's parameters so the timing matches real users' hashes.
        return self.hasher.hash(secrets.token_urlsafe(16))


DEFAULT_HASHING = PasswordHashing()


def check_new_password(password: str) -> None:
    """Raise ``InvalidValue`` (with a message key) if a new password is not acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidValue(
            f"password shorter than {MIN_PASSWORD_LENGTH} characters",
            key="password.too_short",
            min=MIN_PASSWORD_LENGTH,
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidValue(
            f"password longer than {MAX_PASSWORD_LENGTH} characters",
            key="password.too_long",
            max=MAX_PASSWORD_LENGTH,
        )


def generate_password() -> str:
    """A random password for a new account (120 bits, URL-safe, easy to copy)."""
    return secrets.token_urlsafe(15)
