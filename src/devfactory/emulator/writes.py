"""Writing pages: property values (with dual relations kept in sync), ids, trash, positions.

Shared by the page, block and data source endpoints so every path that changes a row
follows the same rules.
"""

from __future__ import annotations

from typing import Any

from devfactory.emulator import validation as v
from devfactory.emulator.context import Ctx
from devfactory.emulator.model import DataSource, Owned, Page
from devfactory.emulator.schema import find_property
from devfactory.emulator.values import parse_value
from devfactory.errors import NotionValidationError

__all__ = [
    "assign_unique_ids",
    "check_editable",
    "parse_trash_flag",
    "set_row_properties",
    "stamp",
]


def stamp(ctx: Ctx, record: Owned, *, created: bool = False) -> None:
    """Mark ``record`` as edited now by the requesting bot (and created, for new records)."""
    record.last_edited_time = ctx.now
    record.last_edited_by = ctx.user_id
    if created:
        record.created_time = ctx.now
        record.created_by = ctx.user_id
        record.owner = ctx.integration.id
        record.seq = ctx.store.next_seq()


def parse_trash_flag(ctx: Ctx, body: dict[str, Any], path: str = "body") -> bool | None:
    """``in_trash`` (or, before 2026-03-11, ``archived``) from a body; None if absent."""
    flag: bool | None = None
    if "archived" in body:
        if ctx.modern:
            v.fail(
                f"{path}.archived",
                "should be not present (use `in_trash` since 2026-03-11)",
                body["archived"],
            )
        flag = v.boolean(body["archived"], f"{path}.archived")
    if "in_trash" in body:
        value = v.boolean(body["in_trash"], f"{path}.in_trash")
        if flag is not None and flag != value:
            raise NotionValidationError(
                "body failed validation: `archived` and `in_trash` disagree."
            )
        flag = value
    return flag


def check_editable(ctx: Ctx, record: Owned) -> None:
    """Notion refuses edits to trashed objects until they are restored."""
    if record.in_trash:
        raise NotionValidationError(
            "Can't edit block that is archived. You must unarchive the block before editing."
        )


def _sync_relation(
    ctx: Ctx, ds: DataSource, page: Page, prop: dict[str, Any], old: list[str], new: list[str]
) -> None:
    """Mirror a dual relation change onto the related pages' back property."""
    config = prop["config"]
    if config.get("type") != "dual_property":
        return
    back_id = config.get("synced_property_id")
    if not back_id:
        return
    for removed in set(old) - set(new):
        other = ctx.store.get(removed)
        if isinstance(other, Page):
            linked = other.properties.get(back_id) or []
            if page.id in linked:
                other.properties[back_id] = [x for x in linked if x != page.id]
                ctx.store.touch(other)
    for added in new:
        if added in old:
            continue
        other = ctx.store.get(added)
        if isinstance(other, Page):
            linked = other.properties.setdefault(back_id, [])
            if page.id not in linked:
                linked.append(page.id)
                ctx.store.touch(other)


def set_row_properties(ctx: Ctx, ds: DataSource, page: Page, raw: Any, path: str) -> None:
    """Validate and write property values of a row (keys are names or ids)."""
    values = v.obj(raw, path)
    parsed: list[tuple[dict[str, Any], Any]] = []
    for key, value in values.items():
        prop = find_property(ds, key)
        if prop is None:
            raise NotionValidationError(f"{key} is not a property that exists.")
        parsed.append((prop, parse_value(ctx, ds, prop, value, f"{path}.{key}", page.id)))
    for prop, value in parsed:
        if prop["type"] == "relation":
            old = page.properties.get(prop["id"]) or []
            _sync_relation(ctx, ds, page, prop, old, value)
        page.properties[prop["id"]] = value


def assign_unique_ids(ctx: Ctx, ds: DataSource, page: Page) -> None:
    """Give a new row the next number of the data source's unique_id property."""
    for prop in ds.properties.values():
        if prop["type"] == "unique_id" and prop["id"] not in page.properties:
            config = prop["config"]
            page.properties[prop["id"]] = config.get("next", 1)
            config["next"] = config.get("next", 1) + 1
            ctx.store.touch(ds)


def set_page_title(ctx: Ctx, page: Page, raw: Any, path: str) -> None:
    """Properties of a non-row page: only ``title`` exists."""
    values = v.obj(raw, path)
    for key, value in values.items():
        if key != "title":
            raise NotionValidationError(
                f"body failed validation: {path}.{key}: a page that is not in a data source has only a `title` property."
            )
        page.properties["title"] = parse_value(
            ctx,
            None,
            {"id": "title", "name": "title", "type": "title", "config": {}},
            value,
            f"{path}.title",
            page.id,
        )
