"""Databases (containers of data sources) and data sources (schemas, rows, queries)."""

from __future__ import annotations

from typing import Any

from devfactory.emulator import validation as v
from devfactory.emulator.access import find
from devfactory.emulator.blocks import parse_cover, parse_icon
from devfactory.emulator.context import Ctx, Request
from devfactory.emulator.endpoints._common import (
    Result,
    Route,
    filter_properties_param,
    page_size_param,
    start_cursor_param,
)
from devfactory.emulator.ids import new_id
from devfactory.emulator.model import Database, DataSource, Page, View
from devfactory.emulator.query import query_window
from devfactory.emulator.render import data_source_json, database_json, list_json, page_json
from devfactory.emulator.richtext import normalize_rich_text
from devfactory.emulator.schema import apply_properties
from devfactory.emulator.values import mention_lookup
from devfactory.emulator.writes import check_editable, parse_trash_flag, stamp
from devfactory.errors import NotionValidationError

__all__ = ["ROUTES", "new_data_source"]


def _database_parent(ctx: Ctx, raw: Any, path: str) -> tuple[str, str | None, Page | None]:
    parent = v.obj(raw, path)
    kind = parent.get("type")
    if kind is None:
        kind = (
            "workspace"
            if parent.get("workspace") is True
            else ("page_id" if "page_id" in parent else None)
        )
    if kind == "workspace":
        if parent.get("workspace", True) is not True:
            v.fail(f"{path}.workspace", "should be `true`", parent.get("workspace"))
        return "workspace", None, None
    if kind != "page_id":
        v.fail(f"{path}.page_id", "should be defined", v.UNDEFINED)
    page_id = v.id_value(v.member(parent, "page_id", path), f"{path}.page_id")
    page = find(ctx, page_id, Page)
    if page.parent_type == "data_source_id":
        pass  # rows may hold databases too
    return "page_id", page_id, page


def new_data_source(
    ctx: Ctx,
    db: Database,
    title: list[dict[str, Any]],
    properties: Any,
    path: str,
    icon: Any = None,
) -> DataSource:
    """Create a data source in ``db`` with a schema, and its default table view."""
    ds = DataSource(id=new_id(), parent_type="database_id", parent_id=db.id, title=title, icon=icon)
    stamp(ctx, ds, created=True)
    ctx.store.add(ds)
    if properties is None or properties == {}:
        properties = {"Name": {"title": {}}}
    apply_properties(ctx, ds, properties, path, creating=True)
    db.data_source_ids.append(ds.id)
    ctx.store.touch(db)
    view = View(
        id=new_id(),
        parent_type="database_id",
        parent_id=db.id,
        data_source_id=ds.id,
        name="Default view",
        type="table",
    )
    stamp(ctx, view, created=True)
    ctx.store.add(view)
    return ds


def create_database(ctx: Ctx, req: Request) -> Result:
    """POST /v1/databases"""
    body = req.body
    lookup = mention_lookup(ctx)
    parent_type, parent_id, parent_page = _database_parent(
        ctx, v.member(body, "parent", "body"), "body.parent"
    )
    if parent_page is not None:
        check_editable(ctx, parent_page)
    title = normalize_rich_text(body.get("title", []), "body.title", lookup=lookup)
    description = normalize_rich_text(
        body.get("description", []), "body.description", lookup=lookup
    )
    is_inline = v.boolean(body.get("is_inline", False), "body.is_inline")
    db = Database(
        id=new_id(),
        parent_type=parent_type,
        parent_id=parent_id,
        title=title,
        description=description,
        is_inline=is_inline,
        icon=parse_icon(body.get("icon"), "body.icon"),
        cover=parse_cover(body.get("cover"), "body.cover"),
    )
    stamp(ctx, db, created=True)
    ctx.store.add(db)
    initial = v.obj(body.get("initial_data_source") or {}, "body.initial_data_source")
    ds_title = title
    if initial.get("title") is not None:
        ds_title = normalize_rich_text(
            initial["title"], "body.initial_data_source.title", lookup=lookup
        )
    new_data_source(
        ctx,
        db,
        [dict(i) for i in ds_title],
        initial.get("properties"),
        "body.initial_data_source.properties",
    )
    if parent_page is not None:
        parent_page.children.append(db.id)
        ctx.store.touch(parent_page)
    return database_json(ctx, db)


def retrieve_database(ctx: Ctx, req: Request) -> Result:
    """GET /v1/databases/{database_id}"""
    db = find(ctx, v.path_id(req.params["database_id"], "database_id"), Database)
    return database_json(ctx, db)


def _move(ctx: Ctx, record: Page | Database, new_type: str, new_id_: str | None) -> None:
    """Move a page or database under a new parent page (or the workspace)."""
    old = ctx.store.get(record.parent_id) if record.parent_id else None
    if isinstance(old, Page) and record.id in old.children:
        old.children.remove(record.id)
        ctx.store.touch(old)
    record.parent_type, record.parent_id = new_type, new_id_
    new_parent = ctx.store.get(new_id_) if new_id_ else None
    if isinstance(new_parent, Page):
        new_parent.children.append(record.id)
        ctx.store.touch(new_parent)


def update_database(ctx: Ctx, req: Request) -> Result:
    """PATCH /v1/databases/{database_id}"""
    body = req.body
    db = find(ctx, v.path_id(req.params["database_id"], "database_id"), Database)
    trash = parse_trash_flag(ctx, body)
    if (
        db.in_trash
        and trash is not False
        and any(k in body for k in ("title", "description", "icon", "cover", "is_inline", "parent"))
    ):
        check_editable(ctx, db)
    lookup = mention_lookup(ctx)
    if "title" in body:
        db.title = normalize_rich_text(body["title"], "body.title", lookup=lookup)
    if "description" in body:
        db.description = normalize_rich_text(
            body["description"] or [], "body.description", lookup=lookup
        )
    if "icon" in body:
        db.icon = parse_icon(body["icon"], "body.icon")
    if "cover" in body:
        db.cover = parse_cover(body["cover"], "body.cover")
    if "is_inline" in body:
        db.is_inline = v.boolean(body["is_inline"], "body.is_inline")
    if "is_locked" in body:
        db.is_locked = v.boolean(body["is_locked"], "body.is_locked")
    if "parent" in body:
        parent_type, parent_id, page = _database_parent(ctx, body["parent"], "body.parent")
        if page is not None and _is_inside(ctx, page, db.id):
            raise NotionValidationError("A database cannot be moved inside itself.")
        _move(ctx, db, parent_type, parent_id)
    if trash is not None:
        db.in_trash = trash
    stamp(ctx, db)
    ctx.store.touch(db)
    return database_json(ctx, db)


def _is_inside(ctx: Ctx, page: Page, ancestor_id: str) -> bool:
    current: Any = page
    for _ in range(256):
        if current is None:
            return False
        if current.id == ancestor_id:
            return True
        parent_id = getattr(current, "parent_id", None)
        current = ctx.store.get(parent_id) if parent_id else None
    return True


# ---------------------------------------------------------------------------- data sources


def create_data_source(ctx: Ctx, req: Request) -> Result:
    """POST /v1/data_sources"""
    body = req.body
    parent = v.obj(v.member(body, "parent", "body"), "body.parent")
    kind = parent.get("type", "database_id")
    if kind != "database_id":
        v.fail("body.parent.type", 'should be `"database_id"`', kind)
    db = find(
        ctx,
        v.id_value(v.member(parent, "database_id", "body.parent"), "body.parent.database_id"),
        Database,
    )
    check_editable(ctx, db)
    properties = v.member(body, "properties", "body")
    title = normalize_rich_text(body.get("title", []), "body.title", lookup=mention_lookup(ctx))
    ds = new_data_source(
        ctx, db, title, properties, "body.properties", parse_icon(body.get("icon"), "body.icon")
    )
    return data_source_json(ctx, ds)


def retrieve_data_source(ctx: Ctx, req: Request) -> Result:
    """GET /v1/data_sources/{data_source_id}"""
    ds = find(
        ctx,
        v.path_id(req.params["data_source_id"], "data_source_id"),
        DataSource,
        label="data source",
    )
    return data_source_json(ctx, ds)


def update_data_source(ctx: Ctx, req: Request) -> Result:
    """PATCH /v1/data_sources/{data_source_id}"""
    body = req.body
    ds = find(
        ctx,
        v.path_id(req.params["data_source_id"], "data_source_id"),
        DataSource,
        label="data source",
    )
    trash = parse_trash_flag(ctx, body)
    if (
        ds.in_trash
        and trash is not False
        and any(k in body for k in ("title", "icon", "properties", "parent"))
    ):
        check_editable(ctx, ds)
    if "title" in body:
        ds.title = normalize_rich_text(body["title"], "body.title", lookup=mention_lookup(ctx))
    if "icon" in body:
        ds.icon = parse_icon(body["icon"], "body.icon")
    if "properties" in body:
        apply_properties(ctx, ds, body["properties"], "body.properties", creating=False)
    if "parent" in body:
        parent = v.obj(body["parent"], "body.parent")
        target = find(
            ctx,
            v.id_value(v.member(parent, "database_id", "body.parent"), "body.parent.database_id"),
            Database,
        )
        old = ctx.store.get_as(ds.parent_id or "", Database)
        if old is not None and old.id != target.id:
            old.data_source_ids.remove(ds.id)
            ctx.store.touch(old)
            target.data_source_ids.append(ds.id)
            ctx.store.touch(target)
            ds.parent_id = target.id
    if trash is not None:
        ds.in_trash = trash
    stamp(ctx, ds)
    ctx.store.touch(ds)
    return data_source_json(ctx, ds)


def query_data_source(ctx: Ctx, req: Request) -> Result:
    """POST /v1/data_sources/{data_source_id}/query"""
    ds = find(
        ctx,
        v.path_id(req.params["data_source_id"], "data_source_id"),
        DataSource,
        label="data source",
    )
    body = req.body
    trashed = parse_trash_flag(ctx, body) or False
    if "result_type" in body:
        v.choice(body["result_type"], "body.result_type", ("page", "data_source"))
        if body["result_type"] == "data_source":
            return list_json([], None, False, "page_or_data_source")
    only = filter_properties_param(req, ds)
    chunk, cursor, more, capped = query_window(
        ctx,
        ds,
        body,
        start_cursor=start_cursor_param(req, in_body=True),
        page_size=page_size_param(req, in_body=True),
        trashed=trashed,
    )
    out = list_json(
        [page_json(ctx, p, only=only) for p in chunk], cursor, more, "page_or_data_source"
    )
    if capped:
        out["request_status"] = {
            "type": "incomplete",
            "incomplete_reason": "query_result_limit_reached",
        }
    return out


def list_templates(ctx: Ctx, req: Request) -> Result:
    """GET /v1/data_sources/{data_source_id}/templates (no templates exist here)."""
    find(
        ctx,
        v.path_id(req.params["data_source_id"], "data_source_id"),
        DataSource,
        label="data source",
    )
    page_size_param(req)
    return {"templates": [], "has_more": False, "next_cursor": None}


ROUTES = [
    Route("POST", "/v1/databases", create_database),
    Route("GET", "/v1/databases/{database_id}", retrieve_database),
    Route("PATCH", "/v1/databases/{database_id}", update_database),
    Route("POST", "/v1/data_sources", create_data_source),
    Route("GET", "/v1/data_sources/{data_source_id}", retrieve_data_source),
    Route("PATCH", "/v1/data_sources/{data_source_id}", update_data_source),
    Route("POST", "/v1/data_sources/{data_source_id}/query", query_data_source, read_only=True),
    Route("GET", "/v1/data_sources/{data_source_id}/templates", list_templates, request_id=False),
]
