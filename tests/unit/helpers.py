"""A request context over an in-memory store, for unit tests of the pure-ish core."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from devfactory.emulator.clock import Clock
from devfactory.emulator.context import Ctx
from devfactory.emulator.ids import new_id
from devfactory.emulator.model import Database, DataSource, Page
from devfactory.emulator.schema import apply_properties
from devfactory.emulator.store import Store
from devfactory.emulator.workspace import create_integration, ensure_workspace

NOW = datetime(2026, 3, 18, 15, 30, tzinfo=UTC)  # a Wednesday


def make_ctx(version: str = "2025-09-03") -> Ctx:
    store = Store(None)
    ensure_workspace(store)
    created = create_integration(store, "unit", "ntn_unit_test_token")
    return Ctx(
        store=store,
        clock=Clock(),
        version=version,
        integration=created.integration,
        request_id="r",
        base_url="http://local",
        now=NOW.timestamp(),
    )


def make_ds(ctx: Ctx, properties: dict[str, Any], title: str = "DB") -> DataSource:
    with ctx.store.transaction():
        db = ctx.store.add(Database(id=new_id(), owner=ctx.integration.id))
        ds = ctx.store.add(
            DataSource(
                id=new_id(), parent_type="database_id", parent_id=db.id, owner=ctx.integration.id
            )
        )
        db.data_source_ids.append(ds.id)
        apply_properties(ctx, ds, properties, "body.properties", creating=True)
    return ds


def add_row(ctx: Ctx, ds: DataSource, values: dict[str, Any]) -> Page:
    from devfactory.emulator.writes import assign_unique_ids, set_row_properties

    with ctx.store.transaction():
        page = Page(
            id=new_id(),
            parent_type="data_source_id",
            parent_id=ds.id,
            owner=ctx.integration.id,
            seq=ctx.store.next_seq(),
        )
        page.created_time = page.last_edited_time = ctx.now
        set_row_properties(ctx, ds, page, values, "body.properties")
        page.properties.setdefault("title", [])
        assign_unique_ids(ctx, ds, page)
        ctx.store.add(page)
    return page
