"""The Notion workspace as the MCP Notion server sees it: databases by logical name, schemas,
page titles, and the session every call goes through.

Names come from the deploy engine's model: the spec gives each database its logical name
(``clients``) and title, the deploy state maps those names to Notion ids
(``StateFile(home, workspace, env).load(target)``). Without a spec the server uses every
state of this target; with no state either it discovers the data sources a search returns
and names them after their titles. Schemas are read live (one retrieve per data source,
kept for :data:`SCHEMA_TTL_S`), so values and filters are checked against what Notion has.

Titles are resolved by a query on the title property, never guessed: a title that names
several pages resolves to all of them, and the caller decides (the tools refuse and list the
candidates). Page ids seen in any answer are remembered with their titles (the ID cache), so
relations read back as titles without a call per related page.

Every call goes through one :class:`~devfactory.notion.target.NotionSession` and the
:class:`~devfactory.notion.api.NotionAPI` executor (pacing, retries, resolve-before-retry).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from devfactory.config import Settings
from devfactory.deploy.desired import DesiredWorkspace
from devfactory.deploy.engine import load_workspace
from devfactory.deploy.observe import (
    ObservedDatabase,
    ObservedProperty,
    observe_data_source,
    plain,
    row_title,
)
from devfactory.deploy.state import State, StateFile
from devfactory.errors import NotionError, UserError
from devfactory.mcp.values import normalise_id, ref_key, references, related_ids, substitute
from devfactory.notion.api import Idempotency, NotionAPI
from devfactory.notion.target import NotionSession, Target

__all__ = [
    "SCHEMA_TTL_S",
    "Database",
    "NotionWorkspace",
    "PageHit",
    "ToolFailure",
    "retrieve",
]

Json = dict[str, Any]

SCHEMA_TTL_S = 30.0  # a schema read is reused this long (a deploy may change it)
SCAN_FROM = 2  # more unknown related pages than this in one database: scan its titles
TITLE_LOOKUPS = 10  # at most this many related pages retrieved one by one per database
SCAN_PAGES = 10  # at most this many result pages (of 100) scanned for related titles


class ToolFailure(UserError):
    """A tool call that cannot go on; ``details`` (e.g. ``candidates``) go back with the
    message, as the is_error result's structured content."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


@dataclass
class Database:
    """A database by logical name: title, ids (None until deployed) and the spec's types."""

    key: str
    title: str
    description: str | None = None
    database_id: str | None = None
    data_source_id: str | None = None
    spec_types: dict[str, str] = field(default_factory=dict)

    @property
    def deployed(self) -> bool:
        """Whether the state knows its data source."""
        return self.data_source_id is not None


@dataclass(frozen=True)
class PageHit:
    """A page a name resolved to, with the page object as read."""

    id: str
    title: str
    database: str | None
    data_source_id: str | None
    page: Json

    def summary(self) -> Json:
        """Id, title and database: what a candidate list shows."""
        return {"id": self.id, "title": self.title, "database": self.database}


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")
    return slug or "untitled"


class NotionWorkspace:
    """Names, schemas and the ID cache over one Notion target; opens its session lazily."""

    def __init__(
        self, settings: Settings, spec: Path | None, env: str | None, target: Target
    ) -> None:
        self.target = target
        self.home = settings.home
        self.env = env
        if spec is not None and not spec.exists():
            raise UserError(f"{spec}: no such file")
        self.desired: DesiredWorkspace | None = load_workspace(spec, env)[1] if spec else None
        self.api = NotionAPI()
        self.titles: dict[str, str] = {}  # the ID cache: page id → title
        self.users: dict[str, Json] = {}  # user id → user (loaded once, when needed)
        self._session: NotionSession | None = None
        self._opening = anyio.Lock()
        self._states: tuple[tuple[Any, ...], list[State]] | None = None
        self._discovered: tuple[float, dict[str, Database]] | None = None
        self._schemas: dict[str, tuple[float, ObservedDatabase]] = {}

    # ------------------------------------------------------------------------ session

    async def session(self) -> NotionSession:
        """The open session (opened on first use, in the running event loop)."""
        if self._session is not None:
            return self._session
        async with self._opening:  # two first calls at once must not open two sessions
            if self._session is None:
                session = NotionSession(self.target)
                await session.__aenter__()
                self._session = session
            return self._session

    async def close(self) -> None:
        """Close the session, if one was opened."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.__aexit__(None, None, None)

    async def read(self, call: Callable[[Any], Awaitable[Any]], label: str) -> Json:
        """A read (``call(client)``), retried as the executor sees fit."""
        client = (await self.session()).client
        return await self.api.call(lambda: call(client), idempotency=Idempotency.SAFE, label=label)

    async def write(
        self,
        call: Callable[[Any], Awaitable[Any]],
        label: str,
        idempotency: Idempotency,
        resolve: Callable[[], Awaitable[Json | None]] | None = None,
    ) -> Json:
        """A write; ``UNSAFE`` ones are retried after an ambiguous failure only when
        ``resolve`` found nothing (without ``resolve``, not at all)."""
        client = (await self.session()).client
        return await self.api.call(
            lambda: call(client), idempotency=idempotency, resolve=resolve, label=label
        )

    async def results(
        self, method: Callable[[Any], Callable[..., Awaitable[Any]]], label: str,
        limit: int | None = None, **body: Any,
    ) -> tuple[list[Json], bool]:  # fmt: skip
        """Results of a paginated read, up to ``limit``; and whether more were left."""
        fn = method((await self.session()).client)
        found: list[Json] = []
        async for answer in self.api.pages(fn, label, **body):
            found.extend(answer.get("results", []))
            if limit is not None and len(found) >= limit:
                more = len(found) > limit or bool(answer.get("has_more"))
                return found[:limit], more
        return found, False

    # ------------------------------------------------------------------------ catalog

    def _load_states(self) -> list[State]:
        """The deploy states naming this workspace's databases (reread when they change)."""
        if self.desired is not None:
            files = [StateFile(self.home, self.desired.workspace, self.desired.environment)]
        else:
            files = []
            for path in sorted((self.home / "state").glob("*.json")):
                workspace, _, environment = path.name.removesuffix(".json").rpartition(".")
                if workspace and (self.env is None or environment == self.env):
                    files.append(StateFile(self.home, workspace, environment))
        stamp = tuple(
            (f.path, f.path.stat().st_mtime_ns if f.path.exists() else None) for f in files
        )
        if self._states is not None and self._states[0] == stamp:
            return self._states[1]
        states: list[State] = []
        for state_file in files:
            if self.desired is not None:
                states.append(state_file.load(self.target.label))
                continue
            try:
                states.append(state_file.load(self.target.label))
            except UserError:
                continue  # a state of another target: not this workspace's
        self._states = (stamp, states)
        return states

    async def catalog(self) -> dict[str, Database]:
        """Every database by logical name (spec order, or the states' order)."""
        states = self._load_states()
        known = {key: db for state in states for key, db in state.databases.items()}
        if self.desired is not None:
            return {
                key: Database(
                    key=key,
                    title=db.title,
                    description=db.description,
                    database_id=known[key].database_id if key in known else None,
                    data_source_id=known[key].data_source_id if key in known else None,
                    spec_types={name: p.type for name, p in db.properties.items()},
                )
                for key, db in self.desired.databases.items()
            }
        if known:
            return {
                key: Database(key, key, db.description, db.database_id, db.data_source_id)
                for key, db in known.items()
            }
        return await self._discover()

    async def _discover(self) -> dict[str, Database]:
        """No spec and no state: the data sources a search returns, named by their titles."""
        if self._discovered is not None and time.monotonic() - self._discovered[0] < SCHEMA_TTL_S:
            return self._discovered[1]
        found, _ = await self.results(
            lambda c: c.search,
            "search data sources",
            filter={"property": "object", "value": "data_source"},
        )
        databases: dict[str, Database] = {}
        for item in found:
            title = plain(item.get("title")) or "Untitled"
            key = _slug(title)
            while key in databases:
                key += "_"
            parent = item.get("parent", {})
            databases[key] = Database(key, title, None, parent.get("database_id"), item["id"])
        self._discovered = (time.monotonic(), databases)
        return databases

    async def database(self, name: str) -> Database:
        """The deployed database a name (logical name, title or id) means, or a clear error."""
        catalog = await self.catalog()
        db = catalog.get(name) or next(
            (d for d in catalog.values() if d.title.casefold() == name.strip().casefold()), None
        )
        if db is None and normalise_id(name):
            wanted = normalise_id(name)
            db = next(
                (d for d in catalog.values() if wanted in (d.data_source_id, d.database_id)),
                None,
            )
        if db is None:
            names = ", ".join(f"{k} ({d.title})" for k, d in catalog.items()) or "none"
            raise ToolFailure(f"unknown database {name!r}; databases: {names}")
        if not db.deployed:
            raise ToolFailure(
                f"database {db.key!r} is in the spec but not deployed to {self.target.label}: "
                "run `devfactory apply` first"
            )
        return db

    async def key_of(self, data_source_id: str | None) -> str | None:
        """The logical name of a data source id, if the catalog knows it."""
        if data_source_id is None:
            return None
        return next(
            (k for k, d in (await self.catalog()).items() if d.data_source_id == data_source_id),
            None,
        )

    async def schema(self, db: Database) -> ObservedDatabase:
        """The live schema of a database (read at most every :data:`SCHEMA_TTL_S`)."""
        assert db.data_source_id is not None
        cached = self._schemas.get(db.data_source_id)
        if cached is not None and time.monotonic() - cached[0] < SCHEMA_TTL_S:
            return cached[1]
        data_source_id = db.data_source_id
        data = await self.read(retrieve("data_sources", data_source_id), f"retrieve {db.key}")
        keys = {d.data_source_id: k for k, d in (await self.catalog()).items() if d.data_source_id}
        observed = observe_data_source(db.key, data, keys)
        self._schemas[data_source_id] = (time.monotonic(), observed)
        return observed

    async def schema_of_page(self, hit: PageHit) -> ObservedDatabase:
        """The schema a page's properties follow: its database's, or a plain page's title."""
        if hit.data_source_id is None:
            title = ObservedProperty(id="title", name="title", type="title", config={})
            return ObservedDatabase(
                key="", database_id="", data_source_id="", title=hit.title or "the page",
                icon=None, in_trash=False, properties={"title": title},
            )  # fmt: skip
        key = hit.database or f"ds:{hit.data_source_id}"
        db = (await self.catalog()).get(key) or Database(key, key, None, None, hit.data_source_id)
        return await self.schema(db)

    async def data_source_for(self, key: str) -> str | None:
        """The data source id a relation target (logical name or ``ds:<id>``) names."""
        if key.startswith("ds:"):
            return key[3:]
        db = (await self.catalog()).get(key)
        return db.data_source_id if db is not None else None

    # ------------------------------------------------------------------------ pages

    def remember(self, page: Mapping[str, Any]) -> None:
        """Put a page's title in the ID cache."""
        if page.get("object", "page") == "page" and "id" in page:
            self.titles[str(page["id"])] = _page_title(page)

    async def hit(self, page: Json) -> PageHit:
        """A page object as a :class:`PageHit` (remembering its title)."""
        self.remember(page)
        parent = page.get("parent", {})
        data_source_id = parent.get("data_source_id")
        return PageHit(
            id=str(page["id"]),
            title=_page_title(page),
            database=await self.key_of(data_source_id),
            data_source_id=data_source_id,
            page=page,
        )

    async def pages_titled(self, data_source_id: str, titles: list[str]) -> dict[str, list[Json]]:
        """Every (non-trashed) page of a data source with each of these exact titles."""
        found: dict[str, list[Json]] = {t: [] for t in titles}
        for start in range(0, len(titles), 100):
            chunk = titles[start : start + 100]
            flt: Json = {"or": [{"property": "title", "title": {"equals": t}} for t in chunk]}
            if len(chunk) == 1:
                flt = flt["or"][0]
            rows, _ = await self.results(
                lambda c: partial(c.data_sources.query, data_source_id),
                "find pages by title",
                filter=flt,
            )
            for row in rows:
                self.remember(row)
                title = row_title(row)
                if title in found:
                    found[title].append(row)
        return found

    async def find_pages(self, page: str, database: str | None = None) -> list[PageHit]:
        """Every page ``page`` (an id, a Notion URL or an exact title) may mean.

        A title is looked up in ``database`` when given, else in every deployed database and
        among pages outside databases (a search, filtered to the exact title). With
        ``database``, a page given by id must be a row of it."""
        page_id = normalise_id(page)
        if page_id is not None:
            try:
                found = await self.read(retrieve("pages", page_id), "retrieve page")
            except NotionError as exc:
                if exc.status in (400, 404):
                    return []
                raise
            hit = await self.hit(found)
            if database is not None:
                # ``database`` scopes the call (the gateway grants access per database)
                scope = await self.database(database)
                if hit.data_source_id != scope.data_source_id:
                    return []
            return [hit]
        title = page.strip()
        if not title:
            raise ToolFailure("give a page id or title")
        if database is not None:
            scopes = [await self.database(database)]
        else:
            scopes = [d for d in (await self.catalog()).values() if d.deployed]
        hits: dict[str, PageHit] = {}
        for db in scopes:
            assert db.data_source_id is not None
            for row in (await self.pages_titled(db.data_source_id, [title]))[title]:
                hits[row["id"]] = await self.hit(row)
        if database is None:
            for item in await self._search_pages(title):
                if item["id"] not in hits and _page_title(item) == title:
                    hits[item["id"]] = await self.hit(item)
        return list(hits.values())

    async def _search_pages(self, title: str) -> list[Json]:
        found, _ = await self.results(
            lambda c: c.search,
            "search pages",
            limit=100,
            query=title,
            filter={"property": "object", "value": "page"},
        )
        return [p for p in found if not p.get("in_trash", p.get("archived", False))]

    async def resolve_page(self, page: str, database: str | None = None) -> PageHit:
        """The one page ``page`` means; a :class:`ToolFailure` when none or several match
        (the several as ``candidates``, for the agent to choose by id)."""
        hits = await self.find_pages(page, database)
        where = f" in {database}" if database else ""
        if not hits:
            raise ToolFailure(f"no page {page!r}{where}", matches=0)
        if len(hits) > 1:
            candidates = [h.summary() for h in hits]
            lines = "\n".join(
                f"- {c['id']}  {c['title']!r}  ({c['database'] or 'page'})" for c in candidates
            )
            raise ToolFailure(
                f"{page!r} matches {len(hits)} pages{where}; not choosing one. "
                f"Give the page id of the one you mean:\n{lines}",
                matches=len(hits),
                candidates=candidates,
            )
        return hits[0]

    # ------------------------------------------------------------------------ references

    async def resolve_references(self, payload: Any) -> tuple[Any, list[str]]:
        """``payload`` with its ``$ref`` placeholders (related pages by title, people by
        name) replaced by ids; and a message for each that matches none or several."""
        ids: dict[str, str] = {}
        errors: list[str] = []
        rows: dict[str, list[Json]] = {}
        for placeholder in references(payload):
            if placeholder["$ref"] == "row":
                rows.setdefault(str(placeholder["db"]), []).append(placeholder)
            elif placeholder["$ref"] == "person":
                user_id, error = await self._user_id(str(placeholder["name"]))
                if user_id is not None:
                    ids[ref_key(placeholder)] = user_id
                if error is not None:
                    errors.append(error)
        for target, wanted in rows.items():
            data_source_id = await self.data_source_for(target)
            if data_source_id is None:
                errors.append(f"the related database {target!r} is not deployed")
                continue
            titles = [str(p["title"]) for p in wanted]
            found = await self.pages_titled(data_source_id, titles)
            for placeholder in wanted:
                title = str(placeholder["title"])
                matches = found.get(title, [])
                if len(matches) == 1:
                    ids[ref_key(placeholder)] = str(matches[0]["id"])
                elif not matches:
                    errors.append(f"no page titled {title!r} in {target}")
                else:
                    listed = ", ".join(str(m["id"]) for m in matches)
                    errors.append(
                        f"{title!r} matches {len(matches)} pages in {target} ({listed}); "
                        "give the page id"
                    )
        return substitute(payload, ids), errors

    async def load_users(self) -> dict[str, Json]:
        """The workspace's users by id (read once)."""
        if not self.users:
            found, _ = await self.results(lambda c: c.users.list, "list users")
            self.users = {str(u["id"]): u for u in found}
        return self.users

    async def _user_id(self, name: str) -> tuple[str | None, str | None]:
        wanted = name.casefold()
        users = await self.load_users()
        matches = [
            uid
            for uid, u in users.items()
            if wanted
            in (
                str(u.get("name") or "").casefold(),
                str((u.get("person") or {}).get("email") or "").casefold(),
            )
        ]
        if len(matches) == 1:
            return matches[0], None
        if not matches:
            return None, f"no user named {name!r}"
        return None, f"{name!r} names {len(matches)} users ({', '.join(matches)}); give the id"

    async def user_names(self) -> dict[str, str]:
        """User names by id, for showing people."""
        return {uid: str(u.get("name") or uid) for uid, u in (await self.load_users()).items()}

    async def learn_related_titles(self, pages: list[Json]) -> None:
        """Put the titles of the pages these pages relate to in the ID cache: one or two by
        retrieving them, more by scanning their database's titles (at most
        :data:`SCAN_PAGES` result pages, then :data:`TITLE_LOOKUPS` retrieves); the rest
        show as ids."""
        wanted: dict[str, set[str]] = {}
        for page in pages:
            unknown = [(n, i) for n, i in related_ids(page) if i not in self.titles]
            if not unknown:
                continue
            data_source_id = page.get("parent", {}).get("data_source_id")
            key = await self.key_of(data_source_id) or f"ds:{data_source_id}"
            hit = PageHit(str(page["id"]), "", key, data_source_id, page)
            schema = await self.schema_of_page(hit) if data_source_id else None
            for name, page_id in unknown:
                prop = schema.named(name) if schema is not None else None
                target = str(prop.config.get("to", "")) if prop is not None else ""
                target_ds = await self.data_source_for(target) if target else None
                wanted.setdefault(target_ds or "", set()).add(page_id)
        for data_source_id, page_ids in wanted.items():
            if data_source_id and len(page_ids) > SCAN_FROM:
                await self._scan_titles(data_source_id, page_ids)
            for page_id in sorted(page_ids - self.titles.keys())[:TITLE_LOOKUPS]:
                try:
                    self.remember(await self.read(retrieve("pages", page_id), "retrieve page"))
                except NotionError:
                    continue  # not shared, or gone: it shows as its id

    async def _scan_titles(self, data_source_id: str, page_ids: set[str]) -> None:
        client = (await self.session()).client
        fn = partial(client.data_sources.query, data_source_id, filter_properties=["title"])
        scanned = 0
        async for answer in self.api.pages(fn, "read titles"):
            for row in answer.get("results", []):
                self.remember(row)
            scanned += 1
            if scanned >= SCAN_PAGES or page_ids <= self.titles.keys():
                return


def retrieve(endpoint: str, object_id: str) -> Callable[[Any], Awaitable[Any]]:
    """A read of one object (``retrieve("pages", id)``) for :meth:`NotionWorkspace.read`."""
    return lambda client: getattr(client, endpoint).retrieve(object_id)


def _page_title(page: Mapping[str, Any]) -> str:
    return row_title(dict(page))
