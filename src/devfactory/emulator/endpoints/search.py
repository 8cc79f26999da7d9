"""Search: pages and data sources the integration can see, by title."""

from __future__ import annotations

from typing import Any

from devfactory.emulator import validation as v
from devfactory.emulator.access import trashed, visible
from devfactory.emulator.context import Ctx, Request
from devfactory.emulator.endpoints._common import Result, Route, page_size_param, start_cursor_param
from devfactory.emulator.model import DataSource, Owned, Page
from devfactory.emulator.query import paginate
from devfactory.emulator.render import data_source_json, list_json, page_json, page_title
from devfactory.emulator.richtext import plain_text

__all__ = ["ROUTES"]


def search(ctx: Ctx, req: Request) -> Result:
    """POST /v1/search"""
    body = req.body
    query = (
        v.string(body.get("query", ""), "body.query", max_length=2000)
        if body.get("query") is not None
        else ""
    )
    want: str | None = None
    in_trash = False
    if body.get("filter") is not None:
        flt = v.obj(body["filter"], "body.filter")
        if "value" in flt or "property" in flt:
            v.choice(v.member(flt, "property", "body.filter"), "body.filter.property", ("object",))
            want = v.choice(
                v.member(flt, "value", "body.filter"), "body.filter.value", ("page", "data_source")
            )
        if "in_trash" in flt:
            in_trash = v.boolean(flt["in_trash"], "body.filter.in_trash")
    direction = "descending"
    by_relevance = False
    if body.get("sort") is not None:
        sort = v.obj(body["sort"], "body.sort")
        direction = v.choice(
            sort.get("direction", "descending"), "body.sort.direction", ("ascending", "descending")
        )
        if "timestamp" in sort:
            v.choice(sort["timestamp"], "body.sort.timestamp", ("last_edited_time",))
        elif sort.get("property") == "relevance":
            by_relevance = True
        else:
            v.fail("body.sort.timestamp", "should be defined", v.UNDEFINED)
    needle = query.casefold()
    found: list[tuple[Owned, str]] = []
    for record in ctx.store.records.values():
        if isinstance(record, Page):
            if want == "data_source":
                continue
            title = page_title(record)
        elif isinstance(record, DataSource):
            if want == "page":
                continue
            title = plain_text(record.title)
        else:
            continue
        if record.in_trash != in_trash or (needle and needle not in title.casefold()):
            continue
        if visible(ctx, record) and (in_trash or not trashed(ctx, record)):
            found.append((record, title))
    if by_relevance and needle:
        found.sort(
            key=lambda rt: (
                rt[1].casefold() != needle,
                not rt[1].casefold().startswith(needle),
                -rt[0].last_edited_time,
                rt[0].seq,
            )
        )
    else:
        sign = -1 if direction == "descending" else 1
        found.sort(key=lambda rt: (sign * int(rt[0].last_edited_time // 60), sign * rt[0].seq))
    records = [r for r, _ in found]
    chunk, cursor, more, _ = paginate(
        records,
        start_cursor_param(req, in_body=True),
        page_size_param(req, in_body=True),
        lambda r: r.id,
    )
    results: list[dict[str, Any]] = [
        page_json(ctx, r) if isinstance(r, Page) else data_source_json(ctx, r) for r in chunk
    ]
    return list_json(results, cursor, more, "page_or_data_source")


ROUTES = [Route("POST", "/v1/search", search, read_only=True)]
