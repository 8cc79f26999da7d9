"""Comments on pages and blocks: create, list, retrieve, update, delete."""

from __future__ import annotations

from devfactory.emulator import validation as v
from devfactory.emulator.access import find
from devfactory.emulator.context import Ctx, Request
from devfactory.emulator.endpoints._common import Result, Route, page_size_param, start_cursor_param
from devfactory.emulator.ids import new_id
from devfactory.emulator.model import Block, Comment, Page
from devfactory.emulator.query import paginate
from devfactory.emulator.render import comment_json, list_json
from devfactory.emulator.richtext import normalize_rich_text
from devfactory.emulator.values import mention_lookup
from devfactory.emulator.writes import stamp
from devfactory.errors import NotionValidationError

__all__ = ["ROUTES"]


def create_comment(ctx: Ctx, req: Request) -> Result:
    """POST /v1/comments (on a page, a block, or into an existing discussion)."""
    body = req.body
    rich_text = normalize_rich_text(
        v.member(body, "rich_text", "body"), "body.rich_text", lookup=mention_lookup(ctx)
    )
    if not rich_text:
        v.fail("body.rich_text.length", "should be ≥ `1`", 0)
    if body.get("discussion_id") is not None:
        discussion = v.id_value(body["discussion_id"], "body.discussion_id")
        first = next((c for c in ctx.store.all_of(Comment) if c.discussion_id == discussion), None)
        if first is None:
            raise NotionValidationError(f"Could not find discussion with ID: {discussion}.")
        find(ctx, first.parent_id or "", Page, Block, label="block")
        parent_type, parent_id = first.parent_type, first.parent_id
    else:
        parent = v.obj(v.member(body, "parent", "body"), "body.parent")
        kind = parent.get("type") or (
            "page_id" if "page_id" in parent else "block_id" if "block_id" in parent else None
        )
        if kind not in ("page_id", "block_id"):
            v.fail("body.parent.page_id", "should be defined", v.UNDEFINED)
        target = find(
            ctx,
            v.id_value(v.member(parent, kind, "body.parent"), f"body.parent.{kind}"),
            Page,
            Block,
            label="block",
        )
        parent_type, parent_id = kind, target.id
        discussion = new_id()
    attachments = v.array(body.get("attachments", []), "body.attachments", max_items=3)
    display = body.get("display_name")
    if display is not None:
        display = v.obj(display, "body.display_name")
        kind = v.choice(
            v.member(display, "type", "body.display_name"),
            "body.display_name.type",
            ("integration", "user", "custom"),
        )
        resolved = ctx.integration.name
        if kind == "custom":
            custom = v.obj(
                v.member(display, "custom", "body.display_name"), "body.display_name.custom"
            )
            resolved = v.string(
                v.member(custom, "name", "body.display_name.custom"),
                "body.display_name.custom.name",
                max_length=200,
            )
        display = {"type": kind, "resolved_name": resolved}
    comment = Comment(
        id=new_id(),
        parent_type=parent_type,
        parent_id=parent_id,
        discussion_id=discussion,
        rich_text=rich_text,
        attachments=[v.obj(a, f"body.attachments[{i}]") for i, a in enumerate(attachments)],
        display_name=display,
    )
    stamp(ctx, comment, created=True)
    ctx.store.add(comment)
    return comment_json(ctx, comment)


def list_comments(ctx: Ctx, req: Request) -> Result:
    """GET /v1/comments?block_id=…"""
    raw = req.query_one("block_id")
    if raw is None:
        v.fail("query.block_id", "should be defined", v.UNDEFINED)
    target = find(ctx, v.id_value(raw, "query.block_id"), Page, Block, label="block")
    comments = sorted(
        (c for c in ctx.store.all_of(Comment) if c.parent_id == target.id), key=lambda c: c.seq
    )
    chunk, cursor, more, _ = paginate(
        comments, start_cursor_param(req), page_size_param(req), lambda c: c.id
    )
    return list_json([comment_json(ctx, c) for c in chunk], cursor, more, "comment")


def _comment(ctx: Ctx, req: Request) -> Comment:
    return find(ctx, v.path_id(req.params["comment_id"], "comment_id"), Comment)


def retrieve_comment(ctx: Ctx, req: Request) -> Result:
    """GET /v1/comments/{comment_id}"""
    return comment_json(ctx, _comment(ctx, req))


def update_comment(ctx: Ctx, req: Request) -> Result:
    """PATCH /v1/comments/{comment_id} (only the author may edit)."""
    comment = _comment(ctx, req)
    if comment.created_by != ctx.user_id:
        raise NotionValidationError("Only the author of a comment can edit it.")
    comment.rich_text = normalize_rich_text(
        v.member(req.body, "rich_text", "body"), "body.rich_text", lookup=mention_lookup(ctx)
    )
    stamp(ctx, comment)
    ctx.store.touch(comment)
    return comment_json(ctx, comment)


def delete_comment(ctx: Ctx, req: Request) -> Result:
    """DELETE /v1/comments/{comment_id} (only the author may delete)."""
    comment = _comment(ctx, req)
    if comment.created_by != ctx.user_id:
        raise NotionValidationError("Only the author of a comment can delete it.")
    out = comment_json(ctx, comment)
    ctx.store.remove(comment)
    return out


ROUTES = [
    Route("POST", "/v1/comments", create_comment),
    Route("GET", "/v1/comments", list_comments),
    Route("GET", "/v1/comments/{comment_id}", retrieve_comment),
    Route("PATCH", "/v1/comments/{comment_id}", update_comment),
    Route("DELETE", "/v1/comments/{comment_id}", delete_comment),
]
