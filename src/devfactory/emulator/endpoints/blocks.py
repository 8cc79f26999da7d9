"""Blocks: retrieve, update, trash; list and append children. Pages and databases are
blocks too (``child_page`` / ``child_database``), so these routes take their ids."""

from __future__ import annotations

from devfactory.emulator import validation as v
from devfactory.emulator.access import find
from devfactory.emulator.blocks import insert_children, parse_children, update_block_content
from devfactory.emulator.context import Ctx, Request
from devfactory.emulator.endpoints._common import Result, Route, page_size_param, start_cursor_param
from devfactory.emulator.endpoints.pages import child_records
from devfactory.emulator.model import Block, Database, Page
from devfactory.emulator.query import paginate
from devfactory.emulator.render import block_json, list_json
from devfactory.emulator.writes import check_editable, parse_trash_flag, stamp
from devfactory.errors import NotionValidationError

__all__ = ["ROUTES"]


def _any_block(ctx: Ctx, req: Request) -> Block | Page | Database:
    block_id = v.path_id(req.params["block_id"], "block_id")
    record = find(ctx, block_id, Block, Page, Database, label="block")
    assert isinstance(record, Block | Page | Database)
    return record


def retrieve_block(ctx: Ctx, req: Request) -> Result:
    """GET /v1/blocks/{block_id}"""
    return block_json(ctx, _any_block(ctx, req))


def update_block(ctx: Ctx, req: Request) -> Result:
    """PATCH /v1/blocks/{block_id}"""
    record = _any_block(ctx, req)
    body = req.body
    trash = parse_trash_flag(ctx, body)
    if isinstance(record, Block):
        if record.in_trash and trash is not False and any(k == record.type for k in body):
            check_editable(ctx, record)
        update_block_content(ctx, record, body, "body")
    elif any(k in body for k in ("child_page", "child_database")):
        raise NotionValidationError(
            "body failed validation: update a page's title with PATCH /v1/pages and a database's with PATCH /v1/databases."
        )
    if trash is not None:
        record.in_trash = trash
    stamp(ctx, record)
    ctx.store.touch(record)
    return block_json(ctx, record)


def delete_block(ctx: Ctx, req: Request) -> Result:
    """DELETE /v1/blocks/{block_id}: moves the block (or page, or database) to the trash."""
    record = _any_block(ctx, req)
    record.in_trash = True
    stamp(ctx, record)
    ctx.store.touch(record)
    return block_json(ctx, record)


def list_children(ctx: Ctx, req: Request) -> Result:
    """GET /v1/blocks/{block_id}/children"""
    record = _any_block(ctx, req)
    children = child_records(ctx, record) if isinstance(record, Page | Block) else []
    chunk, cursor, more, _ = paginate(
        children, start_cursor_param(req), page_size_param(req), lambda c: c.id
    )
    return list_json([block_json(ctx, c) for c in chunk], cursor, more, "block")


def append_children(ctx: Ctx, req: Request) -> Result:
    """PATCH /v1/blocks/{block_id}/children"""
    record = _any_block(ctx, req)
    if isinstance(record, Database):
        raise NotionValidationError(
            "A database has no block children; add rows with POST /v1/pages."
        )
    check_editable(ctx, record)
    body = req.body
    parsed = parse_children(ctx, v.member(body, "children", "body"), "body.children")
    index: int | None = None
    if "after" in body and body["after"] is not None:
        if ctx.modern:
            v.fail(
                "body.after",
                "should be not present (use `position` since 2026-03-11)",
                body["after"],
            )
        after = v.id_value(body["after"], "body.after")
        index = _after(record, after, "body.after")
    if body.get("position") is not None:
        position = v.obj(body["position"], "body.position")
        kind = v.choice(
            v.member(position, "type", "body.position"),
            "body.position.type",
            ("start", "end", "after_block"),
        )
        if kind == "start":
            index = 0
        elif kind == "after_block":
            ref = v.obj(
                v.member(position, "after_block", "body.position"), "body.position.after_block"
            )
            index = _after(
                record,
                v.id_value(
                    v.member(ref, "id", "body.position.after_block"), "body.position.after_block.id"
                ),
                "body.position.after_block.id",
            )
    created = insert_children(ctx, record, parsed, index)
    return list_json([block_json(ctx, c) for c in created], None, False, "block")


def _after(record: Page | Block, after: str, path: str) -> int:
    try:
        return record.children.index(after) + 1
    except ValueError:
        v.fail(path, "should be the id of a child block", after)


def query_meeting_notes(ctx: Ctx, req: Request) -> Result:
    """POST /v1/blocks/meeting_notes/query (no meeting notes exist here)."""
    return list_json([], None, False, "block")


ROUTES = [
    Route("POST", "/v1/blocks/meeting_notes/query", query_meeting_notes, read_only=True),
    Route("GET", "/v1/blocks/{block_id}", retrieve_block),
    Route("PATCH", "/v1/blocks/{block_id}", update_block),
    Route("DELETE", "/v1/blocks/{block_id}", delete_block),
    Route("GET", "/v1/blocks/{block_id}/children", list_children),
    Route("PATCH", "/v1/blocks/{block_id}/children", append_children),
]
