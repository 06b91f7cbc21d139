"""Errors raised by the CRM domain.

::

    CrmError                   base; ``key``/``params`` name a message in web/locales
     ├── NotFound              the row asked for does not exist
     ├── Conflict              a unique value is taken (username, extension)
     └── InvalidValue          a value a user typed is not acceptable

The ``key`` lets the web layer tell a user what to do next in their language; ``str(err)``
stays an English sentence for logs.
"""

from __future__ import annotations

from typing import Any


class CrmError(Exception):
    """Base of the CRM's errors; carries a message-catalogue key and its parameters."""

    key = "error.generic"

    def __init__(self, message: str, *, key: str | None = None, **params: Any) -> None:
        super().__init__(message)
        if key is not None:
            self.key = key
        self.params = params


class NotFound(CrmError):
    key = "error.not_found"


class Conflict(CrmError):
    key = "error.conflict"


class InvalidValue(CrmError):
    key = "error.invalid_value"
