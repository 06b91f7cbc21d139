"""Server-side login sessions, and the cookie that names one.

The cookie carries a random 256-bit id; the database keeps only its SHA-256, so reading
the database does not let anyone log in. A session has a fixed lifetime (a shift, not
forever), can be revoked (logout, password change) and is never reused across a login:
every login makes a new one. Each session also holds the CSRF token of its pages.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web

from crm import clock
from crm.db import Database, Row

COOKIE_NAME = "headset_session"
# Longer than a shift plus overtime; a new day starts with a new login.
DEFAULT_LIFETIME = timedelta(hours=14)


@dataclass(frozen=True)
class Session:
    id_hash: str
    user_id: int
    csrf_token: str
    created_at: datetime
    expires_at: datetime


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _from_row(row: Row) -> Session:
    return Session(
        id_hash=row["id_hash"],
        user_id=int(row["user_id"]),
        csrf_token=row["csrf_token"],
        created_at=clock.from_db(row["created_at"]),
        expires_at=clock.from_db(row["expires_at"]),
    )


async def create_session(
    db: Database, user_id: int, now: datetime, lifetime: timedelta = DEFAULT_LIFETIME
) -> tuple[str, Session]:
    """A new session for the user: the token for the cookie, and the session."""
    token = secrets.token_urlsafe(32)
    session = Session(hash_token(token), user_id, secrets.token_urlsafe(32), now, now + lifetime)
    async with db.transaction() as tx:
        # Housekeeping where it is cheap: this user's dead sessions go now.
        await tx.execute(
            "DELETE FROM web_sessions WHERE user_id = ?"
            " AND (revoked_at IS NOT NULL OR expires_at <= ?)",
            (user_id, clock.to_db(now)),
        )
        await tx.execute(
            "INSERT INTO web_sessions (id_hash, user_id, csrf_token, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (session.id_hash, user_id, session.csrf_token, clock.to_db(now),
             clock.to_db(session.expires_at)),
        )
    return token, session


async def load_session(db: Database, token: str, now: datetime) -> Session | None:
    """The live session the token names, or None (unknown, expired or revoked)."""
    if not token or len(token) > 100:
        return None
    row = await db.fetchone(
        "SELECT id_hash, user_id, csrf_token, created_at, expires_at FROM web_sessions"
        " WHERE id_hash = ? AND revoked_at IS NULL AND expires_at > ?",
        (hash_token(token), clock.to_db(now)),
    )
    return None if row is None else _from_row(row)


async def revoke_session(db: Database, id_hash: str, now: datetime) -> None:
    await db.execute(
        "UPDATE web_sessions SET revoked_at = ? WHERE id_hash = ? AND revoked_at IS NULL",
        (clock.to_db(now), id_hash),
    )


async def revoke_user_sessions(db: Database, user_id: int, now: datetime) -> int:
    """Revoke every session of a user (password change, deactivation); return how many."""
    return await db.execute(
        "UPDATE web_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
        (clock.to_db(now), user_id),
    )


def set_cookie(response: web.StreamResponse, request: web.Request, token: str,
               session: Session) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        expires=session.expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        path="/",
        httponly=True,
        # Lax, not Strict: a link to a CRM page from a mail or a ticket must open logged in.
        samesite="Lax",
        secure=request.secure,
    )


def clear_cookie(response: web.StreamResponse, request: web.Request) -> None:
    response.del_cookie(COOKIE_NAME, path="/", secure=request.secure, httponly=True,
                        samesite="Lax")
