"""Who is asking, as far as the CRM's lists care: agents see their own work, supervisors
and admins see everyone's. Each list (history, tickets, ...) adds its own rule on top."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from crm.users import Role, User

SUPERVISING_ROLES = (Role.ADMIN, Role.SUPERVISOR)


@dataclass(frozen=True)
class Viewer:
    user_id: int
    role: Role

    @classmethod
    def of(cls, user: User) -> Self:
        return cls(user.id, user.role)

    @property
    def sees_everyone(self) -> bool:
        return self.role in SUPERVISING_ROLES
