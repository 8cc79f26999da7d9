"""API keys of the dashboard: hashed at rest, shown once, mapped to a principal.

A key is ``dfk_`` plus 43 random url-safe characters. The store keeps only its SHA-256
digest (table ``api_keys``, SQLite or PostgreSQL through :class:`devfactory.db.Database`),
so a copy of the database lets nobody in. :meth:`ApiKeys.identify` looks the digest up and
compares it in constant time; a key carries a role (``admin``, ``operator``, ``viewer``) and
optionally per-database levels (``read``, ``write``, ``deploy``), the same
:class:`~devfactory.mcp.access.Principal` the gateway uses.

The table ``web_secrets`` holds the key that signs session cookies, made on first use, so
every dashboard process on one store accepts the same sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devfactory.db import Database
from devfactory.errors import UserError
from devfactory.mcp.access import Principal
from devfactory.obs import redact

__all__ = ["LEVELS", "PREFIX", "ROLES", "ApiKey", "ApiKeys", "digest"]

PREFIX = "dfk_"
ROLES = ("admin", "operator", "viewer")
LEVELS = ("read", "write", "deploy")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    databases_json TEXT,
    digest TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS web_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
)
"""


def digest(key: str) -> str:
    """The hex SHA-256 of ``key``: what the store keeps instead of the key."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One key as listed: never the key itself, only a hint (its first characters)."""

    name: str
    role: str
    databases: dict[str, str] | None
    hint: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (times as Unix seconds)."""
        return {
            "name": self.name,
            "role": self.role,
            "databases": self.databases,
            "hint": self.hint,
            "created_at": self.created_at,
        }

    def principal(self) -> Principal:
        """The caller this key stands for."""
        return Principal(self.name, self.role, None, self.databases)


class ApiKeys:
    """The ``api_keys`` table of the store."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(_SCHEMA)

    def create(self, name: str, role: str, databases: Mapping[str, str] | None = None) -> str:
        """Make a key for ``name``; returns the plain key, which is not stored anywhere.

        A :class:`UserError` for a bad name, role or level, or a name already in use.
        """
        _check(name, role, databases)
        key = PREFIX + secrets.token_urlsafe(32)
        chosen = dict(databases) if databases else None
        with self.db.transaction():
            if self.db.execute("SELECT 1 FROM api_keys WHERE name = ?", (name,)):
                raise UserError(f"a key named {name!r} exists; revoke it first")
            self.db.execute(
                "INSERT INTO api_keys (name, role, databases_json, digest, hint, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    name,
                    role,
                    None if chosen is None else json.dumps(chosen, sort_keys=True),
                    digest(key),
                    key[: len(PREFIX) + 4],
                    time.time(),
                ),
            )
        redact.register_secret(key)
        return key

    def list(self) -> list[ApiKey]:
        """Every key, by name (no secrets: digests stay in the table)."""
        rows = self.db.execute(
            "SELECT name, role, databases_json, hint, created_at FROM api_keys ORDER BY name"
        )
        return [_key(row) for row in rows]

    def revoke(self, name: str) -> bool:
        """Delete the key of ``name``; whether there was one. Sessions made with it end."""
        return bool(self.db.execute("DELETE FROM api_keys WHERE name = ? RETURNING name", (name,)))

    def identify(self, key: str) -> Principal | None:
        """The principal of ``key``, or None; the digests are compared in constant time."""
        return self.identify_digest(digest(key))

    def identify_digest(self, wanted: str) -> Principal | None:
        """The principal whose key has the hex digest ``wanted`` (what a session holds)."""
        rows = self.db.execute(
            "SELECT digest, name, role, databases_json, hint, created_at "
            "FROM api_keys WHERE digest = ?",
            (wanted,),
        )
        found: Principal | None = None
        for row in rows:
            if hmac.compare_digest(str(row[0]).encode(), wanted.encode()):
                found = _key(row[1:]).principal()
        return found

    def session_secret(self) -> str:
        """The key that signs session cookies: made once per store, then read back."""
        self.db.execute(
            "INSERT INTO web_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            ("session", secrets.token_urlsafe(48)),
        )
        return str(
            self.db.execute("SELECT value FROM web_secrets WHERE name = ?", ("session",))[0][0]
        )


def _check(name: str, role: str, databases: Mapping[str, str] | None) -> None:
    if not _NAME.match(name):
        raise UserError(
            f"bad key name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; want one of {', '.join(ROLES)}")
    for database, level in (databases or {}).items():
        if not database:
            raise UserError("a database name must not be empty")
        if level not in LEVELS:
            raise UserError(
                f"unknown level {level!r} for database {database!r}; want one of {', '.join(LEVELS)}"
            )


def _key(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        name=row[0],
        role=row[1],
        databases=None if row[2] is None else dict(json.loads(row[2])),
        hint=row[3],
        created_at=float(row[4]),
    )
