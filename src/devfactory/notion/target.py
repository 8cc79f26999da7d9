"""Which Notion to talk to, and a client session for it.

- no ``NOTION_TOKEN`` and no ``--target``: the **embedded** local server on
  ``$DEVFACTORY_HOME/notion.sqlite``, in-process through ASGI, no port;
- ``--target URL``: a running local server (token from ``DEVFACTORY_EMULATOR_TOKEN`` or
  ``NOTION_TOKEN``);
- ``NOTION_TOKEN`` (and optionally ``NOTION_BASE_URL``): the real Notion API.

Every session uses the official async client (notion-client) on one
:class:`~devfactory.notion.transport.NotionTransport`, so every call is paced and recorded;
the pace is kept in Redis (shared by every process on the same token) when
``DEVFACTORY_REDIS_URL`` is set, else in memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import httpx
import notion_client

from devfactory.config import Settings
from devfactory.errors import ConfigError
from devfactory.executor import RateLimiter, limiter_for
from devfactory.notion.transport import CallLog, NotionTransport

if TYPE_CHECKING:
    from devfactory.emulator.store import Store

__all__ = ["EMBEDDED_INTEGRATION", "NotionSession", "Target", "resolve_target"]

EMBEDDED_INTEGRATION = "devfactory"
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Target:
    """Where the calls go. ``label`` identifies the target in states and reports (no secrets)."""

    kind: str  # "embedded" | "local" | "notion"
    label: str
    base_url: str
    token: str | None = None
    db_path: Path | None = None
    rate: float | None = None
    redis_url: str | None = None  # shared rate limiter (may hold a password; never printed)
    # What this target does that the deploy engine plans around (the local server does
    # both; for real Notion neither is relied on, so plans stay exact either way).
    names_back_properties: bool = False
    creates_root_pages: bool = False

    def __repr__(self) -> str:  # never print the token
        return f"Target(kind={self.kind!r}, label={self.label!r})"


def resolve_target(settings: Settings, target_url: str | None = None) -> Target:
    """The target the settings and flags select."""
    if target_url:
        token = settings.emulator_token or settings.notion_token
        if token is None:
            raise ConfigError(
                "--target needs a token: set DEVFACTORY_EMULATOR_TOKEN (or NOTION_TOKEN)"
            )
        url = target_url.rstrip("/")
        return Target(
            "local", url, url, token.get_secret_value(), rate=settings.notion_rate,
            redis_url=_redis_url(settings), names_back_properties=True, creates_root_pages=True,
        )  # fmt: skip
    if settings.notion_token is not None:
        url = settings.notion_base_url.rstrip("/")
        return Target(
            "notion", url, url, settings.notion_token.get_secret_value(),
            rate=settings.notion_rate, redis_url=_redis_url(settings),
        )  # fmt: skip
    path = settings.embedded_db
    return Target(
        "embedded", f"embedded:{path}", "http://embedded.notion.local", db_path=path,
        names_back_properties=True, creates_root_pages=True,
    )  # fmt: skip


def _redis_url(settings: Settings) -> str | None:
    return settings.redis_url.get_secret_value() if settings.redis_url is not None else None


class NotionSession:
    """An open connection to a target: ``client`` (notion-client's AsyncClient) and ``log``."""

    def __init__(self, target: Target, *, limiter: RateLimiter | None = None) -> None:
        self.target = target
        self.log = CallLog()
        self._own_limiter = limiter is None  # a limiter given to us may serve other sessions
        self._limiter = limiter or limiter_for(
            target.label, target.rate, target.redis_url, token=target.token
        )
        self._store: Store | None = None
        self.client: notion_client.AsyncClient
        self._http: httpx.AsyncClient

    async def __aenter__(self) -> NotionSession:
        inner: httpx.AsyncBaseTransport
        token = self.target.token
        if self.target.kind == "embedded":
            from devfactory.emulator.app import NotionServer
            from devfactory.emulator.store import Store
            from devfactory.emulator.workspace import ensure_workspace, session_token

            assert self.target.db_path is not None
            store = Store(self.target.db_path)
            ensure_workspace(store)
            token = session_token(store, EMBEDDED_INTEGRATION)
            self._store = store
            server = NotionServer(store, base_url=self.target.base_url)
            inner = httpx.ASGITransport(app=server)
        else:
            inner = httpx.AsyncHTTPTransport(retries=0)
        transport = NotionTransport(
            inner, limiter=self._limiter, log_=self.log, target=self.target.label
        )
        self._http = httpx.AsyncClient(transport=transport, timeout=TIMEOUT_S)
        self.client = notion_client.AsyncClient(
            auth=token,
            base_url=self.target.base_url,
            client=self._http,
            retry=False,
            timeout_ms=int(TIMEOUT_S * 1000),
            # its console logger warns on every failed request; the executor retries those and
            # the report counts them, so a warning per retry would only break up the progress bar
            log_level=logging.ERROR,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()
        if self._own_limiter:
            await self._limiter.aclose()
        if self._store is not None:
            self._store.close()
