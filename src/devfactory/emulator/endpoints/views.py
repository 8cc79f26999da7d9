"""Views of data sources, and view queries (snapshots paged through by id)."""

from __future__ import annotations

from typing import Any

from devfactory.emulator import validation as v
from devfactory.emulator.access import find, not_found
from devfactory.emulator.clock import iso_ms
from devfactory.emulator.context import Ctx, Request
from devfactory.emulator.endpoints._common import Result, Route, page_size_param, start_cursor_param
from devfactory.emulator.ids import new_id
from devfactory.emulator.model import Database, DataSource, Page, View, ViewQuery
from devfactory.emulator.query import (
    MAX_RESULTS,
    compile_filter,
    compile_sorts,
    paginate,
    run_query,
)
from devfactory.emulator.render import list_json, page_json, view_json
from devfactory.emulator.writes import stamp
from devfactory.errors import NotionValidationError

__all__ = ["ROUTES"]

VIEW_TYPES = (
    "table",
    "board",
    "list",
    "calendar",
    "timeline",
    "gallery",
    "chart",
    "form",
    "map",
    "feed",
    "dashboard",
)
QUERY_TTL = 15 * 60


def _view_settings(ctx: Ctx, view: View, body: dict[str, Any]) -> None:
    ds = ctx.store.get_as(view.data_source_id, DataSource)
    assert ds is not None
    if "name" in body:
        view.name = v.string(body["name"], "body.name", max_length=2000)
    if "filter" in body:
        compile_filter(ctx, ds, body["filter"], "body.filter")
        view.filter = body["filter"]
    if "sorts" in body:
        compile_sorts(ctx, ds, body["sorts"], "body.sorts")
        view.sorts = body["sorts"]
    if "quick_filters" in body:
        view.quick_filters = (
            None
            if body["quick_filters"] is None
            else v.obj(body["quick_filters"], "body.quick_filters")
        )
    if "configuration" in body:
        config = body["configuration"]
        view.configuration = None if config is None else v.obj(config, "body.configuration")


def create_view(ctx: Ctx, req: Request) -> Result:
    """POST /v1/views"""
    body = req.body
    ds = find(
        ctx,
        v.id_value(v.member(body, "data_source_id", "body"), "body.data_source_id"),
        DataSource,
        label="data source",
    )
    database_id = ds.parent_id or ""
    if body.get("database_id") is not None:
        database_id = v.id_value(body["database_id"], "body.database_id")
        db = find(ctx, database_id, Database)
        if ds.id not in db.data_source_ids:
            raise NotionValidationError(
                "body.data_source_id is not a data source of body.database_id."
            )
    view = View(
        id=new_id(),
        parent_type="database_id",
        parent_id=database_id,
        data_source_id=ds.id,
        name=v.string(body.get("name", "Untitled view"), "body.name", max_length=2000),
        type=v.choice(body.get("type", "table"), "body.type", VIEW_TYPES),
    )
    _view_settings(ctx, view, body)
    stamp(ctx, view, created=True)
    ctx.store.add(view)
    return view_json(ctx, view)


def list_views(ctx: Ctx, req: Request) -> Result:
    """GET /v1/views?database_id=… or ?data_source_id=… (references only, as Notion does)."""
    database_id = req.query_one("database_id")
    data_source_id = req.query_one("data_source_id")
    if database_id is None and data_source_id is None:
        v.fail("query.database_id", "should be defined", v.UNDEFINED)
    if database_id is not None:
        db = find(ctx, v.id_value(database_id, "query.database_id"), Database)
        views = [x for x in ctx.store.all_of(View) if x.parent_id == db.id]
    else:
        ds = find(
            ctx, v.id_value(data_source_id, "query.data_source_id"), DataSource, label="data source"
        )
        views = [x for x in ctx.store.all_of(View) if x.data_source_id == ds.id]
    views.sort(key=lambda x: x.seq)
    chunk, cursor, more, _ = paginate(
        views, start_cursor_param(req), page_size_param(req), lambda x: x.id
    )
    return list_json([{"object": "view", "id": x.id} for x in chunk], cursor, more, "view")


def _view(ctx: Ctx, req: Request) -> View:
    return find(ctx, v.path_id(req.params["view_id"], "view_id"), View)


def retrieve_view(ctx: Ctx, req: Request) -> Result:
    """GET /v1/views/{view_id}"""
    return view_json(ctx, _view(ctx, req))


def update_view(ctx: Ctx, req: Request) -> Result:
    """PATCH /v1/views/{view_id}"""
    view = _view(ctx, req)
    _view_settings(ctx, view, req.body)
    stamp(ctx, view)
    ctx.store.touch(view)
    return view_json(ctx, view)


def delete_view(ctx: Ctx, req: Request) -> Result:
    """DELETE /v1/views/{view_id}"""
    view = _view(ctx, req)
    ctx.store.remove(view)
    return {
        "object": "view",
        "id": view.id,
        "parent": {"type": "database_id", "database_id": view.parent_id},
        "type": view.type,
    }


def create_view_query(ctx: Ctx, req: Request) -> Result:
    """POST /v1/views/{view_id}/queries: run the view and keep the result for 15 minutes."""
    view = _view(ctx, req)
    ds = ctx.store.get_as(view.data_source_id, DataSource)
    if ds is None:
        raise not_found(ctx, "data source", view.data_source_id)
    pages = run_query(ctx, ds, {"filter": view.filter, "sorts": view.sorts})[:MAX_RESULTS]
    query = ViewQuery(
        id=new_id(),
        parent_type="view_id",
        parent_id=view.id,
        view_id=view.id,
        page_ids=[p.id for p in pages],
    )
    stamp(ctx, query, created=True)
    query.expires_at = ctx.now + QUERY_TTL
    ctx.store.add(query)
    size = page_size_param(req, in_body=True)
    chunk, cursor, more, _ = paginate(query.page_ids, None, size, lambda x: x)
    return {
        "object": "view_query",
        "id": query.id,
        "view_id": view.id,
        "expires_at": iso_ms(query.expires_at),
        "total_count": len(query.page_ids),
        "results": [{"object": "page", "id": pid} for pid in chunk],
        "next_cursor": cursor,
        "has_more": more,
    }


def _query(ctx: Ctx, req: Request) -> ViewQuery:
    view = _view(ctx, req)
    query_id = v.path_id(req.params["query_id"], "query_id")
    query = ctx.store.get_as(query_id, ViewQuery)
    if query is None or query.view_id != view.id or query.expires_at < ctx.now:
        raise not_found(ctx, "view query", query_id)
    return query


def view_query_results(ctx: Ctx, req: Request) -> Result:
    """GET /v1/views/{view_id}/queries/{query_id}"""
    query = _query(ctx, req)
    chunk, cursor, more, _ = paginate(
        query.page_ids, start_cursor_param(req), page_size_param(req), lambda x: x
    )
    pages = [p for p in (ctx.store.get_as(pid, Page) for pid in chunk) if p is not None]
    return list_json([page_json(ctx, p) for p in pages], cursor, more, "page")


def delete_view_query(ctx: Ctx, req: Request) -> Result:
    """DELETE /v1/views/{view_id}/queries/{query_id}"""
    query = _query(ctx, req)
    ctx.store.remove(query)
    return {"object": "view_query", "id": query.id, "deleted": True}


ROUTES = [
    Route("POST", "/v1/views", create_view),
    Route("GET", "/v1/views", list_views),
    Route("GET", "/v1/views/{view_id}", retrieve_view),
    Route("PATCH", "/v1/views/{view_id}", update_view),
    Route("DELETE", "/v1/views/{view_id}", delete_view),
    Route("POST", "/v1/views/{view_id}/queries", create_view_query, read_only=True),
    Route("GET", "/v1/views/{view_id}/queries/{query_id}", view_query_results),
    Route("DELETE", "/v1/views/{view_id}/queries/{query_id}", delete_view_query),
]
