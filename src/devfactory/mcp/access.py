"""Who is calling, and what they may do: tokens, roles, servers and Notion databases.

Tokens come only from the environment (each client's ``token_env``); the gateway keeps
their SHA-256 digests, never the tokens, and compares digests in constant time. Roles:

- ``viewer`` runs read-only tools only;
- ``operator`` runs any tool (destructive ones still pass the confidence gate);
- ``admin`` likewise, and is what a token generated at start-up gets.

A client may further be limited to some servers, and to some logical Notion databases with
an access level each (``read`` < ``write`` < ``deploy``): a Notion tool that names a
``database`` needs ``read`` when it is read-only and ``write`` otherwise. The same grants
bound who may *approve* a halted call (:func:`review_problem`): ``write`` on the database a
tool call names, ``deploy`` on every database a deploy's destructive changes touch.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devfactory.mcp.config import ClientEntry, GatewayConfig, TcpAccess
from devfactory.obs import redact

__all__ = ["Keyring", "Principal", "permission_problem", "review_problem"]

_LEVEL = {"read": 1, "write": 2, "deploy": 3}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    name: str
    role: str
    servers: frozenset[str] | None = None
    databases: Mapping[str, str] | None = None

    @classmethod
    def of(cls, name: str, entry: ClientEntry | TcpAccess) -> Principal:
        servers = frozenset(entry.servers) if entry.servers is not None else None
        return cls(name, entry.role, servers, dict(entry.databases or {}) or None)


def permission_problem(
    principal: Principal, server: str, read_only: bool, arguments: Mapping[str, Any]
) -> str | None:
    """Why ``principal`` may not make this call, or None when it may."""
    if principal.servers is not None and server not in principal.servers:
        return f"client {principal.name!r} may not use server {server!r}"
    if principal.role == "viewer" and not read_only:
        return f"client {principal.name!r} is a viewer: only read-only tools"
    database = arguments.get("database")
    if principal.databases is not None and isinstance(database, str):
        have = _LEVEL.get(principal.databases.get(database, ""), 0)
        need = 1 if read_only else 2
        if have < need:
            wanted = "read" if read_only else "write"
            return f"client {principal.name!r} may not {wanted} database {database!r}"
    return None


def review_problem(
    principal: Principal, server: str, arguments: Mapping[str, Any] | str
) -> str | None:
    """Why ``principal`` may not approve a halted call to ``server`` with ``arguments``, or
    None when it may (its role is checked by the caller). Without database grants a
    reviewer reaches every database. With them: a tool call naming a ``database`` needs
    ``write`` on it; a deploy (server ``deploy``) needs ``deploy`` on every database its
    changes name (``"- clients.Website: …"``), and one whose databases cannot be told is
    refused rather than guessed."""
    if principal.databases is None:
        return None
    named: set[str] = set()
    if isinstance(arguments, Mapping):
        database = arguments.get("database")
        if isinstance(database, str):
            named.add(database)
        if server == "deploy":
            for change in arguments.get("changes") or []:
                address = str(change).split(" ", 1)[-1]
                named.add(address.split(".", 1)[0].split(":", 1)[0].strip())
    need = 3 if server == "deploy" else 2
    if server == "deploy" and not named:
        return f"{principal.name!r} has database grants and this deploy names no database"
    for database in sorted(named):
        if _LEVEL.get(principal.databases.get(database, ""), 0) < need:
            wanted = "deploy" if need == 3 else "write"
            return f"{principal.name!r} may not {wanted} database {database!r}"
    return None


class Keyring:
    """The clients' token digests; :meth:`identify` maps a presented token to a principal."""

    def __init__(self) -> None:
        self._by_digest: dict[bytes, Principal] = {}
        self.missing: list[str] = []  # clients whose token variable is unset
        self.generated: str | None = None  # a token made at start-up, shown once

    @classmethod
    def from_config(
        cls, config: GatewayConfig, environ: Mapping[str, str] | None = None
    ) -> Keyring:
        """Read each client's token from the environment; register it for redaction."""
        env = os.environ if environ is None else environ
        ring = cls()
        for client in config.clients:
            token = env.get(client.token_env, "")
            if not token:
                ring.missing.append(f"{client.name} (${client.token_env})")
                continue
            redact.register_secret(token)
            ring.add(token, Principal.of(client.name, client))
        return ring

    def add(self, token: str, principal: Principal) -> None:
        self._by_digest[_digest(token)] = principal

    def generate(self) -> str:
        """Make an admin token for this run (when no client has one), and return it."""
        token = "dfg_" + secrets.token_urlsafe(32)
        redact.register_secret(token)
        self.add(token, Principal("local-admin", "admin"))
        self.generated = token
        return token

    def __len__(self) -> int:
        return len(self._by_digest)

    def identify(self, token: str) -> Principal | None:
        """The principal of ``token``, or None; compares digests in constant time."""
        digest = _digest(token)
        found: Principal | None = None
        for known, principal in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                found = principal
        return found


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
