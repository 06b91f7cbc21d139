"""Reading submitted forms and collecting per-field errors.

A view checks every field before it changes anything, so one submission shows all its
mistakes at once and an invalid form changes nothing. Errors are message keys with
parameters (the ``key``/``params`` of ``crm.errors.CrmError``); templates translate them
and link each one to its field (web/templates/_form.html).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from multidict import MultiDictProxy

from crm.errors import CrmError

T = TypeVar("T")

# More than any field here allows: each field's own check refuses longer input.
MAX_FIELD_INPUT = 4000


@dataclass(frozen=True)
class FieldError:
    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


class FormErrors(dict[str, FieldError]):
    """Field name -> the first error found in it (field names are the inputs' ids)."""

    def add(self, name: str, key: str, **params: Any) -> None:
        self.setdefault(name, FieldError(key, params))

    def catch(self, name: str, check: Callable[..., T], *args: Any) -> T | None:
        """``check(*args)``, or None after recording the ``CrmError`` it raised."""
        try:
            return check(*args)
        except CrmError as exc:
            self.add(name, exc.key, **exc.params)
            return None


def text(form: MultiDictProxy[str | Any], name: str) -> str:
    """A submitted text field ('' when missing or a file).

    Cut just past ``MAX_FIELD_INPUT``, so the field's own length check still refuses it
    without every check working through a megabyte first.
    """
    value = form.get(name, "")
    return value[: MAX_FIELD_INPUT + 1] if isinstance(value, str) else ""


def checked(form: MultiDictProxy[str | Any], name: str) -> bool:
    """Whether a checkbox (value "1") was ticked."""
    return form.get(name) == "1"
