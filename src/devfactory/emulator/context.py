"""What one API request knows: the store, the clock, the version spoken and who is asking."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devfactory.emulator.clock import Clock
from devfactory.emulator.model import Integration
from devfactory.emulator.store import Store

__all__ = ["LATEST_VERSION", "SUPPORTED_VERSIONS", "Ctx", "Request"]

DEFAULT_VERSION = "2025-09-03"
LATEST_VERSION = "2026-03-11"
SUPPORTED_VERSIONS = (DEFAULT_VERSION, LATEST_VERSION)


@dataclass(slots=True)
class Ctx:
    """The request's view of the workspace."""

    store: Store
    clock: Clock
    version: str
    integration: Integration
    request_id: str
    base_url: str
    now: float = 0.0
    # Per-request memo for computed values (rollups and formulas read the same pages often).
    memo: dict[Any, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> str:
        """The bot user acting (the integration's)."""
        return self.integration.bot_id

    @property
    def modern(self) -> bool:
        """True for Notion-Version 2026-03-11: ``in_trash`` only, ``position`` only."""
        return self.version >= LATEST_VERSION


@dataclass(slots=True)
class Request:
    """The parsed parts of an API request a handler needs."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: dict[str, Any]
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)

    def query_one(self, name: str) -> str | None:
        """The single value of a query-string parameter, or None."""
        values = self.query.get(name)
        return values[-1] if values else None
