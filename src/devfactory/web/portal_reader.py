"""The portal's one read path: rows of the deployed Clients, Projects and Tasks databases,
read live from the Notion target through a short per-database cache.

The deploy state (``$DEVFACTORY_HOME/state/<workspace>.<env>.json``) names the data sources;
the reads go through the deploy engine's own session (:class:`~devfactory.notion.target.
NotionSession`, the official notion-client on devfactory's paced transport) and
:class:`~devfactory.notion.api.NotionAPI` (retries, pagination). Each database's rows are
kept ``ttl`` seconds (30 by default) and shared by every client: the per-client filtering is
done afterwards by :func:`devfactory.web.portal.visible_to` on every request. A row whose
parent is not the expected data source is dropped, so a stale state cannot mix databases.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from devfactory.config import Settings
from devfactory.deploy.state import State, StateFile
from devfactory.errors import DevfactoryError
from devfactory.notion.api import NotionAPI
from devfactory.notion.target import NotionSession, resolve_target
from devfactory.web.errors import Unavailable
from devfactory.web.portal import PortalRules, Row, Visible, page_key, to_row, visible_to

__all__ = ["PortalConfig", "PortalReader", "PortalUnavailable"]

Json = dict[str, Any]
Fetch = Callable[[str], Awaitable[list[Json]]]
"""Reads every page of one data source (by id); the seam tests may wrap to count reads."""


class PortalUnavailable(Unavailable):
    """503: the portal is not set up, nothing is deployed, or the Notion target failed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalConfig:
    """Which deployed workspace the portal serves, and how fresh its reads are."""

    workspace: str
    environment: str = "default"
    target_url: str | None = None
    """A running local server or Notion URL, as ``--target``; None: what the settings select."""
    ttl: float = 30.0
    rules: PortalRules = field(default_factory=PortalRules)


class PortalReader:
    """Cached reads of the portal's three databases for one :class:`PortalConfig`."""

    def __init__(
        self,
        config: PortalConfig,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        fetch: Fetch | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.clock = clock
        self.target = resolve_target(settings, config.target_url)
        self.fetch: Fetch = fetch or self._fetch_from_notion
        self.reads = 0
        """Data-source reads made so far (cache misses)."""
        self._cache: dict[str, tuple[float, str, list[Row]]] = {}
        self._lock = asyncio.Lock()

    def state(self) -> State:
        """The deploy state; :class:`PortalUnavailable` when the databases are not deployed."""
        config = self.config
        where = f"{config.workspace} ({config.environment})"
        try:
            state = StateFile(self.settings.home, config.workspace, config.environment).load(
                self.target.label
            )
        except DevfactoryError as exc:
            raise PortalUnavailable(
                f"the portal cannot read the deploy state of {where}: {exc}"
            ) from exc
        rules = config.rules
        missing = [
            k for k in (rules.clients, rules.projects, rules.tasks) if k not in state.databases
        ]
        if missing:
            raise PortalUnavailable(
                f"the portal has nothing to show: {', '.join(missing)} of {where} "
                f"are not deployed (devfactory apply SPEC --env {config.environment})"
            )
        return state

    async def rows(self, database: str) -> list[Row]:
        """The rows of ``database`` (a logical key), from the cache when fresher than ``ttl``."""
        async with self._lock:
            now = self.clock()
            cached = self._cache.get(database)
            if cached is not None and now - cached[0] < self.config.ttl:
                return cached[2]
            source = self.state().databases[database].data_source_id
            try:
                pages = await self.fetch(source)
            except (DevfactoryError, httpx.HTTPError, OSError) as exc:
                raise PortalUnavailable(
                    f"the Notion target did not answer the portal's read of {database}"
                ) from exc
            self.reads += 1
            rules = self.config.rules
            rows = [
                to_row(page, rules.fields_of(database), rules.links_of(database), rules.visibility)
                for page in pages
                if _live_in(page, source)
            ]
            self._cache[database] = (now, source, rows)
            return rows

    async def visible(self, client_id: str) -> Visible | None:
        """What the client ``client_id`` may see now (None: nothing, its record is not Portal)."""
        rules = self.config.rules
        clients = await self.rows(rules.clients)
        projects = await self.rows(rules.projects)
        tasks = await self.rows(rules.tasks)
        return visible_to(client_id, clients, projects, tasks, rules)

    async def client_named(self, title: str) -> list[Row]:
        """The client rows titled ``title`` (exact; else case-insensitive), for issuing keys."""
        clients = await self.rows(self.config.rules.clients)
        exact = [c for c in clients if c.title == title]
        return exact or [c for c in clients if c.title.casefold() == title.casefold()]

    async def _fetch_from_notion(self, data_source_id: str) -> list[Json]:
        async with NotionSession(self.target) as session:
            query = session.client.data_sources.query
            return await NotionAPI().results(query, "portal read", data_source_id=data_source_id)


def _live_in(page: Json, data_source_id: str) -> bool:
    """Whether ``page`` is a live (not trashed) row of ``data_source_id``."""
    parent = page.get("parent") or {}
    if page_key(str(parent.get("data_source_id", ""))) != page_key(data_source_id):
        return False
    return not (page.get("in_trash") or page.get("archived"))
