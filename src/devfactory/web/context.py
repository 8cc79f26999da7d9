"""What every route of the dashboard reads: the settings, the store's tables and the bus."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from itsdangerous import URLSafeTimedSerializer
from starlette.requests import HTTPConnection

from devfactory.config import Settings
from devfactory.db import Database
from devfactory.gate.approvals import Approvals
from devfactory.obs.events import EventBus
from devfactory.obs.logstore import LogStore, PostgresLogStore, SQLiteLogStore
from devfactory.web.keys import ApiKeys
from devfactory.web.repeats import Repeats

__all__ = ["WebContext", "context_of"]


@dataclass
class WebContext:
    """One dashboard's collaborators; built by :func:`devfactory.web.app.create_app`."""

    settings: Settings
    store: Database
    bus: EventBus
    keys: ApiKeys
    approvals: Approvals
    logs: LogStore
    sessions: URLSafeTimedSerializer
    session_max_age: int
    repeats: Repeats = field(default_factory=Repeats)

    @classmethod
    def build(
        cls,
        settings: Settings,
        store: Database,
        bus: EventBus,
        *,
        session_secret: str | None = None,
        session_max_age: int = 12 * 3600,
    ) -> WebContext:
        """Open the tables the dashboard uses (made if missing) on ``store``."""
        keys = ApiKeys(store)
        logs: LogStore = (
            SQLiteLogStore(store) if store.dialect == "sqlite" else PostgresLogStore(store)
        )
        signer = URLSafeTimedSerializer(
            session_secret or keys.session_secret(), salt="devfactory.web.session"
        )
        return cls(settings, store, bus, keys, Approvals(store), logs, signer, session_max_age)


def context_of(connection: HTTPConnection) -> WebContext:
    """The context of the app serving ``connection`` (a request or a WebSocket)."""
    return cast(WebContext, connection.app.state.web)
