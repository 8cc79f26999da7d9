"""Portal keys: one key opens the client portal for exactly one client, and nothing else.

A portal key is ``dfp_`` plus 43 random url-safe characters, kept only as its SHA-256 digest
(the same :func:`~devfactory.web.keys.digest` as API keys) in its own table ``portal_keys``.
It is bound to one client row (its Notion page id and, for people, its name) of one workspace
and environment. Being a separate table is what keeps the two kinds apart: a dashboard key
is unknown here, and a portal key is unknown to :class:`~devfactory.web.keys.ApiKeys`.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from devfactory.db import Database
from devfactory.errors import UserError
from devfactory.obs import redact
from devfactory.web.keys import digest

__all__ = ["PREFIX", "PortalKey", "PortalKeys"]

PREFIX = "dfp_"
_MAX_NAME = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS portal_keys (
    name TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    client_name TEXT NOT NULL,
    workspace TEXT NOT NULL,
    environment TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
)
"""
_COLUMNS = "name, client_id, client_name, workspace, environment, hint, created_at"


@dataclass(frozen=True, slots=True)
class PortalKey:
    """One portal key as listed (never the key; ``hint`` is its first characters)."""

    name: str
    client_id: str
    client_name: str
    workspace: str
    environment: str
    hint: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (times as Unix seconds)."""
        return {
            "name": self.name,
            "client_id": self.client_id,
            "client_name": self.client_name,
            "workspace": self.workspace,
            "environment": self.environment,
            "hint": self.hint,
            "created_at": self.created_at,
        }


class PortalKeys:
    """The ``portal_keys`` table of the store."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(_SCHEMA)

    def create(
        self, name: str, *, client_id: str, client_name: str, workspace: str, environment: str
    ) -> str:
        """Make a key for one client; returns the plain key, which is not stored anywhere.

        A :class:`UserError` for an empty or overlong name, or a name already in use.
        """
        name = name.strip()
        if not name or len(name) > _MAX_NAME or not name.isprintable():
            raise UserError(f"bad portal key name {name!r}: 1-{_MAX_NAME} printable characters")
        key = PREFIX + secrets.token_urlsafe(32)
        with self.db.transaction():
            if self.db.execute("SELECT 1 FROM portal_keys WHERE name = ?", (name,)):
                raise UserError(f"a portal key named {name!r} exists; revoke it first")
            self.db.execute(
                f"INSERT INTO portal_keys ({_COLUMNS}, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    client_id,
                    client_name,
                    workspace,
                    environment,
                    key[: len(PREFIX) + 4],
                    time.time(),
                    digest(key),
                ),
            )
        redact.register_secret(key)
        return key

    def list(self) -> list[PortalKey]:
        """Every portal key, by name (no digests)."""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM portal_keys ORDER BY name")
        return [_key(row) for row in rows]

    def revoke(self, name: str) -> bool:
        """Delete the key ``name``; whether there was one. Its sessions end at once."""
        found = self.db.execute("DELETE FROM portal_keys WHERE name = ? RETURNING name", (name,))
        return bool(found)

    def identify(self, key: str) -> PortalKey | None:
        """The portal key ``key``, or None (a dashboard key is None too)."""
        if not key.startswith(PREFIX):
            return None
        return self.identify_digest(digest(key))

    def identify_digest(self, wanted: str) -> PortalKey | None:
        """The key whose digest is ``wanted`` (what a portal session holds), compared in
        constant time."""
        rows = self.db.execute(
            f"SELECT digest, {_COLUMNS} FROM portal_keys WHERE digest = ?", (wanted,)
        )
        found: PortalKey | None = None
        for row in rows:
            if hmac.compare_digest(str(row[0]).encode(), wanted.encode()):
                found = _key(row[1:])
        return found


def _key(row: tuple[Any, ...]) -> PortalKey:
    return PortalKey(
        name=str(row[0]),
        client_id=str(row[1]),
        client_name=str(row[2]),
        workspace=str(row[3]),
        environment=str(row[4]),
        hint=str(row[5]),
        created_at=float(row[6]),
    )
