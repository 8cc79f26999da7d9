"""devfactory's MCP Notion server: the workspace in its own terms.

``devfactory mcp notion [--spec SPEC] [--env E] [--target URL]`` serves these tools over
stdio (and the gateway hosts the same server in its process):

==================  ==========================================================  ===========
tool                what                                                         annotations
==================  ==========================================================  ===========
list_databases      logical names, titles, property types                        read-only
describe_database   one database's properties, options and the values each takes  read-only
query               rows matching a friendly or raw filter, as plain values      read-only
get_page            one page (id, URL or title) with its properties and content  read-only
search              pages and databases whose title matches a text                read-only
create_page         a row from plain values (relations by title), optional body  write
update_page         change some values of a page                                 write
append_content      markdown appended as blocks                                  write
trash_page          move a page to Notion's trash (restorable)                   destructive
==================  ==========================================================  ===========

Databases are named as the spec names them (``clients``), rows by title or id. A title that
names several pages is never guessed: the call fails and lists the candidates. Before a call
runs, the gateway's confidence gate may ask :meth:`NotionTools.assess` what it would touch —
how many pages a title matches, how many rows a trash takes along, which values do not fit
the schema. See docs/mcp-notion.md.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from devfactory.config import Settings
from devfactory.deploy.observe import ObservedDatabase, plain
from devfactory.emulator.markdown import blocks_to_markdown
from devfactory.errors import DevfactoryError, NotionError
from devfactory.mcp.filters import FilterError, build_filter, build_sorts
from devfactory.mcp.hosted import HostedServer
from devfactory.mcp.markdown import count_blocks, markdown_to_blocks
from devfactory.mcp.values import (
    READ_ONLY_TYPES,
    VALUE_HINTS,
    convert_values,
    option_names,
    plain_properties,
)
from devfactory.mcp.workspace import NotionWorkspace, PageHit, ToolFailure, retrieve
from devfactory.notion.api import Idempotency
from devfactory.notion.target import resolve_target

__all__ = ["NotionTools", "build_server", "hosted"]

Json = dict[str, Any]

BLOCKS_PER_REQUEST = 100  # top-level blocks in one append
BLOCKS_PER_BODY = 1000  # blocks, children included, in one request
TARGETED = frozenset(["get_page", "update_page", "append_content", "trash_page"])

INSTRUCTIONS = """\
A Notion workspace, in its own terms. Start with list_databases, then describe_database to see
each property's type, options and the plain value it takes. Name databases by their logical
name (e.g. "clients") and pages by id or exact title. Filters are friendly ({"Status":
"Active"}, {"Budget": {">": 1000}}, {"Tags": ["a", "b"]} for any of) or Notion's own JSON.
Values are plain: text, numbers, option names, ISO dates, related rows by title. A title that
matches several pages is refused with the candidates: call again with the page id."""


def hosted(
    settings: Settings, spec: Path | None, env: str | None, target: str | None
) -> HostedServer:
    """The Notion server for the target the settings and ``--target`` select, named by the
    spec (or the deploy states, or what a search finds); with its pre-call assessment."""
    workspace = NotionWorkspace(settings, spec, env, resolve_target(settings, target))
    tools = NotionTools(workspace)
    return HostedServer("notion", build_server(tools), assess=tools.assess, close=workspace.close)


# ---------------------------------------------------------------------------- the tools


def _parse_object(value: Json | str | None, what: str) -> Json | None:
    """An object argument an agent may also send as JSON text."""
    if value is None or isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ToolFailure(f"{what}: not a JSON object ({exc})") from exc
    if not isinstance(parsed, dict):
        raise ToolFailure(f"{what}: give an object, not {type(parsed).__name__}")
    return parsed


def _chunks(blocks: list[Json]) -> list[list[Json]]:
    """Blocks in request-sized groups (100 top-level, 1,000 in all)."""
    groups: list[list[Json]] = []
    size = 0
    for block in blocks:
        weight = count_blocks([block])
        if not groups or len(groups[-1]) >= BLOCKS_PER_REQUEST or size + weight > BLOCKS_PER_BODY:
            groups.append([])
            size = 0
        groups[-1].append(block)
        size += weight
    return groups


class NotionTools:
    """The tools' bodies over a :class:`NotionWorkspace`; each returns plain JSON or raises
    :class:`ToolFailure` (or a :class:`~devfactory.errors.NotionError`)."""

    def __init__(self, workspace: NotionWorkspace) -> None:
        self.ws = workspace

    # ------------------------------------------------------------------------ reads

    async def list_databases(self) -> Json:
        """Every database: logical name, title, description, whether deployed, property types."""
        out = []
        for key, db in (await self.ws.catalog()).items():
            types = db.spec_types
            if not types and db.deployed:
                schema = await self.ws.schema(db)
                db.title = schema.title or db.title
                types = {p.name: p.type for p in schema.properties.values()}
            out.append(
                {
                    "name": key,
                    "title": db.title,
                    "description": db.description,
                    "deployed": db.deployed,
                    "properties": types,
                }
            )
        return {"target": self.ws.target.label, "databases": out}

    async def describe_database(self, database: str) -> Json:
        """One database's live schema, with what each property's plain value looks like."""
        db = await self.ws.database(database)
        schema = await self.ws.schema(db)
        properties: Json = {}
        for prop in schema.properties.values():
            entry: Json = {"type": prop.type}
            options = option_names(prop)
            if options is not None:
                entry["options"] = options
            config = prop.config
            if prop.type == "relation":
                entry["to"] = config.get("to")
            elif prop.type == "number":
                entry["format"] = config.get("format")
            elif prop.type == "formula":
                entry["expression"] = config.get("expression")
            elif prop.type == "rollup":
                entry["rollup"] = (
                    f"{config.get('function')} of {config.get('relation')}.{config.get('property')}"
                )
            elif prop.type == "unique_id" and config.get("prefix"):
                entry["prefix"] = config["prefix"]
            if prop.type in READ_ONLY_TYPES:
                entry["read_only"] = True
            else:
                entry["value"] = VALUE_HINTS.get(prop.type, "not writable here")
            if prop.description:
                entry["description"] = prop.description
            properties[prop.name] = entry
        title_prop = schema.title_property
        return {
            "name": db.key,
            "title": schema.title or db.title,
            "description": db.description,
            "database_id": db.database_id,
            "data_source_id": db.data_source_id,
            "title_property": title_prop.name if title_prop else None,
            "properties": properties,
        }

    async def query(self, database: str, filter: Json | str | None, sorts: Any, limit: int) -> Json:
        """Rows of a database matching a filter, as plain values."""
        db = await self.ws.database(database)
        assert db.data_source_id is not None
        schema = await self.ws.schema(db)
        body = await self._query_body(schema, filter, sorts)
        data_source_id = db.data_source_id
        rows, more = await self.ws.results(
            lambda c: partial(c.data_sources.query, data_source_id), f"query {db.key}",
            limit=limit, **body,
        )  # fmt: skip
        return {
            "database": db.key,
            "count": len(rows),
            "has_more": more,
            "results": await self._rows(rows),
        }

    async def _query_body(self, schema: ObservedDatabase, filter: Any, sorts: Any) -> Json:
        body: Json = {}
        spec = _parse_object(filter, "filter")
        try:
            if spec:
                built, errors = await self.ws.resolve_references(build_filter(schema, spec))
                if errors:
                    raise ToolFailure("filter: " + "; ".join(errors), validation_errors=errors)
                body["filter"] = built
            if sorts:
                body["sorts"] = build_sorts(schema, sorts)
        except FilterError as exc:
            raise ToolFailure(str(exc), validation_errors=[str(exc)]) from exc
        return body

    async def get_page(self, page: str, database: str | None, content: bool) -> Json:
        """One page: properties as plain values and (by default) its content as markdown."""
        hit = await self.ws.resolve_page(page, database)
        (out,) = await self._rows([hit.page])
        if content:
            blocks, more = await self.ws.results(
                lambda c: partial(c.blocks.children.list, hit.id), "read content", limit=500
            )
            out["content"], _ = blocks_to_markdown(blocks)
            if more:
                out["content_truncated"] = True
        return out

    async def search(self, query: str, limit: int) -> Json:
        """Pages and databases whose title matches ``query`` (Notion's search)."""
        found, more = await self.ws.results(lambda c: c.search, "search", limit=limit, query=query)
        results = []
        for item in found:
            if item.get("object") == "data_source":
                results.append(
                    {
                        "object": "database",
                        "id": item["id"],
                        "title": plain(item.get("title")),
                        "database": await self.ws.key_of(item["id"]),
                    }
                )
                continue
            hit = await self.ws.hit(item)
            results.append(
                {
                    "object": "page",
                    "id": hit.id,
                    "title": hit.title,
                    "database": hit.database,
                    "url": item.get("url"),
                }
            )
        return {"query": query, "count": len(results), "has_more": more, "results": results}

    # ------------------------------------------------------------------------ writes

    async def create_page(self, database: str, values: Json | str, content: str | None) -> Json:
        """A new row from plain values (and an optional markdown body)."""
        db = await self.ws.database(database)
        assert db.data_source_id is not None
        schema = await self.ws.schema(db)
        properties = await self._properties(schema, _parse_object(values, "values") or {})
        blocks = markdown_to_blocks(content) if content else []
        groups = _chunks(blocks)
        body: Json = {
            "parent": {"type": "data_source_id", "data_source_id": db.data_source_id},
            "properties": properties,
        }
        if groups:
            body["children"] = groups.pop(0)
        title_prop = schema.title_property
        title = plain(properties.get(title_prop.name, {}).get("title")) if title_prop else ""
        page = await self.ws.write(
            lambda c: c.pages.create(**body),
            f"create page in {db.key}",
            Idempotency.UNSAFE,
            resolve=self._created_lookup(db.data_source_id, title) if title else None,
        )
        for group in groups:
            await self._append(page["id"], group)
        return {"created": (await self._rows([page]))[0]}

    def _created_lookup(
        self, data_source_id: str, title: str
    ) -> Callable[[], Awaitable[Json | None]]:
        """Did a create whose answer was lost happen? A page with its title made since."""
        since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

        async def lookup() -> Json | None:
            flt = {
                "and": [
                    {"property": "title", "title": {"equals": title}},
                    {"timestamp": "created_time", "created_time": {"on_or_after": since}},
                ]
            }
            rows, _ = await self.ws.results(
                lambda c: partial(c.data_sources.query, data_source_id), "find created page",
                limit=1, filter=flt,
                sorts=[{"timestamp": "created_time", "direction": "descending"}],
            )  # fmt: skip
            return rows[0] if rows else None

        return lookup

    async def update_page(self, page: str, values: Json | str, database: str | None) -> Json:
        """Change some properties of one page (the others stay as they are)."""
        plain_values = _parse_object(values, "values") or {}
        if not plain_values:
            raise ToolFailure("values: give at least one property to change")
        hit = await self.ws.resolve_page(page, database)
        properties = await self._properties(await self.ws.schema_of_page(hit), plain_values)
        updated = await self.ws.write(
            lambda c: c.pages.update(hit.id, properties=properties),
            "update page",
            Idempotency.IDEMPOTENT,
        )
        return {"updated": (await self._rows([updated]))[0]}

    async def append_content(self, page: str, markdown: str, database: str | None) -> Json:
        """Markdown appended to a page as blocks."""
        blocks = markdown_to_blocks(markdown)
        if not blocks:
            raise ToolFailure("markdown: nothing to append (the text is blank)")
        hit = await self.ws.resolve_page(page, database)
        added: list[str] = []
        for group in _chunks(blocks):
            answer = await self._append(hit.id, group)
            added.extend(str(b["id"]) for b in answer.get("results", [])[-len(group) :])
        return {
            "page": hit.summary(),
            "blocks_added": count_blocks(blocks),
            "types": [b["type"] for b in blocks],
            "block_ids": added,
        }

    async def _append(self, block_id: str, group: list[Json]) -> Json:
        # an append is not idempotent: after an ambiguous failure it is not tried again
        return await self.ws.write(
            lambda c: c.blocks.children.append(block_id=block_id, children=group),
            "append content",
            Idempotency.UNSAFE,
        )

    async def trash_page(self, page: str, database: str | None) -> Json:
        """Move one page to Notion's trash (it can be restored from there)."""
        hit = await self.ws.resolve_page(page, database)
        await self.ws.write(
            lambda c: c.pages.update(hit.id, in_trash=True), "trash page", Idempotency.IDEMPOTENT
        )
        return {"trashed": hit.summary(), "restore": "restore it from Notion's trash"}

    # ------------------------------------------------------------------------ helpers

    async def _properties(self, schema: ObservedDatabase, values: Json) -> Json:
        """Notion property values for plain ones; every problem in one failure."""
        converted = convert_values(schema, values)
        errors = converted.errors
        properties: Json = {}
        if not errors:
            properties, errors = await self.ws.resolve_references(converted.properties)
        if errors:
            listed = "\n".join(f"- {e}" for e in errors)
            raise ToolFailure(
                f"values do not fit {schema.title or 'the page'}:\n{listed}",
                validation_errors=errors,
            )
        return properties

    async def _rows(self, pages: list[Json]) -> list[Json]:
        """Pages as plain rows, after learning the titles of the pages they relate to (and,
        when people are in them, the users' names)."""
        await self.ws.learn_related_titles(pages)
        users = await self.ws.user_names() if any(map(_has_people, pages)) else {}
        out = []
        for page in pages:
            hit = await self.ws.hit(page)
            row: Json = {
                "id": hit.id,
                "title": hit.title,
                "database": hit.database,
                "url": page.get("url"),
                "properties": plain_properties(page, self.ws.titles, users),
            }
            if page.get("in_trash"):
                row["in_trash"] = True
            out.append(row)
        return out

    # ------------------------------------------------------------------------ the gate

    async def assess(self, tool: str, arguments: Mapping[str, Any]) -> Json:
        """What a call would touch, for the confidence gate; reads only, never writes.

        ``matches`` (and ``candidates`` when several) for a page named by title or id;
        ``affected`` for ``trash_page`` (the page, its child pages and the rows of databases
        inside it); ``validation_errors`` for values or filters that do not fit the schema,
        and for an unknown database or property.
        """
        name = tool.rsplit("__", 1)[-1]
        args = dict(arguments)
        context: Json = {}
        errors: list[str] = []
        try:
            hits: list[PageHit] = []
            if name in TARGETED and isinstance(args.get("page"), str):
                hits = await self.ws.find_pages(args["page"], args.get("database"))
                context["matches"] = len(hits)
                if len(hits) > 1:
                    context["candidates"] = [h.summary() for h in hits]
            if name == "trash_page" and len(hits) <= 1:
                context["affected"] = await self._affected(hits[0]) if hits else 0
            if name == "create_page" and isinstance(args.get("database"), str):
                db = await self.ws.database(args["database"])
                errors += await self._value_errors(await self.ws.schema(db), args.get("values"))
            if name == "update_page" and hits:
                schemas = {h.data_source_id for h in hits}
                if len(schemas) == 1:
                    schema = await self.ws.schema_of_page(hits[0])
                    errors += await self._value_errors(schema, args.get("values"))
            if name == "query" and isinstance(args.get("database"), str):
                db = await self.ws.database(args["database"])
                await self._query_body(
                    await self.ws.schema(db), args.get("filter"), args.get("sorts")
                )
            if name == "describe_database" and isinstance(args.get("database"), str):
                await self.ws.database(args["database"])
        except ToolFailure as exc:
            errors += exc.details.get("validation_errors") or [str(exc)]
        except NotionError as exc:
            context["notion_error"] = f"{exc.status} {exc.code}: {exc.message}"
        if errors:
            context["validation_errors"] = errors
        return context

    async def _value_errors(self, schema: ObservedDatabase, values: Any) -> list[str]:
        try:
            await self._properties(schema, _parse_object(values, "values") or {})
        except ToolFailure as exc:
            return list(exc.details.get("validation_errors") or [str(exc)])
        return []

    async def _affected(self, hit: PageHit) -> int:
        """The page, its child pages, and the rows of the databases directly inside it."""
        blocks, _ = await self.ws.results(
            lambda c: partial(c.blocks.children.list, hit.id), "list children"
        )
        count = 1
        for block in blocks:
            if block.get("type") == "child_page":
                count += 1
            elif block.get("type") == "child_database":
                database = await self.ws.read(
                    retrieve("databases", block["id"]), "retrieve database"
                )
                for source in database.get("data_sources", []):
                    count += await self._count_rows(str(source["id"]))
        return count

    async def _count_rows(self, data_source_id: str) -> int:
        rows, _ = await self.ws.results(
            lambda c: partial(c.data_sources.query, data_source_id, filter_properties=["title"]),
            "count rows",
        )
        return len(rows)


def _has_people(page: Json) -> bool:
    return any(
        v.get("type") in ("people", "created_by", "last_edited_by")
        for v in page.get("properties", {}).values()
    )


# ---------------------------------------------------------------------------- the server

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
UPDATE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
DESTROY = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)

DatabaseArg = Annotated[
    str, Field(description='Logical database name from list_databases (e.g. "clients").')
]
PageArg = Annotated[str, Field(description="A page id (or Notion URL), or the page's exact title.")]
ScopeArg = Annotated[
    str | None,
    Field(description="Look the title up only in this database (faster, and less ambiguous)."),
]
ValuesArg = Annotated[
    dict[str, Any] | str,
    Field(
        description='Plain values by property name, e.g. {"Name": "Acme", "Status": "Active", '
        '"Budget": 1200, "Client": "Acme Corp"}; describe_database shows what each takes.'
    ),
]


async def _run(call: Awaitable[Json]) -> CallToolResult:
    """A tool body's answer as a result; anticipated failures as is_error results the agent
    reads (never a traceback)."""
    try:
        data = await call
    except ToolFailure as exc:
        return _error(str(exc), exc.details)
    except NotionError as exc:
        return _error(f"Notion refused the request ({exc.status} {exc.code}): {exc.message}", {})
    except DevfactoryError as exc:
        return _error(str(exc), {})
    text = json.dumps(data, ensure_ascii=False, indent=1, default=str)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _error(message: str, details: Json) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=message)],
        structured_content={"error": message, **details},
        is_error=True,
    )


def build_server(tools: NotionTools) -> MCPServer:
    """The SDK server with the Notion tools registered on ``tools``."""
    # WARNING: run alone over stdio, the SDK's INFO logging would echo every Notion request
    server = MCPServer("devfactory-notion", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(annotations=READ)
    async def list_databases() -> CallToolResult:
        """List the workspace's databases by logical name, with titles and property types."""
        return await _run(tools.list_databases())

    @server.tool(annotations=READ)
    async def describe_database(database: DatabaseArg) -> CallToolResult:
        """Describe a database: each property's type, options, related database, and the plain
        value it takes (or that it is read-only)."""
        return await _run(tools.describe_database(database))

    @server.tool(annotations=READ)
    async def query(
        database: DatabaseArg,
        filter: Annotated[
            dict[str, Any] | str | None,
            Field(
                description='Friendly: {"Status": "Active", "Budget": {">": 1000}, "Tags": '
                '["a", "b"]} (all must hold; a list means any of; null means empty; operators '
                "= != > >= < <= contains starts_with ends_with before after in not_in "
                "is_empty). Or Notion's own filter JSON (with property/and/or)."
            ),
        ] = None,
        sorts: Annotated[
            list[str | dict[str, Any]] | str | None,
            Field(description='e.g. ["-Budget", "Name"] (a leading "-" sorts descending).'),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="At most this many rows.")] = 25,
    ) -> CallToolResult:
        """Query a database's rows with a filter and sorts; rows come back as plain values
        (text, numbers, option names, ISO dates, related titles)."""
        return await _run(tools.query(database, filter, sorts, limit))

    @server.tool(annotations=READ)
    async def get_page(
        page: PageArg,
        database: ScopeArg = None,
        content: Annotated[bool, Field(description="Include the content as markdown.")] = True,
    ) -> CallToolResult:
        """Read one page by id, URL or exact title: its properties as plain values and its
        content as markdown. A title matching several pages is refused with the candidates."""
        return await _run(tools.get_page(page, database, content))

    @server.tool(annotations=READ)
    async def search(
        query: Annotated[str, Field(description="Text to look for in titles.")],
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
    ) -> CallToolResult:
        """Search pages and databases by title across the workspace."""
        return await _run(tools.search(query, limit))

    @server.tool(annotations=WRITE)
    async def create_page(
        database: DatabaseArg,
        values: ValuesArg,
        content: Annotated[
            str | None, Field(description="Optional page body, in markdown.")
        ] = None,
    ) -> CallToolResult:
        """Create a row in a database from plain values; relations may name rows by title.
        Values that do not fit the schema are refused, each problem named."""
        return await _run(tools.create_page(database, values, content))

    @server.tool(annotations=UPDATE)
    async def update_page(
        page: PageArg, values: ValuesArg, database: ScopeArg = None
    ) -> CallToolResult:
        """Change some properties of a page (by id or exact title) from plain values; the
        others stay as they are."""
        return await _run(tools.update_page(page, values, database))

    @server.tool(annotations=WRITE)
    async def append_content(
        page: PageArg,
        markdown: Annotated[
            str,
            Field(
                description="Markdown: # headings, paragraphs, - and 1. lists, - [ ] to-dos, > "
                "quotes, ``` code, ---, **bold**, *italic*, `code`, [links](https://…)."
            ),
        ],
        database: ScopeArg = None,
    ) -> CallToolResult:
        """Append markdown to the end of a page, converted to Notion blocks."""
        return await _run(tools.append_content(page, markdown, database))

    @server.tool(annotations=DESTROY)
    async def trash_page(page: PageArg, database: ScopeArg = None) -> CallToolResult:
        """Move a page (a row, or a page holding databases and everything in it) to Notion's
        trash, where it can be restored. Destructive."""
        return await _run(tools.trash_page(page, database))

    return server
