"""Records -> API objects, in the shape of the Notion-Version being spoken.

2025-09-03 answers carry both ``in_trash`` and its deprecated twin ``archived``;
2026-03-11 answers drop ``archived``. Key order follows recorded Notion responses.
"""

from __future__ import annotations

import re
from typing import Any

from devfactory.emulator.clock import iso_minute, iso_ms
from devfactory.emulator.compute import render_value
from devfactory.emulator.context import Ctx
from devfactory.emulator.ids import compact
from devfactory.emulator.model import (
    Block,
    Comment,
    Database,
    DataSource,
    FileUpload,
    Owned,
    Page,
    Record,
    User,
    View,
)
from devfactory.emulator.richtext import plain_text
from devfactory.emulator.schema import render_properties
from devfactory.emulator.values import user_json

__all__ = [
    "block_json",
    "comment_json",
    "data_source_json",
    "database_json",
    "file_upload_json",
    "list_json",
    "page_json",
    "parent_json",
    "user_full_json",
    "view_json",
]

_SLUG = re.compile(r"[^0-9A-Za-z]+")


def _trash(ctx: Ctx, out: dict[str, Any], in_trash: bool) -> dict[str, Any]:
    if not ctx.modern:
        out["archived"] = in_trash
    return out


def parent_json(ctx: Ctx, record: Owned) -> dict[str, Any]:
    """The ``parent`` object of a page, block, database or comment."""
    kind, pid = record.parent_type, record.parent_id
    if kind == "workspace" or pid is None:
        return {"type": "workspace", "workspace": True}
    if kind == "data_source_id":
        ds = ctx.store.get(pid)
        return {
            "type": "data_source_id",
            "data_source_id": pid,
            "database_id": ds.parent_id if isinstance(ds, DataSource) else None,
        }
    return {"type": kind, kind: pid}


def _url(ctx: Ctx, title: str, object_id: str) -> str:
    slug = _SLUG.sub("-", title).strip("-")
    return f"{ctx.base_url}/p/{slug + '-' if slug else ''}{compact(object_id)}"


def page_title(page: Page) -> str:
    """Plain title of a page (the title property of a row, or ``title`` of a page)."""
    return plain_text(page.properties.get("title"))


def page_properties(ctx: Ctx, page: Page, only: set[str] | None = None) -> dict[str, Any]:
    """The ``properties`` object of a page; ``only`` limits it to some property ids."""
    if page.parent_type == "data_source_id" and page.parent_id:
        ds = ctx.store.get(page.parent_id)
        if isinstance(ds, DataSource):
            return {
                prop["name"]: render_value(ctx, ds, page, prop)
                for prop in ds.properties.values()
                if only is None or prop["id"] in only or prop["name"] in only
            }
    if only is not None and "title" not in only:
        return {}
    return {"title": {"id": "title", "type": "title", "title": page.properties.get("title", [])}}


def page_json(ctx: Ctx, page: Page, *, only: set[str] | None = None) -> dict[str, Any]:
    """A page object."""
    out = {
        "object": "page",
        "id": page.id,
        "created_time": iso_minute(page.created_time),
        "last_edited_time": iso_minute(page.last_edited_time),
        "created_by": user_json(ctx, page.created_by),
        "last_edited_by": user_json(ctx, page.last_edited_by),
        "cover": page.cover,
        "icon": page.icon,
        "parent": parent_json(ctx, page),
        "in_trash": page.in_trash,
        "is_archived": page.in_trash,
        "is_locked": page.is_locked,
        "properties": page_properties(ctx, page, only),
        "url": _url(ctx, page_title(page), page.id),
        "public_url": None,
    }
    return _trash(ctx, out, page.in_trash)


def database_json(ctx: Ctx, db: Database) -> dict[str, Any]:
    """A database object (2025-09-03: a container listing its data sources)."""
    sources = []
    for ds_id in db.data_source_ids:
        ds = ctx.store.get(ds_id)
        if isinstance(ds, DataSource):
            sources.append({"id": ds.id, "name": plain_text(ds.title)})
    out = {
        "object": "database",
        "id": db.id,
        "title": db.title,
        "description": db.description,
        "parent": parent_json(ctx, db),
        "is_inline": db.is_inline,
        "in_trash": db.in_trash,
        "is_locked": db.is_locked,
        "created_time": iso_ms(db.created_time),
        "last_edited_time": iso_ms(db.last_edited_time),
        "data_sources": sources,
        "icon": db.icon,
        "cover": db.cover,
        "url": _url(ctx, "", db.id),
        "public_url": None,
    }
    return _trash(ctx, out, db.in_trash)


def data_source_json(ctx: Ctx, ds: DataSource) -> dict[str, Any]:
    """A data source object with its schema."""
    db = ctx.store.get(ds.parent_id) if ds.parent_id else None
    out = {
        "object": "data_source",
        "id": ds.id,
        "cover": ds.cover,
        "icon": ds.icon,
        "created_time": iso_minute(ds.created_time),
        "created_by": user_json(ctx, ds.created_by),
        "last_edited_by": user_json(ctx, ds.last_edited_by),
        "last_edited_time": iso_minute(ds.last_edited_time),
        "title": ds.title,
        "description": ds.description,
        "is_inline": db.is_inline if isinstance(db, Database) else False,
        "properties": render_properties(ctx, ds),
        "parent": {"type": "database_id", "database_id": ds.parent_id},
        "database_parent": parent_json(ctx, db)
        if isinstance(db, Database)
        else {"type": "workspace", "workspace": True},
        "url": _url(ctx, "", ds.parent_id or ds.id),
        "public_url": None,
        "in_trash": ds.in_trash,
    }
    return _trash(ctx, out, ds.in_trash)


def _has_children(ctx: Ctx, children: list[str]) -> bool:
    for child_id in children:
        child = ctx.store.get(child_id)
        if isinstance(child, Owned) and not child.in_trash:
            return True
    return False


def block_json(ctx: Ctx, record: Record) -> dict[str, Any]:
    """A block object; pages and databases appear as ``child_page`` / ``child_database``."""
    assert isinstance(record, Owned)
    if isinstance(record, Page):
        kind, content, children = "child_page", {"title": page_title(record)}, record.children
    elif isinstance(record, Database):
        kind, content, children = "child_database", {"title": plain_text(record.title)}, []
    else:
        assert isinstance(record, Block)
        kind, content, children = record.type, record.content, record.children
    out = {
        "object": "block",
        "id": record.id,
        "parent": parent_json(ctx, record),
        "created_time": iso_minute(record.created_time),
        "last_edited_time": iso_minute(record.last_edited_time),
        "created_by": user_json(ctx, record.created_by),
        "last_edited_by": user_json(ctx, record.last_edited_by),
        "has_children": _has_children(ctx, children),
        "in_trash": record.in_trash,
        "type": kind,
        kind: content,
    }
    return _trash(ctx, out, record.in_trash)


def user_full_json(ctx: Ctx, user: User) -> dict[str, Any]:
    """A user object as users list / retrieve / me show it."""
    avatar = user.avatar_url
    if avatar is None and user.type == "person":
        avatar = f"{ctx.base_url}/__avatars/{user.id}.svg"
    out: dict[str, Any] = {
        "object": "user",
        "id": user.id,
        "name": user.name,
        "avatar_url": avatar,
        "type": user.type,
    }
    if user.type == "person":
        with_email = "read_user_with_email" in ctx.integration.capabilities
        out["person"] = {"email": user.email, "email_verified": True} if with_email else {}
    else:
        out["bot"] = {
            "owner": {"type": "workspace", "workspace": True},
            "workspace_name": ctx.store.meta.get("workspace_name", "devfactory"),
            "workspace_id": ctx.store.meta.get("workspace_id"),
            "workspace_limits": {"max_file_upload_size_in_bytes": 5_242_880},
        }
    return out


def comment_json(ctx: Ctx, comment: Comment) -> dict[str, Any]:
    """A comment object."""
    out: dict[str, Any] = {
        "object": "comment",
        "id": comment.id,
        "parent": parent_json(ctx, comment),
        "discussion_id": comment.discussion_id,
        "created_time": iso_minute(comment.created_time),
        "last_edited_time": iso_minute(comment.last_edited_time),
        "created_by": user_json(ctx, comment.created_by),
        "rich_text": comment.rich_text,
    }
    if comment.attachments:
        out["attachments"] = comment.attachments
    out["display_name"] = comment.display_name or {
        "type": "integration",
        "resolved_name": ctx.integration.name,
    }
    return out


def view_json(ctx: Ctx, view: View) -> dict[str, Any]:
    """A view object."""
    return {
        "object": "view",
        "id": view.id,
        "parent": {"type": "database_id", "database_id": view.parent_id},
        "data_source_id": view.data_source_id,
        "name": view.name,
        "type": view.type,
        "created_time": iso_ms(view.created_time),
        "created_by": user_json(ctx, view.created_by),
        "last_edited_time": iso_ms(view.last_edited_time),
        "last_edited_by": user_json(ctx, view.last_edited_by),
        "url": f"{_url(ctx, '', view.parent_id or view.id)}?v={compact(view.id)}",
        "filter": view.filter,
        "sorts": view.sorts,
        "quick_filters": view.quick_filters,
        "configuration": view.configuration or {"type": view.type},
    }


def file_upload_json(ctx: Ctx, upload: FileUpload) -> dict[str, Any]:
    """A file upload object; ``upload_url`` only while it can still be sent."""
    out: dict[str, Any] = {
        "object": "file_upload",
        "id": upload.id,
        "created_time": iso_minute(upload.created_time),
        "created_by": {"id": upload.created_by, "type": "bot"},
        "last_edited_time": iso_minute(upload.last_edited_time),
        "expiry_time": iso_minute(upload.expiry_time),
    }
    if upload.status == "pending":
        out["upload_url"] = f"{ctx.base_url}/v1/file_uploads/{upload.id}/send"
        if upload.mode == "multi_part":
            out["complete_url"] = f"{ctx.base_url}/v1/file_uploads/{upload.id}/complete"
    out["in_trash"] = upload.in_trash
    out["status"] = upload.status
    out["filename"] = upload.filename
    out["content_type"] = upload.content_type
    out["content_length"] = upload.content_length
    if upload.mode == "multi_part":
        out["number_of_parts"] = {"total": upload.number_of_parts, "sent": len(upload.parts_sent)}
    if upload.mode == "external_url" and upload.status == "uploaded":
        out["file_import_result"] = {
            "type": "success",
            "success": {},
            "imported_time": iso_ms(upload.last_edited_time),
        }
    return _trash(ctx, out, upload.in_trash)


def list_json(
    results: list[dict[str, Any]], next_cursor: str | None, has_more: bool, kind: str
) -> dict[str, Any]:
    """Notion's list envelope."""
    return {
        "object": "list",
        "results": results,
        "next_cursor": next_cursor,
        "has_more": has_more,
        "type": kind,
        kind: {},
    }
