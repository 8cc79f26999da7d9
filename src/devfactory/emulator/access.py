"""Who sees what: an integration sees what it created, what was shared with it, and
everything below either; anything else is a 404, exactly as Notion answers."""

from __future__ import annotations

from typing import TypeVar

from devfactory.emulator.context import Ctx
from devfactory.emulator.model import (
    Block,
    Comment,
    Database,
    DataSource,
    FileUpload,
    Owned,
    Page,
    Record,
    View,
)
from devfactory.errors import ObjectNotFoundError

__all__ = ["find", "not_found", "parent_of", "trashed", "visible"]

R = TypeVar("R", bound=Record)
MAX_DEPTH = 256

_LABELS: dict[type[Record], str] = {
    Page: "page",
    Database: "database",
    DataSource: "data source",
    Block: "block",
    Comment: "comment",
    View: "view",
    FileUpload: "file upload",
}


def parent_of(ctx: Ctx, record: Record) -> Record | None:
    """The record's parent record (None at the workspace)."""
    if isinstance(record, DataSource):
        return ctx.store.get(record.parent_id) if record.parent_id else None
    if isinstance(record, Owned) and record.parent_id:
        return ctx.store.get(record.parent_id)
    return None


def visible(ctx: Ctx, record: Record) -> bool:
    """Whether the requesting integration may see ``record``."""
    me = ctx.integration.id
    shares = ctx.store.shares
    current: Record | None = record
    depth = 0
    while current is not None and depth < MAX_DEPTH:
        if isinstance(current, Owned) and current.owner == me:
            return True
        if (current.id, me) in shares:
            return True
        current = parent_of(ctx, current)
        depth += 1
    return False


def trashed(ctx: Ctx, record: Record) -> bool:
    """Whether ``record`` or any ancestor is in the trash (trashing a database or a page
    takes everything below it out of search and listings)."""
    current: Record | None = record
    depth = 0
    while current is not None and depth < MAX_DEPTH:
        if isinstance(current, Owned) and current.in_trash:
            return True
        current = parent_of(ctx, current)
        depth += 1
    return False


def not_found(ctx: Ctx, label: str, object_id: str) -> ObjectNotFoundError:
    """Notion's 404 for an object that does not exist or is not shared."""
    return ObjectNotFoundError(
        f"Could not find {label} with ID: {object_id}. Make sure the relevant pages and "
        f'databases are shared with your integration "{ctx.integration.name}".',
        additional_data={"integration_id": ctx.integration.id},
    )


def find(ctx: Ctx, object_id: str, *kinds: type[R], label: str | None = None) -> R:
    """The visible record of one of ``kinds`` with ``object_id``, or Notion's 404."""
    record = ctx.store.get(object_id)
    name = label or _LABELS.get(kinds[0], "object")
    if record is None or not isinstance(record, kinds):
        raise not_found(ctx, name, object_id)
    if not visible(ctx, record):
        # Shares may have been added by another process (the CLI) since we loaded them.
        ctx.store.refresh_shares(ctx.integration.id)
        if not visible(ctx, record):
            raise not_found(ctx, name, object_id)
    return record
