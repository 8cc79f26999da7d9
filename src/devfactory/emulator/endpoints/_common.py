"""Helpers shared by the endpoint modules: pagination parameters and the route type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devfactory.emulator import validation as v
from devfactory.emulator.context import Ctx, Request
from devfactory.emulator.model import DataSource
from devfactory.emulator.schema import find_property
from devfactory.errors import NotionValidationError

__all__ = [
    "Handler",
    "Result",
    "Route",
    "filter_properties_param",
    "page_size_param",
    "start_cursor_param",
]

Result = dict[str, Any] | tuple[int, dict[str, Any]]
Handler = Callable[[Ctx, Request], Result]
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Route:
    """One API route: method, Starlette path pattern, handler, and response options."""

    method: str
    path: str
    handler: Handler
    request_id: bool = True  # add "request_id" to the success body (most endpoints do)
    read_only: bool = False  # a POST that only reads (queries, search)

    @property
    def capability(self) -> str:
        """The integration capability this route needs (Notion's capability names)."""
        if self.path.startswith("/v1/users"):
            return "read_user_without_email"
        if self.path.startswith("/v1/comments"):
            return "read_comments" if self.method == "GET" else "insert_comments"
        if self.method == "GET" or self.read_only:
            return "read_content"
        creates = self.method == "POST" and not self.path.endswith("/move")
        appends = self.method == "PATCH" and self.path.endswith("/children")
        return "insert_content" if creates or appends else "update_content"


def page_size_param(req: Request, *, in_body: bool = False) -> int:
    """``page_size`` from the query string (GET) or body (POST): 1..100, default 100."""
    if in_body:
        raw: Any = req.body.get("page_size", MAX_PAGE_SIZE)
        return v.integer(raw, "body.page_size", minimum=1, maximum=MAX_PAGE_SIZE)
    text = req.query_one("page_size")
    if text is None:
        return MAX_PAGE_SIZE
    try:
        value = int(text)
    except ValueError:
        v.fail("query.page_size", "should be a number", text)
    return v.integer(value, "query.page_size", minimum=1, maximum=MAX_PAGE_SIZE)


def start_cursor_param(req: Request, *, in_body: bool = False) -> str | None:
    """``start_cursor`` from the query string or body."""
    if in_body:
        raw = req.body.get("start_cursor")
        return None if raw is None else v.string(raw, "body.start_cursor", max_length=200)
    return req.query_one("start_cursor")


def filter_properties_param(req: Request, ds: DataSource | None) -> set[str] | None:
    """Property ids named by ``filter_properties`` (ids or names); None when absent.

    Pages outside a data source have only ``title``.
    """
    wanted = req.query.get("filter_properties") or req.query.get("filter_properties[]")
    if not wanted:
        return None
    ids: set[str] = set()
    for key in wanted:
        if ds is not None:
            prop = find_property(ds, key)
        else:
            prop = {"id": "title"} if key == "title" else None
        if prop is None:
            raise NotionValidationError(f"Could not find property with name or id: {key}")
        ids.add(prop["id"])
    return ids
