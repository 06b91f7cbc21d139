"""The deployment's secret key, and encryption of secrets stored in the database.

The key is a Fernet key in ``<data_dir>/secret.key``, created on first run readable by
the owner only. Keeping it out of the database means a copied database file (a backup,
a support ticket) does not carry usable SIP passwords.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)

KEY_FILE_NAME = "secret.key"


class SecretKeyError(Exception):
    """The key file is unusable, or a stored secret was not made with this key."""


class SecretBox:
    """Encrypts and decrypts short secrets (SIP passwords) with the deployment key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise SecretKeyError("secret key is not a valid Fernet key") from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise SecretKeyError(
                "a stored secret cannot be decrypted: was secret.key replaced? "
                "Restore the old key file or enter the SIP passwords again"
            ) from exc

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"


def load_or_create_key(data_dir: str | Path) -> SecretBox:
    """The key from ``<data_dir>/secret.key``, generating the file (0600) on first run."""
    path = Path(data_dir) / KEY_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: if two processes start at once, exactly one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as out:
        out.write(key + b"\n")
        out.flush()
        os.fsync(out.fileno())
    log.info("created secret key %s", path)
    return SecretBox(key)


def _read(path: Path) -> SecretBox:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by other users; run: chmod 600 %s", path, path)
    key = path.read_bytes().strip()
    if not key:
        raise SecretKeyError(f"{path} is empty: restore it from a backup")
    return SecretBox(key)
