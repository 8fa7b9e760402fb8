"""Keys of the HTTP API (chatbot/api/): created, listed and revoked by admins, stored as a SHA-256 only.

A key is `cbk_` followed by 32 random URL-safe characters; it is shown once, at creation. Its `prefix` (the
first 12 characters) tells keys apart in a list. Scope `chat` may ask questions and rate answers (a public
website widget: the key sits in the page); scope `admin` may also upload, list and delete documents. Each
key has its own requests-per-minute limit, kept by the API server."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, insert, select, update

from chatbot import db

Scope = Literal["chat", "admin"]
SCOPES: tuple[Scope, ...] = ("chat", "admin")
KEY_START = "cbk_"
PREFIX_CHARS = 12
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per key


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    scope: Scope
    rate_per_minute: int
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: Scope) -> bool:
        """An admin key may do what a chat key may, and more.

        >>> key = ApiKey(1, "site", "cbk_abcdefgh", "chat", 30, datetime(2026, 1, 1))
        >>> key.allows("chat"), key.allows("admin")
        (True, False)
        """
        return self.scope == "admin" or scope == "chat"

    def to_dict(self) -> dict:
        def at(value: datetime | None) -> str | None:
            return value.isoformat(timespec="seconds") if value else None

        return {"id": self.id, "name": self.name, "prefix": self.prefix, "scope": self.scope,
                "rate_per_minute": self.rate_per_minute, "created_at": at(self.created_at),
                "revoked_at": at(self.revoked_at), "last_used_at": at(self.last_used_at)}


def hash_key(key: str) -> str:
    """What is stored of a key: its SHA-256 in hex. Keys are 190 random bits, so no salt or slow hash is needed
    (nothing to guess from a dictionary), and a lookup by hash is one indexed query.

    >>> hash_key("cbk_example")[:16]
    '3336cf65de18576a'
    """
    return hashlib.sha256(key.encode()).hexdigest()


def create(engine: Engine, name: str, scope: Scope = "chat", rate_per_minute: int = 30) -> tuple[str, ApiKey]:
    """A new key: (the key itself, shown only now, and its record)."""
    name = " ".join(name.split())[:100]
    if not name:
        raise ValueError("a key needs a name (e.g. the site or integration that uses it)")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    if rate_per_minute < 1:
        raise ValueError("the rate limit must be at least 1 request per minute")
    key = KEY_START + secrets.token_urlsafe(24)
    values = dict(name=name, prefix=key[:PREFIX_CHARS], key_hash=hash_key(key), scope=scope,
                  rate_per_minute=rate_per_minute, created_at=db.now())
    with engine.begin() as conn:
        key_id = conn.execute(insert(db.api_keys).values(**values)).inserted_primary_key[0]
    return key, ApiKey(id=key_id, name=name, prefix=values["prefix"], scope=scope, rate_per_minute=rate_per_minute,
                       created_at=values["created_at"])


def list_keys(engine: Engine, include_revoked: bool = True) -> list[ApiKey]:
    """Keys, oldest first."""
    query = select(db.api_keys).order_by(db.api_keys.c.id)
    if not include_revoked:
        query = query.where(db.api_keys.c.revoked_at.is_(None))
    with engine.connect() as conn:
        return [_key(row) for row in conn.execute(query).all()]


def revoke(engine: Engine, which: str | int) -> ApiKey | None:
    """Revoke the key with this id or prefix (at once: its next request is refused); None if there is no such
    active key. A prefix naming several keys revokes none (ValueError)."""
    column = db.api_keys.c.id if isinstance(which, int) or str(which).isdigit() else db.api_keys.c.prefix
    value = int(which) if column is db.api_keys.c.id else str(which)
    with engine.begin() as conn:
        rows = conn.execute(select(db.api_keys).where(column == value, db.api_keys.c.revoked_at.is_(None))).all()
        if len(rows) > 1:
            raise ValueError(f"{len(rows)} keys start with {value!r}: revoke by id")
        if not rows:
            return None
        at = db.now()
        conn.execute(update(db.api_keys).where(db.api_keys.c.id == rows[0].id).values(revoked_at=at))
    return replace(_key(rows[0]), revoked_at=at)


def verify(engine: Engine, presented: str) -> ApiKey | None:
    """The active key `presented` is, or None (unknown, malformed or revoked). Notes its use (at most once a
    minute per key, so busy keys don't write on every request)."""
    if not presented.startswith(KEY_START) or len(presented) > 100:
        return None
    with engine.connect() as conn:
        row = conn.execute(select(db.api_keys).where(db.api_keys.c.key_hash == hash_key(presented))).first()
    if row is None or row.revoked_at is not None:
        return None
    key = _key(row)
    now = db.now()
    last = _aware(key.last_used_at)
    if last is None or now - last >= LAST_USED_EVERY:
        with engine.begin() as conn:
            conn.execute(update(db.api_keys).where(db.api_keys.c.id == key.id).values(last_used_at=now))
    return key


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without their zone; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _key(row) -> ApiKey:
    return ApiKey(id=row.id, name=row.name, prefix=row.prefix, scope=row.scope, rate_per_minute=row.rate_per_minute,
                  created_at=row.created_at, revoked_at=row.revoked_at, last_used_at=row.last_used_at)
