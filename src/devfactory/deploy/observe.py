"""Read what a workspace has, normalised to the shape the desired state has.

Observation reads as little as it can: the parent (or root) page, and one ``retrieve`` per
data source the state knows — so an apply with nothing to do makes at most *data sources +
1* reads. Only what the state does not know costs more: listing the parent page to adopt
databases that already exist under the spec's titles, and looking seed rows up by title.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from devfactory.deploy.desired import DesiredWorkspace, root_title
from devfactory.deploy.state import State
from devfactory.errors import NotionError, TargetError
from devfactory.notion.api import Idempotency, NotionAPI
from devfactory.notion.target import NotionSession

__all__ = [
    "Observation",
    "ObservedDatabase",
    "ObservedProperty",
    "named_expression",
    "normalise_expression",
    "observe",
    "observe_data_source",
    "plain",
    "row_title",
]

Json = dict[str, Any]
_TOKEN = re.compile(r"\{\{notion:block_property:([^:}]+):[^}]*\}\}")


@dataclass(frozen=True)
class ObservedProperty:
    """A property as Notion has it, with its id."""

    id: str
    name: str
    type: str
    config: Json
    description: str | None = None


@dataclass
class ObservedDatabase:
    """A database and its (first) data source as Notion has them."""

    key: str
    database_id: str
    data_source_id: str
    title: str
    icon: str | None
    in_trash: bool
    properties: dict[str, ObservedProperty]

    def named(self, name: str) -> ObservedProperty | None:
        """The property with this name, if any."""
        return next((p for p in self.properties.values() if p.name == name), None)

    @property
    def title_property(self) -> ObservedProperty | None:
        """The title property."""
        return next((p for p in self.properties.values() if p.type == "title"), None)


@dataclass
class Observation:
    """What an observation found."""

    parent_page_id: str | None = None
    root_page_id: str | None = None
    root_in_trash: bool = False
    databases: dict[str, ObservedDatabase] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    missing_data_sources: set[str] = field(default_factory=set)
    adopted: set[str] = field(default_factory=set)
    rows: dict[str, dict[str, str]] = field(default_factory=dict)
    root_adopted: bool = False


def plain(items: list[Json] | None) -> str:
    """Plain text of rich text."""
    return "".join(
        str(i.get("plain_text", i.get("text", {}).get("content", ""))) for i in items or []
    )


def _icon(icon: Json | None) -> str | None:
    if not icon:
        return None
    if icon.get("type") == "emoji":
        return str(icon.get("emoji"))
    body = icon.get(icon.get("type", ""), {})
    return str(body.get("url")) if isinstance(body, dict) and body.get("url") else None


def named_expression(expression: str, names_by_id: dict[str, str]) -> str:
    """A formula as people write it: Notion's ``{{notion:block_property:ID:…}}`` tokens become
    ``prop("Name")`` (quotes and backslashes in the name escaped)."""

    def name(match: re.Match[str]) -> str:
        found = names_by_id.get(match.group(1), match.group(1))
        return 'prop("' + found.replace("\\", "\\\\").replace('"', '\\"') + '")'

    return _TOKEN.sub(name, expression)


def normalise_expression(expression: str, names_by_id: dict[str, str]) -> str:
    """A formula expression in comparable form: tokens named (:func:`named_expression`), and
    whitespace does not count."""
    return re.sub(r"\s+", "", named_expression(expression, names_by_id))


def row_title(row: Json) -> str:
    """The plain text of a page's title property ("" when it has none)."""
    return next(
        (
            plain(p.get("title"))
            for p in row.get("properties", {}).values()
            if p.get("type") == "title"
        ),
        "",
    )


def _config(kind: str, body: Json, keys: dict[str, str], names_by_id: dict[str, str]) -> Json:
    if kind == "number":
        return {"format": body.get("format", "number")}
    if kind in ("select", "multi_select"):
        return {
            "options": [
                {
                    "id": o.get("id"),
                    "name": o["name"],
                    "color": o.get("color"),
                    "description": o.get("description"),
                }
                for o in body.get("options", [])
            ]
        }
    if kind == "status":
        return {"options": [o["name"] for o in body.get("options", [])]}
    if kind == "formula":
        return {"expression": body.get("expression", "")}
    if kind == "relation":
        ds_id = body.get("data_source_id", "")
        dual = body.get("type") == "dual_property"
        synced = body.get("dual_property", {}) if dual else {}
        return {
            "to": keys.get(ds_id, f"ds:{ds_id}"),
            "dual": dual,
            "synced_as": synced.get("synced_property_name"),
            "synced_id": synced.get("synced_property_id"),
        }
    if kind == "rollup":
        return {
            "relation": body.get("relation_property_name"),
            "property": body.get("rollup_property_name"),
            "function": body.get("function"),
        }
    if kind == "unique_id":
        return {"prefix": body.get("prefix")}
    return {}


def observe_data_source(key: str, data: Json, keys: dict[str, str]) -> ObservedDatabase:
    """An observed database from a data source object; ``keys`` maps the data source ids of
    every database found to its logical key (relation targets are named by key)."""
    props = data.get("properties", {})
    names_by_id = {p["id"]: name for name, p in props.items()}
    properties = {}
    for name, prop in props.items():
        kind = prop.get("type", "")
        properties[prop["id"]] = ObservedProperty(
            id=prop["id"],
            name=name,
            type=kind,
            config=_config(kind, prop.get(kind, {}) or {}, keys, names_by_id),
            description=prop.get("description") or None,
        )
    return ObservedDatabase(
        key=key,
        database_id=str(data.get("parent", {}).get("database_id", "")),
        data_source_id=str(data["id"]),
        title=plain(data.get("title")),
        icon=_icon(data.get("icon")),
        in_trash=bool(data.get("in_trash", data.get("archived", False))),
        properties=properties,
    )


async def _maybe(api: NotionAPI, fn: Callable[[], Awaitable[Any]], label: str) -> Json | None:
    """A read that answers None for 404 (gone, or not shared)."""
    try:
        result: Json = await api.call(fn, idempotency=Idempotency.SAFE, label=label)
        return result
    except NotionError as exc:
        if exc.status == 404:
            return None
        raise


async def _children(api: NotionAPI, session: NotionSession, block_id: str) -> list[Json]:
    return await api.results(
        partial(session.client.blocks.children.list, block_id), "list children"
    )


async def find_root_page(api: NotionAPI, session: NotionSession, title: str) -> Json | None:
    """A workspace-level page with exactly this title (the root devfactory made earlier)."""
    found = await api.call(
        lambda: session.client.search(
            query=title, filter={"property": "object", "value": "page"}, page_size=100
        ),
        idempotency=Idempotency.SAFE,
        label="search root page",
    )
    for page in found.get("results", []):
        title_items = page.get("properties", {}).get("title", {}).get("title", [])
        if (
            page.get("parent", {}).get("type") == "workspace"
            and plain(title_items) == title
            and not page.get("in_trash", page.get("archived", False))
        ):
            return dict(page)
    return None


async def find_database_under(
    api: NotionAPI, session: NotionSession, parent_id: str, title: str, exclude: set[str]
) -> Json | None:
    """A database with this title directly under a page (for adoption and create lookups)."""
    for block in await _children(api, session, parent_id):
        if (
            block.get("type") == "child_database"
            and block["child_database"].get("title") == title
            and block["id"] not in exclude
        ):
            return await api.call(
                partial(session.client.databases.retrieve, block["id"]),
                idempotency=Idempotency.SAFE,
                label="retrieve database",
            )
    return None


async def find_rows(
    api: NotionAPI, session: NotionSession, data_source_id: str, titles: list[str]
) -> dict[str, str]:
    """Page ids of rows with these titles (first created wins), 100 titles per query."""
    found: dict[str, str] = {}
    for start in range(0, len(titles), 100):
        chunk = titles[start : start + 100]
        flt = {"or": [{"property": "title", "title": {"equals": t}} for t in chunk]}
        query = partial(session.client.data_sources.query, data_source_id)
        for row in await api.results(query, "find rows", filter=flt):
            found.setdefault(row_title(row), row["id"])
    return found


async def observe(
    ws: DesiredWorkspace, state: State, session: NotionSession, api: NotionAPI
) -> Observation:
    """Read the parent, the known data sources, and what is needed to adopt the rest."""
    seen = Observation()
    client = session.client
    if ws.parent_page_id:
        page = await _maybe(
            api, partial(client.pages.retrieve, ws.parent_page_id), "retrieve parent page"
        )
        if page is None:
            raise TargetError(
                f"parent page {ws.parent_page_id} was not found: check the id and share the page with the integration"
            )
        seen.parent_page_id = page["id"]
    else:
        if state.root_page_id:
            page = await _maybe(
                api, partial(client.pages.retrieve, state.root_page_id), "retrieve root page"
            )
            if page is not None:
                seen.root_page_id = page["id"]
                seen.root_in_trash = bool(page.get("in_trash", page.get("archived", False)))
        if seen.root_page_id is None:
            if not session.target.creates_root_pages:
                raise TargetError(
                    "the spec names no parent page, and this target cannot make workspace-level pages: "
                    "add `parent: {page_id: …}` with a page shared with the integration"
                )
            found = await find_root_page(api, session, root_title(ws.workspace, ws.environment))
            if found is not None:
                seen.root_page_id = found["id"]
                seen.root_adopted = True
        seen.parent_page_id = seen.root_page_id
    raw: dict[str, Json] = {}
    for key, known in state.databases.items():
        data = await _maybe(
            api, partial(client.data_sources.retrieve, known.data_source_id), f"retrieve {key}"
        )
        if data is None:
            seen.missing.add(key)
            seen.missing_data_sources.add(known.data_source_id)
        else:
            raw[key] = data
    unknown = [k for k in ws.databases if k not in raw]
    if unknown and seen.parent_page_id and not seen.root_in_trash:
        claimed = {str(data.get("parent", {}).get("database_id")) for data in raw.values()}
        children = await _children(api, session, seen.parent_page_id)
        titles = {
            b["child_database"].get("title"): b["id"]
            for b in reversed(children)
            if b.get("type") == "child_database" and b["id"] not in claimed
        }
        for key in unknown:
            database_id = titles.get(ws.databases[key].title)
            if database_id is None or key in seen.missing:
                continue
            db = await api.call(
                partial(client.databases.retrieve, database_id),
                idempotency=Idempotency.SAFE,
                label="retrieve database",
            )
            sources = db.get("data_sources", [])
            if not sources:
                continue
            data = await api.call(
                partial(client.data_sources.retrieve, sources[0]["id"]),
                idempotency=Idempotency.SAFE,
                label=f"retrieve {key}",
            )
            raw[key] = data
            seen.adopted.add(key)
            claimed.add(database_id)
    keys = {str(data["id"]): key for key, data in raw.items()}
    for key, data in raw.items():
        seen.databases[key] = observe_data_source(key, data, keys)
    for key, wanted_db in ws.databases.items():
        known_rows = (
            state.databases[key].rows if key in state.databases and key not in seen.missing else {}
        )
        title_prop = wanted_db.title_property
        wanted = [
            str(row.get(title_prop, ""))
            for row in wanted_db.rows
            if str(row.get(title_prop, "")) not in known_rows
        ]
        if wanted and key in seen.databases:
            seen.rows[key] = await find_rows(
                api, session, seen.databases[key].data_source_id, wanted
            )
    return seen
