"""Block content: validating appended children and updates, per block type.

Requests name a block by its type key (``{"paragraph": {"rich_text": […]}}``); responses
carry the full content with defaults filled in. Children may nest two levels deep in one
request; at most 100 blocks go in one append.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devfactory.emulator import validation as v
from devfactory.emulator.context import Ctx
from devfactory.emulator.ids import new_id
from devfactory.emulator.model import Block, Database, Owned, Page
from devfactory.emulator.richtext import ANNOTATION_COLORS, normalize_rich_text
from devfactory.emulator.values import mention_lookup
from devfactory.errors import NotionValidationError

__all__ = [
    "BLOCK_TYPES",
    "ParsedBlock",
    "insert_children",
    "parse_children",
    "update_block_content",
]

_TEXT_BLOCKS = frozenset(
    [
        "paragraph",
        "heading_1",
        "heading_2",
        "heading_3",
        "heading_4",
        "bulleted_list_item",
        "numbered_list_item",
        "quote",
        "to_do",
        "toggle",
        "callout",
        "template",
    ]
)
_MEDIA = frozenset(["image", "video", "file", "pdf", "audio"])
_EMPTY = frozenset(["divider", "breadcrumb", "column_list", "column"])
BLOCK_TYPES = frozenset(
    _TEXT_BLOCKS
    | _MEDIA
    | _EMPTY
    | {
        "code",
        "equation",
        "child_page",
        "bookmark",
        "embed",
        "link_preview",
        "table_of_contents",
        "table",
        "table_row",
        "link_to_page",
        "synced_block",
    }
)
_CAN_NEST = frozenset(
    _TEXT_BLOCKS - {"heading_1", "heading_2", "heading_3", "heading_4"}
    | {"column_list", "column", "table", "synced_block", "child_page"}
)
MAX_CHILDREN = 100
MAX_DEPTH = 2
CODE_LANGUAGES_DEFAULT = "plain text"


@dataclass(slots=True)
class ParsedBlock:
    """A validated block from a request, ready to be stored."""

    type: str
    content: dict[str, Any]
    children: list[ParsedBlock] = field(default_factory=list)


def _color(body: dict[str, Any], path: str, default: str = "default") -> str:
    if "color" not in body:
        return default
    return v.choice(body["color"], f"{path}.color", ANNOTATION_COLORS)


def _icon(raw: Any, path: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    icon = v.obj(raw, path)
    kind = icon.get("type") or next(
        (k for k in ("emoji", "external", "file_upload", "custom_emoji") if k in icon), None
    )
    if kind == "emoji":
        return {
            "type": "emoji",
            "emoji": v.string(v.member(icon, "emoji", path), f"{path}.emoji", max_length=32),
        }
    if kind in ("external", "file_upload", "custom_emoji", "file"):
        body = v.obj(v.member(icon, kind, path), f"{path}.{kind}")
        if kind in ("external", "file"):
            v.string(v.member(body, "url", f"{path}.{kind}"), f"{path}.{kind}.url", max_length=2000)
        return {"type": kind, kind: body}
    v.fail(
        f"{path}.type",
        'should be one of `"emoji"`, `"external"`, `"file_upload"`, `"custom_emoji"`',
        icon.get("type", v.UNDEFINED),
    )


def parse_icon(raw: Any, path: str) -> dict[str, Any] | None:
    """An icon (emoji, external URL, file upload or custom emoji), or None to clear it."""
    return _icon(raw, path)


def parse_cover(raw: Any, path: str) -> dict[str, Any] | None:
    """A cover (external URL or file upload), or None to clear it."""
    if raw is None:
        return None
    cover = v.obj(raw, path)
    kind = cover.get("type") or next(
        (k for k in ("external", "file_upload", "file") if k in cover), None
    )
    if kind not in ("external", "file_upload", "file"):
        v.fail(f"{path}.external", "should be defined", v.UNDEFINED)
    body = v.obj(v.member(cover, kind, path), f"{path}.{kind}")
    if kind != "file_upload":
        v.string(v.member(body, "url", f"{path}.{kind}"), f"{path}.{kind}.url", max_length=2000)
    return {"type": kind, kind: body}


def _media(ctx: Ctx, body: dict[str, Any], path: str) -> dict[str, Any]:
    kind = body.get("type") or next(
        (k for k in ("external", "file_upload", "file") if k in body), None
    )
    if kind not in ("external", "file_upload", "file"):
        v.fail(f"{path}.external", "should be defined", v.UNDEFINED)
    inner = v.obj(v.member(body, kind, path), f"{path}.{kind}")
    caption = normalize_rich_text(
        body.get("caption", []), f"{path}.caption", lookup=mention_lookup(ctx)
    )
    if kind == "file_upload":
        upload_id = v.id_value(
            v.member(inner, "id", f"{path}.file_upload"), f"{path}.file_upload.id"
        )
        return {
            "caption": caption,
            "type": "file",
            "file": {"url": f"{ctx.base_url}/__files/{upload_id}", "expiry_time": None},
        }
    url = v.string(v.member(inner, "url", f"{path}.{kind}"), f"{path}.{kind}.url", max_length=2000)
    return {"caption": caption, "type": kind, kind: {"url": url}}


def _content(ctx: Ctx, kind: str, body: dict[str, Any], path: str) -> dict[str, Any]:
    """The response-shaped content of one block type from its request body."""
    lookup = mention_lookup(ctx)
    if kind in _TEXT_BLOCKS:
        rich_text = normalize_rich_text(
            v.member(body, "rich_text", path), f"{path}.rich_text", lookup=lookup
        )
        if kind == "paragraph":
            return {
                "rich_text": rich_text,
                "icon": _icon(body.get("icon"), f"{path}.icon"),
                "color": _color(body, path),
            }
        if kind.startswith("heading_"):
            toggle = v.boolean(body.get("is_toggleable", False), f"{path}.is_toggleable")
            return {"rich_text": rich_text, "is_toggleable": toggle, "color": _color(body, path)}
        if kind == "to_do":
            checked = v.boolean(body.get("checked", False), f"{path}.checked")
            return {"rich_text": rich_text, "checked": checked, "color": _color(body, path)}
        if kind == "callout":
            icon = _icon(body.get("icon", {"type": "emoji", "emoji": "💡"}), f"{path}.icon")
            return {
                "rich_text": rich_text,
                "icon": icon,
                "color": _color(body, path, "gray_background"),
            }
        if kind == "template":
            return {"rich_text": rich_text}
        return {"rich_text": rich_text, "color": _color(body, path)}
    if kind == "code":
        rich_text = normalize_rich_text(
            v.member(body, "rich_text", path), f"{path}.rich_text", lookup=lookup
        )
        caption = normalize_rich_text(body.get("caption", []), f"{path}.caption", lookup=lookup)
        language = v.string(
            body.get("language", CODE_LANGUAGES_DEFAULT), f"{path}.language", max_length=64
        )
        return {"caption": caption, "rich_text": rich_text, "language": language}
    if kind == "equation":
        return {
            "expression": v.string(
                v.member(body, "expression", path), f"{path}.expression", max_length=1000
            )
        }
    if kind in ("bookmark", "embed", "link_preview"):
        url = v.string(v.member(body, "url", path), f"{path}.url", max_length=2000)
        if kind == "link_preview":
            return {"url": url}
        return {
            "caption": normalize_rich_text(
                body.get("caption", []), f"{path}.caption", lookup=lookup
            ),
            "url": url,
        }
    if kind in _MEDIA:
        return _media(ctx, body, path)
    if kind == "table_of_contents":
        return {"color": _color(body, path)}
    if kind == "table":
        width = v.integer(
            v.member(body, "table_width", path), f"{path}.table_width", minimum=1, maximum=100
        )
        return {
            "table_width": width,
            "has_column_header": v.boolean(
                body.get("has_column_header", False), f"{path}.has_column_header"
            ),
            "has_row_header": v.boolean(
                body.get("has_row_header", False), f"{path}.has_row_header"
            ),
        }
    if kind == "table_row":
        cells = v.array(v.member(body, "cells", path), f"{path}.cells")
        return {
            "cells": [
                normalize_rich_text(c, f"{path}.cells[{i}]", lookup=lookup)
                for i, c in enumerate(cells)
            ]
        }
    if kind == "link_to_page":
        target_kind = body.get("type") or next(
            (k for k in ("page_id", "database_id") if k in body), None
        )
        if target_kind not in ("page_id", "database_id"):
            v.fail(f"{path}.page_id", "should be defined", v.UNDEFINED)
        return {
            "type": target_kind,
            target_kind: v.id_value(body[target_kind], f"{path}.{target_kind}"),
        }
    if kind == "synced_block":
        synced = body.get("synced_from")
        if synced is not None:
            ref = v.obj(synced, f"{path}.synced_from")
            synced = {
                "type": "block_id",
                "block_id": v.id_value(
                    v.member(ref, "block_id", f"{path}.synced_from"), f"{path}.synced_from.block_id"
                ),
            }
        return {"synced_from": synced}
    if kind == "child_page":
        return {"title": v.string(v.member(body, "title", path), f"{path}.title", max_length=2000)}
    return {}


def _block_type(raw: dict[str, Any], path: str) -> str:
    declared = raw.get("type")
    if declared is not None:
        kind = v.string(declared, f"{path}.type")
    else:
        present = [k for k in raw if k in BLOCK_TYPES or k == "child_database"]
        if len(present) != 1:
            raise NotionValidationError(
                f"body failed validation: {path} should have exactly one block type key such as `paragraph`."
            )
        kind = present[0]
    if kind == "child_database":
        raise NotionValidationError(
            f"body failed validation: {path}: create databases with POST /v1/databases, not as a block."
        )
    if kind not in BLOCK_TYPES:
        v.fail(f"{path}.type", "should be a supported block type", kind)
    return kind


def parse_children(ctx: Ctx, raw: Any, path: str, depth: int = 1) -> list[ParsedBlock]:
    """Validate an array of block requests (and their nested children)."""
    items = v.array(raw, path, max_items=MAX_CHILDREN)
    parsed: list[ParsedBlock] = []
    for i, item in enumerate(items):
        ipath = f"{path}[{i}]"
        block = v.obj(item, ipath)
        kind = _block_type(block, ipath)
        body = v.obj(block.get(kind, {}) if block.get(kind) is not None else {}, f"{ipath}.{kind}")
        content = _content(ctx, kind, body, f"{ipath}.{kind}")
        nested = body.get("children", block.get("children"))
        children: list[ParsedBlock] = []
        if nested is not None:
            if kind not in _CAN_NEST and not (
                kind.startswith("heading_") and content.get("is_toggleable")
            ):
                raise NotionValidationError(
                    f"body failed validation: {ipath}.{kind}.children: a {kind} block cannot have children."
                )
            if depth >= MAX_DEPTH and nested:
                raise NotionValidationError(
                    f"body failed validation: {ipath}.{kind}.children nests blocks more than {MAX_DEPTH} levels deep in one request."
                )
            children = parse_children(ctx, nested, f"{ipath}.{kind}.children", depth + 1)
        parsed.append(ParsedBlock(kind, content, children))
    return parsed


def _parent_ref(parent: Owned) -> tuple[str, str]:
    if isinstance(parent, Page):
        return "page_id", parent.id
    if isinstance(parent, Database):
        return "database_id", parent.id
    return "block_id", parent.id


def insert_children(
    ctx: Ctx, parent: Page | Block, parsed: list[ParsedBlock], index: int | None
) -> list[Owned]:
    """Create blocks (and child pages) under ``parent`` at ``index`` (None = at the end)."""
    created: list[Owned] = []
    ids: list[str] = []
    now = ctx.now
    ptype, pid = _parent_ref(parent)
    for item in parsed:
        record: Owned
        if item.type == "child_page":
            from devfactory.emulator.richtext import text_item

            record = Page(
                id=new_id(),
                parent_type=ptype,
                parent_id=pid,
                properties={
                    "title": [text_item(item.content["title"])] if item.content["title"] else []
                },
            )
        else:
            record = Block(
                id=new_id(), parent_type=ptype, parent_id=pid, type=item.type, content=item.content
            )
        record.created_time = record.last_edited_time = now
        record.created_by = record.last_edited_by = ctx.user_id
        record.owner = ctx.integration.id
        record.seq = ctx.store.next_seq()
        ctx.store.add(record)
        if item.children:
            assert isinstance(record, Page | Block)
            insert_children(ctx, record, item.children, None)
        created.append(record)
        ids.append(record.id)
    if index is None:
        parent.children.extend(ids)
    else:
        parent.children[index:index] = ids
    parent.last_edited_time = now
    parent.last_edited_by = ctx.user_id
    ctx.store.touch(parent)
    return created


def update_block_content(ctx: Ctx, block: Block, body: dict[str, Any], path: str) -> None:
    """Apply a PATCH to a block's content: same type only; given keys replace old ones."""
    present = [k for k in body if k in BLOCK_TYPES or k == "child_database"]
    if not present:
        return
    if len(present) > 1 or present[0] != block.type:
        raise NotionValidationError(
            f"body failed validation: {path}.{present[0]}: a block's type cannot change (this block is a {block.type})."
        )
    raw = v.obj(body[block.type] if body[block.type] is not None else {}, f"{path}.{block.type}")
    merged = {**_request_form(block), **raw}
    merged.pop("children", None)
    block.content = _content(ctx, block.type, merged, f"{path}.{block.type}")


def _request_form(block: Block) -> dict[str, Any]:
    """The block's current content as a request would state it (so updates can merge)."""
    content = dict(block.content)
    if block.type in _MEDIA and content.get("type") == "file":
        return {
            "caption": content.get("caption", []),
            "type": "external",
            "external": {"url": content["file"]["url"]},
        }
    return content
