"""The workspace around the API: its identity, its owner, and its integrations (tokens)."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from devfactory.emulator.clock import Clock
from devfactory.emulator.ids import new_id
from devfactory.emulator.model import CAPABILITIES, Integration, Owned, User
from devfactory.emulator.store import Store, hash_token
from devfactory.errors import UserError

__all__ = [
    "IntegrationToken",
    "create_integration",
    "ensure_workspace",
    "integration_named",
    "new_token",
    "session_token",
    "share",
]

OWNER_NAME = "Local Owner"
OWNER_EMAIL = "owner@localhost"
_TOKEN_CHARS = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class IntegrationToken:
    """A freshly created integration and its token (shown once; stored hashed)."""

    integration: Integration
    token: str


def new_token() -> str:
    """A token in Notion's internal-integration form: ``ntn_`` and 46 characters."""
    return "ntn_" + "".join(secrets.choice(_TOKEN_CHARS) for _ in range(46))


def ensure_workspace(store: Store, name: str = "devfactory", clock: Clock | None = None) -> None:
    """Give a new store its workspace id, name and owner (a person user); idempotent."""
    if "workspace_id" in store.meta:
        return
    with store.transaction():
        store.set_meta("workspace_id", new_id())
        store.set_meta("workspace_name", name)
        owner = User(id=new_id(), name=OWNER_NAME, type="person", email=OWNER_EMAIL)
        store.add(owner)
        store.set_meta("owner_user_id", owner.id)


def create_integration(
    store: Store,
    name: str,
    token: str | None = None,
    clock: Clock | None = None,
    *,
    capabilities: list[str] | None = None,
) -> IntegrationToken:
    """Add an integration with its bot user; ``token`` fixes the token (tests, scripts)."""
    name = name.strip()
    if not name:
        raise UserError("an integration needs a name")
    if len(name) > 100:
        raise UserError("an integration name is at most 100 characters")
    if any(i.name == name for i in store.integrations.values()):
        raise UserError(f"an integration named {name!r} exists already")
    token = token or new_token()
    if len(token) < 8:
        raise UserError("a token must be at least 8 characters")
    if store.integration_for_token(token) is not None:
        raise UserError("that token belongs to another integration already")
    integration_id = new_id()
    unknown = sorted(set(capabilities or []) - set(CAPABILITIES))
    if unknown:
        raise UserError(f"unknown capabilities {unknown}; choose from {', '.join(CAPABILITIES)}")
    integration = Integration(
        id=integration_id,
        name=name,
        token_hash=hash_token(token),
        bot_id=integration_id,
        created_time=(clock or Clock()).now(),
        capabilities=list(CAPABILITIES) if capabilities is None else list(capabilities),
    )
    with store.transaction():
        store.add_integration(integration)
        store.add(User(id=integration_id, name=name, type="bot", integration_id=integration_id))
    return IntegrationToken(integration, token)


def session_token(store: Store, name: str) -> str:
    """A fresh token for integration ``name`` (created if missing), for in-process use.

    The embedded target talks to the local server inside the same process; rather than keep
    a token on disk, each session gives the integration a new random token.
    """
    existing = next((i for i in store.integrations.values() if i.name == name), None)
    if existing is None:
        return create_integration(store, name).token
    token = new_token()
    with store.transaction():
        store.replace_token(existing, hash_token(token))
    return token


def integration_named(store: Store, name_or_id: str) -> Integration:
    """An integration by name or id, or a :class:`UserError` naming the known ones."""
    for integration in store.integrations.values():
        if name_or_id in (integration.name, integration.id):
            return integration
    known = ", ".join(sorted(i.name for i in store.integrations.values())) or "none"
    raise UserError(f"no integration {name_or_id!r} (known: {known})")


def share(store: Store, object_id: str, integration: Integration) -> None:
    """Share a page, database or data source (and all below it) with an integration."""
    record = store.get(object_id)
    if not isinstance(record, Owned):
        raise UserError(f"no page, database or data source with id {object_id}")
    with store.transaction():
        store.share(object_id, integration.id)
