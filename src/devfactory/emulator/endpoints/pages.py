"""Pages: create, retrieve, update, property items, move, and markdown content."""

from __future__ import annotations

from typing import Any

from devfactory.emulator import validation as v
from devfactory.emulator.access import find, not_found, visible
from devfactory.emulator.blocks import insert_children, parse_children, parse_cover, parse_icon
from devfactory.emulator.clock import iso_ms
from devfactory.emulator.compute import render_value, rollup_json
from devfactory.emulator.context import Ctx, Request
from devfactory.emulator.endpoints._common import (
    Result,
    Route,
    filter_properties_param,
    page_size_param,
    start_cursor_param,
)
from devfactory.emulator.ids import new_id
from devfactory.emulator.markdown import (
    apply_markdown_update,
    blocks_to_markdown,
    markdown_to_blocks,
)
from devfactory.emulator.model import AsyncTask, Block, Database, DataSource, Owned, Page
from devfactory.emulator.query import paginate
from devfactory.emulator.render import block_json, list_json, page_json
from devfactory.emulator.schema import find_property
from devfactory.emulator.writes import (
    assign_unique_ids,
    check_editable,
    parse_trash_flag,
    set_page_title,
    set_row_properties,
    stamp,
)
from devfactory.errors import NotionValidationError

__all__ = ["ROUTES", "child_records", "markdown_of"]

_PAGINATED_ITEMS = frozenset(["title", "rich_text", "relation", "people", "rollup"])


def _resolve_parent(ctx: Ctx, raw: Any) -> tuple[str, str | None, Page | DataSource | None]:
    """(parent_type, parent_id, parent record) for a page create or move."""
    parent = v.obj(raw, "body.parent")
    kind = parent.get("type")
    if kind is None:
        for candidate in ("page_id", "data_source_id", "database_id", "workspace", "block_id"):
            if candidate in parent:
                kind = candidate
                break
    if kind == "workspace":
        if parent.get("workspace", True) is not True:
            v.fail("body.parent.workspace", "should be `true`", parent.get("workspace"))
        return "workspace", None, None
    if kind == "page_id":
        page = find(
            ctx, v.id_value(v.member(parent, "page_id", "body.parent"), "body.parent.page_id"), Page
        )
        return "page_id", page.id, page
    if kind == "data_source_id":
        ds_id = v.id_value(
            v.member(parent, "data_source_id", "body.parent"), "body.parent.data_source_id"
        )
        ds = find(ctx, ds_id, DataSource, label="data source")
        return "data_source_id", ds.id, ds
    if kind == "database_id":
        db = find(
            ctx,
            v.id_value(v.member(parent, "database_id", "body.parent"), "body.parent.database_id"),
            Database,
        )
        if len(db.data_source_ids) != 1:
            raise NotionValidationError(
                f"Database {db.id} has {len(db.data_source_ids)} data sources; use parent.data_source_id to say which one."
            )
        only = ctx.store.get_as(db.data_source_ids[0], DataSource)
        assert only is not None
        return "data_source_id", only.id, only
    raise NotionValidationError(
        "body failed validation. Fix one: body.parent.page_id should be defined, instead was `undefined`. "
        "body.parent.data_source_id should be defined, instead was `undefined`. "
        "body.parent.database_id should be defined, instead was `undefined`."
    )


def _position_index(ctx: Ctx, parent: Page | Block, raw: Any, path: str) -> int | None:
    """Where new children go: ``position`` (start, end, after_block / page_start, page_end)."""
    if raw is None:
        return None
    position = v.obj(raw, path)
    kind = v.choice(
        v.member(position, "type", path),
        f"{path}.type",
        ("start", "end", "after_block", "page_start", "page_end"),
    )
    if kind in ("start", "page_start"):
        return 0
    if kind in ("end", "page_end"):
        return None
    ref = v.obj(v.member(position, "after_block", path), f"{path}.after_block")
    after = v.id_value(v.member(ref, "id", f"{path}.after_block"), f"{path}.after_block.id")
    return _index_after(parent, after, f"{path}.after_block.id")


def _index_after(parent: Page | Block, after: str, path: str) -> int:
    try:
        return parent.children.index(after) + 1
    except ValueError:
        v.fail(path, "should be the id of a child of the parent block", after)


def create_page(ctx: Ctx, req: Request) -> Result:
    """POST /v1/pages"""
    body = req.body
    parent_type, parent_id, parent = _resolve_parent(ctx, v.member(body, "parent", "body"))
    if isinstance(parent, Owned):
        check_editable(ctx, parent)
    page = Page(id=new_id(), parent_type=parent_type, parent_id=parent_id)
    stamp(ctx, page, created=True)
    if "icon" in body:
        page.icon = parse_icon(body["icon"], "body.icon")
    if "cover" in body:
        page.cover = parse_cover(body["cover"], "body.cover")
    properties = body.get("properties", {})
    if isinstance(parent, DataSource):
        set_row_properties(ctx, parent, page, properties, "body.properties")
        if "title" not in page.properties:
            page.properties["title"] = []
        assign_unique_ids(ctx, parent, page)
    else:
        set_page_title(ctx, page, properties, "body.properties")
    children = None
    if body.get("children") is not None:
        children = parse_children(ctx, body["children"], "body.children")
    markdown = body.get("markdown", body.get("content"))
    if markdown is not None and isinstance(markdown, str):
        if children:
            raise NotionValidationError(
                "body failed validation: give either body.children or body.markdown, not both."
            )
        blocks = markdown_to_blocks(v.string(markdown, "body.markdown", max_length=500_000))
        # References to existing pages or databases cannot move into a new page.
        children = parse_children(
            ctx, [b for b in blocks if "id" not in b], "body.markdown", depth=-8
        )
    index = None
    if isinstance(parent, Page):
        index = _position_index(ctx, parent, body.get("position"), "body.position")
    ctx.store.add(page)
    if isinstance(parent, Page):
        if index is None:
            parent.children.append(page.id)
        else:
            parent.children.insert(index, page.id)
        ctx.store.touch(parent)
    if children:
        insert_children(ctx, page, children, None)
        stamp(ctx, page)
    return page_json(ctx, page)


def retrieve_page(ctx: Ctx, req: Request) -> Result:
    """GET /v1/pages/{page_id}"""
    page = find(ctx, v.path_id(req.params["page_id"], "page_id"), Page)
    return page_json(
        ctx,
        page,
        only=filter_properties_param(req, ctx.store.get_as(page.parent_id or "", DataSource)),
    )


def update_page(ctx: Ctx, req: Request) -> Result:
    """PATCH /v1/pages/{page_id}"""
    body = req.body
    page = find(ctx, v.path_id(req.params["page_id"], "page_id"), Page)
    trash = parse_trash_flag(ctx, body)
    edits = [k for k in ("properties", "icon", "cover", "erase_content") if k in body]
    if edits and page.in_trash and trash is not False:
        check_editable(ctx, page)
    if "properties" in body:
        ds = (
            ctx.store.get_as(page.parent_id or "", DataSource)
            if page.parent_type == "data_source_id"
            else None
        )
        if ds is not None:
            set_row_properties(ctx, ds, page, body["properties"], "body.properties")
        else:
            set_page_title(ctx, page, body["properties"], "body.properties")
    if "icon" in body:
        page.icon = parse_icon(body["icon"], "body.icon")
    if "cover" in body:
        page.cover = parse_cover(body["cover"], "body.cover")
    if "is_locked" in body:
        page.is_locked = v.boolean(body["is_locked"], "body.is_locked")
    if body.get("erase_content") is True:
        _trash_children(ctx, page)
    elif "erase_content" in body:
        v.boolean(body["erase_content"], "body.erase_content")
    if trash is not None:
        page.in_trash = trash
    stamp(ctx, page)
    ctx.store.touch(page)
    return page_json(
        ctx,
        page,
        only=filter_properties_param(req, ctx.store.get_as(page.parent_id or "", DataSource)),
    )


def _trash_children(ctx: Ctx, page: Page) -> None:
    for child_id in page.children:
        child = ctx.store.get(child_id)
        if isinstance(child, Owned) and not child.in_trash:
            child.in_trash = True
            ctx.store.touch(child)


def retrieve_property_item(ctx: Ctx, req: Request) -> Result:
    """GET /v1/pages/{page_id}/properties/{property_id}"""
    page = find(ctx, v.path_id(req.params["page_id"], "page_id"), Page)
    key = req.params["property_id"]
    ds = (
        ctx.store.get_as(page.parent_id or "", DataSource)
        if page.parent_type == "data_source_id"
        else None
    )
    if ds is not None:
        prop = find_property(ds, key)
    else:
        prop = (
            {"id": "title", "name": "title", "type": "title", "config": {}}
            if key in ("title", "Name")
            else None
        )
    if prop is None:
        raise not_found(ctx, "property", key)
    value = render_value(ctx, ds, page, prop)
    ptype = prop["type"]
    if ptype not in _PAGINATED_ITEMS:
        return {"object": "property_item", **value}
    if ptype == "rollup":
        assert ds is not None
        rollup = rollup_json(ctx, ds, page, prop)
        items = rollup.pop("array", None) or []
        if rollup["type"] == "array":
            rollup = {"type": "array", "array": {}, "function": rollup["function"]}
        elements = [{"object": "property_item", "id": prop["id"], **item} for item in items]
        header = {"id": prop["id"], "next_url": None, "type": "rollup", "rollup": rollup}
    else:
        raw_items = value[ptype]
        elements = [
            {"object": "property_item", "type": ptype, "id": prop["id"], ptype: item}
            for item in raw_items
        ]
        header = {"id": prop["id"], "next_url": None, "type": ptype, ptype: {}}
    chunk, cursor, more, _ = paginate(
        list(enumerate(elements)),
        start_cursor_param(req),
        page_size_param(req),
        lambda e: f"{page.id}:{e[0]}",
    )
    out = list_json([e[1] for e in chunk], cursor, more, "property_item")
    out["property_item"] = header
    if more:
        header["next_url"] = (
            f"{ctx.base_url}/v1/pages/{page.id}/properties/{prop['id']}?start_cursor={cursor}"
        )
    return out


def move_page(ctx: Ctx, req: Request) -> Result:
    """POST /v1/pages/{page_id}/move"""
    page = find(ctx, v.path_id(req.params["page_id"], "page_id"), Page)
    check_editable(ctx, page)
    parent_type, parent_id, parent = _resolve_parent(ctx, v.member(req.body, "parent", "body"))
    if parent_type == "workspace":
        raise NotionValidationError("Pages can only be moved under a page or into a data source.")
    if isinstance(parent, Page):
        current: Owned | None = parent
        for _ in range(256):
            if current is None:
                break
            if current.id == page.id:
                raise NotionValidationError("A page cannot be moved inside itself.")
            nxt = ctx.store.get(current.parent_id) if current.parent_id else None
            current = nxt if isinstance(nxt, Owned) else None
    old_parent = ctx.store.get(page.parent_id) if page.parent_id else None
    if isinstance(old_parent, Page | Block) and page.id in old_parent.children:
        old_parent.children.remove(page.id)
        ctx.store.touch(old_parent)
    old_ds = page.parent_id if page.parent_type == "data_source_id" else None
    if isinstance(parent, DataSource) and old_ds != parent.id:
        title = page.properties.get("title", [])
        page.properties = {"title": title}
        assign_unique_ids(ctx, parent, page)
    elif not isinstance(parent, DataSource) and old_ds is not None:
        page.properties = {"title": page.properties.get("title", [])}
    page.parent_type, page.parent_id = parent_type, parent_id
    ctx.store.move_row(page, old_ds)
    if isinstance(parent, Page):
        parent.children.append(page.id)
        ctx.store.touch(parent)
    stamp(ctx, page)
    ctx.store.touch(page)
    return page_json(ctx, page)


# ---------------------------------------------------------------------------- markdown


def child_records(ctx: Ctx, parent: Page | Block) -> list[Owned]:
    """The live (not trashed) children of a page or block, in order."""
    out = []
    for child_id in parent.children:
        child = ctx.store.get(child_id)
        if isinstance(child, Owned) and not child.in_trash:
            out.append(child)
    return out


def _tree(ctx: Ctx, parent: Page | Block, depth: int = 0) -> list[dict[str, Any]]:
    result = []
    for child in child_records(ctx, parent):
        item = block_json(ctx, child)
        if isinstance(child, Block) and child.children and depth < 32:
            item["children"] = _tree(ctx, child, depth + 1)
        result.append(item)
    return result


def markdown_of(ctx: Ctx, page: Page) -> tuple[str, list[str]]:
    """The page's content as Notion-flavoured markdown, and ids of blocks without a form."""
    return blocks_to_markdown(_tree(ctx, page))


def _markdown_json(ctx: Ctx, page: Page) -> dict[str, Any]:
    markdown, unknown = markdown_of(ctx, page)
    return {
        "object": "page_markdown",
        "id": page.id,
        "markdown": markdown,
        "truncated": False,
        "unknown_block_ids": unknown,
    }


def retrieve_markdown(ctx: Ctx, req: Request) -> Result:
    """GET /v1/pages/{page_id}/markdown"""
    page = find(ctx, v.path_id(req.params["page_id"], "page_id"), Page)
    return _markdown_json(ctx, page)


def update_markdown(ctx: Ctx, req: Request) -> Result:
    """PATCH /v1/pages/{page_id}/markdown (``allow_async`` answers 202 with a task)."""
    page = find(ctx, v.path_id(req.params["page_id"], "page_id"), Page)
    check_editable(ctx, page)
    body = req.body
    kind = v.string(v.member(body, "type", "body"), "body.type")
    payload = v.obj(v.member(body, kind, "body"), f"body.{kind}")
    if kind == "insert_content" and "after" not in payload and "position" not in payload:
        content = v.string(
            v.member(payload, "content", f"body.{kind}"), f"body.{kind}.content", max_length=500_000
        )
        blocks = [b for b in markdown_to_blocks(content) if "id" not in b] if content else []
        insert_children(
            ctx, page, parse_children(ctx, blocks, f"body.{kind}.content", depth=-8), None
        )
    else:
        current, _ = markdown_of(ctx, page)
        updated = apply_markdown_update(current, kind, payload)
        if updated != current:
            _replace_content(ctx, page, markdown_to_blocks(updated), f"body.{kind}")
    stamp(ctx, page)
    ctx.store.touch(page)
    result = _markdown_json(ctx, page)
    allow_async = body.get("allow_async", False)
    if v.boolean(allow_async, "body.allow_async"):
        task = AsyncTask(
            id=f"task_{new_id().replace('-', '')}",
            status="succeeded",
            operation={"surface": "rest", "name": "PATCH /v1/pages/:page_id/markdown"},
            result=result,
        )
        stamp(ctx, task, created=True)
        ctx.store.add(task)
        return 202, {**task_json(ctx, task, queued=True)}
    return result


def _replace_content(ctx: Ctx, page: Page, blocks: list[dict[str, Any]], path: str) -> None:
    """Make the page's content ``blocks``: references (``id``) keep existing children such as
    child pages; everything else is created anew; children no longer present are trashed."""
    live = {child.id for child in child_records(ctx, page)}
    order: list[str] = []
    for block in blocks:
        ref = block.get("id")
        if ref is not None:
            if ref in live and ref not in order:
                order.append(ref)
            continue
        created = insert_children(ctx, page, parse_children(ctx, [block], path, depth=-8), None)
        order.extend(record.id for record in created)
    for child in child_records(ctx, page):
        if child.id not in order:
            child.in_trash = True
            stamp(ctx, child)
            ctx.store.touch(child)
    page.children = order + [c for c in page.children if c not in order]
    ctx.store.touch(page)


def task_json(ctx: Ctx, task: AsyncTask, *, queued: bool = False) -> dict[str, Any]:
    """An async task object (``queued`` as first answered, then its final state)."""
    out: dict[str, Any] = {
        "object": "async_task",
        "id": task.id,
        "status": "queued" if queued else task.status,
        "status_url": f"{ctx.base_url}/v1/async_tasks/{task.id}",
        "created_time": iso_ms(task.created_time),
    }
    if queued:
        out["poll_after_seconds"] = 2
    out["operation"] = task.operation
    if not queued and task.result is not None:
        out["result"] = task.result
    return out


def retrieve_task(ctx: Ctx, req: Request) -> Result:
    """GET /v1/async_tasks/{task_id}"""
    task_id = req.params["task_id"]
    task = ctx.store.get_as(task_id, AsyncTask)
    if task is None or not visible(ctx, task):
        raise not_found(ctx, "async task", task_id)
    return task_json(ctx, task)


ROUTES = [
    Route("POST", "/v1/pages", create_page),
    Route("GET", "/v1/pages/{page_id}", retrieve_page),
    Route("PATCH", "/v1/pages/{page_id}", update_page),
    Route("GET", "/v1/pages/{page_id}/properties/{property_id:path}", retrieve_property_item),
    Route("POST", "/v1/pages/{page_id}/move", move_page),
    Route("GET", "/v1/pages/{page_id}/markdown", retrieve_markdown),
    Route("PATCH", "/v1/pages/{page_id}/markdown", update_markdown),
    Route("GET", "/v1/async_tasks/{task_id}", retrieve_task),
]
