"""The REST API under ``/api/v1``: logs, operations, metrics, approvals, deployments, drift,
verification.

Every route needs a caller (:data:`~devfactory.web.auth.Caller`); reading is open to every
role, reviewing approvals needs ``operator`` or ``admin``. Routes that touch the store are
plain ``def`` functions, so FastAPI runs them on its thread pool and the event loop (the
live streams) never waits on the database.

Log pages go newest first; ``next_cursor`` (opaque) asks for the page after. The log store
has no id bound of its own, so a cursor is the last line's time and id: the next page asks
for lines up to that time and drops the ones already shown.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from devfactory.errors import ApprovalError
from devfactory.gate.approvals import Approval, Status
from devfactory.mcp.access import Principal, review_problem
from devfactory.obs.events import GateApproved, GateDenied
from devfactory.obs.log import get_logger
from devfactory.obs.logstore import LogQuery
from devfactory.web import inventory
from devfactory.web.auth import Caller, audit, requires
from devfactory.web.context import WebContext, context_of
from devfactory.web.drift import DriftChecker
from devfactory.web.errors import BadRequest, Conflict, Forbidden, NotFound
from devfactory.web.summary import summary

__all__ = ["Ctx", "Filters", "Level", "LogFilters", "Review", "Stream", "router"]

router = APIRouter(prefix="/api/v1")
_audit = get_logger("web", stream="audit")

Level = Literal["debug", "info", "warning", "error", "critical"]
Stream = Literal["operations", "audit", "gate", "errors", "performance"]
Reviewer = Annotated[Principal, Depends(requires("operator"))]


class Review(BaseModel):
    """The body of an approve or deny: an optional note for the record."""

    note: str | None = Field(default=None, max_length=2000)


def _ctx(request: Request) -> WebContext:
    return context_of(request)


Ctx = Annotated[WebContext, Depends(_ctx)]


@dataclass
class LogFilters:
    """The filters a log search and its volume histogram share (query parameters)."""

    q: Annotated[str | None, Query(description='Words to find (``term*``, ``"a phrase"``).')] = None
    level: Annotated[Level | None, Query(description="Minimum level.")] = None
    stream: Annotated[list[Stream] | None, Query(description="One or more streams.")] = None
    component: str | None = None
    op: Annotated[str | None, Query(description="An operation id.")] = None

    def query(self, since: datetime | None, until: datetime | None, limit: int = 100) -> LogQuery:
        """These filters over ``since <= time < until``."""
        return LogQuery(
            text=self.q,
            level=self.level,
            stream=self.stream or None,
            component=self.component,
            operation_id=self.op,
            since=since,
            until=until,
            limit=limit,
        )


Filters = Annotated[LogFilters, Depends()]


@router.get("/me", tags=["auth"])
def me(caller: Caller) -> dict[str, Any]:
    """Who the key or session belongs to, and its role and database grants."""
    return {"name": caller.name, "role": caller.role, "databases": caller.databases}


# -- logs ------------------------------------------------------------------------------------


def _cursor(record: dict[str, Any]) -> str:
    stamp = record.get("timestamp")
    moment = stamp if isinstance(stamp, str) else ""
    return base64.urlsafe_b64encode(f"{record['_id']}|{moment}".encode()).decode()


def _uncursor(cursor: str) -> tuple[int, datetime | None]:
    try:
        ident, _, stamp = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return int(ident), datetime.fromisoformat(stamp) if stamp else None
    except ValueError as exc:
        raise BadRequest("invalid cursor: pass back next_cursor from the previous page") from exc


@router.get("/logs", tags=["logs"])
def logs(
    caller: Caller,
    ctx: Ctx,
    filters: Filters,
    since: Annotated[datetime | None, Query(description="ISO 8601; naive is UTC.")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> dict[str, Any]:
    """Search the log store, newest first; ``next_cursor`` is null on the last page."""
    before: int | None = None
    if cursor is not None:
        before, stamp = _uncursor(cursor)
        if stamp is not None:
            # Up to the cursor's time, inclusive: ``until`` is exclusive, so nudge it.
            edge = stamp + timedelta(microseconds=1)
            until = edge if until is None or edge < until else until
    lines: list[dict[str, Any]] = []
    want = limit + 1
    extra = 0
    while True:
        query = filters.query(since, until, want + extra)
        found = ctx.logs.search(query)
        lines = [r for r in found if before is None or r["_id"] < before]
        if len(lines) >= want or len(found) < query.limit:
            break
        extra = max(2 * extra, 100)
    page = lines[:limit]
    more = len(lines) > limit
    return {"lines": page, "next_cursor": _cursor(page[-1]) if more and page else None}


@router.get("/logs/tail", tags=["logs"])
def tail(
    caller: Caller,
    ctx: Ctx,
    after: Annotated[int | None, Query(ge=0, description="The last _id seen.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Lines stored after ``after`` (oldest first); without it, the latest ``limit``."""
    lines = ctx.logs.tail(after, limit)
    return {"lines": lines, "last_id": lines[-1]["_id"] if lines else after}


@router.get("/operations/{operation_id}", tags=["logs"])
def operation(caller: Caller, ctx: Ctx, operation_id: str) -> dict[str, Any]:
    """The lines of one operation and its descendants, in time order."""
    lines = ctx.logs.operation_tree(operation_id)
    if not lines:
        raise NotFound(f"no log lines for operation {operation_id!r}")
    return {"operation_id": operation_id, "lines": lines}


# -- metrics ---------------------------------------------------------------------------------


@router.get("/metrics/summary", tags=["metrics"])
def metrics_summary(caller: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    """Calls per minute, success rate, p50/p95 latency, retries, 429s, approvals, CPU, memory."""
    pending = int(
        ctx.store.execute("SELECT COUNT(*) FROM approvals WHERE status = 'pending'")[0][0]
    )
    return summary(request.app.state.calls, pending)


# -- approvals -------------------------------------------------------------------------------


@router.get("/approvals", tags=["approvals"])
def approvals(
    caller: Caller,
    ctx: Ctx,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Approvals newest first, only those in ``status`` when given."""
    return {"approvals": [a.to_dict() for a in ctx.approvals.list(status, limit=limit)]}


def _approval(ctx: WebContext, approval_id: str) -> Approval:
    try:
        return ctx.approvals.get(approval_id)
    except ApprovalError as exc:
        raise NotFound(str(exc)) from exc


@router.get("/approvals/{approval_id}", tags=["approvals"])
def approval(caller: Caller, ctx: Ctx, approval_id: str) -> dict[str, Any]:
    """One approval with the call, the gate's signals and reasons, and its review."""
    return _approval(ctx, approval_id).to_dict()


def _review(
    request: Request,
    ctx: WebContext,
    reviewer: Principal,
    approval_id: str,
    verdict: str,
    note: str | None,
) -> dict[str, Any]:
    found = _approval(ctx, approval_id)
    problem = review_problem(reviewer, found.call.server, found.call.arguments)
    if problem is not None:
        audit(request, "denied", principal=reviewer, via="review", reason=problem)
        raise Forbidden(f"{problem}: ask someone with that grant to review {found.id}")
    try:
        if verdict == "approved":
            ctx.approvals.approve(found.id, reviewer.name, note)
        else:
            ctx.approvals.deny(found.id, reviewer.name, note)
    except ApprovalError as exc:
        raise Conflict(str(exc)) from exc
    _audit.info(
        "web.review",
        approval_id=found.id,
        tool=found.call.tool,
        server=found.call.server,
        decision=verdict,
        reviewer=reviewer.name,
        path=request.url.path,
    )
    event = (
        GateApproved(approval_id=found.id, reviewer=reviewer.name, note=note)
        if verdict == "approved"
        else GateDenied(approval_id=found.id, reviewer=reviewer.name, note=note)
    )
    ctx.bus.publish_threadsafe(event)
    return _approval(ctx, found.id).to_dict()


@router.post("/approvals/{approval_id}/approve", tags=["approvals"])
def approve(
    request: Request, reviewer: Reviewer, ctx: Ctx, approval_id: str, body: Review | None = None
) -> dict[str, Any]:
    """Let a halted call run once (operator or admin); 409 if no longer pending."""
    return _review(request, ctx, reviewer, approval_id, "approved", body.note if body else None)


@router.post("/approvals/{approval_id}/deny", tags=["approvals"])
def deny(
    request: Request, reviewer: Reviewer, ctx: Ctx, approval_id: str, body: Review | None = None
) -> dict[str, Any]:
    """Refuse a halted call (operator or admin); 409 if no longer pending."""
    return _review(request, ctx, reviewer, approval_id, "denied", body.note if body else None)


# -- deployments -----------------------------------------------------------------------------


@router.get("/deployments", tags=["deployments"])
def deployments(
    caller: Caller, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """Apply reports under ``$DEVFACTORY_HOME/reports``, newest first."""
    return {"deployments": inventory.deployments(ctx.settings.home, limit=limit)}


@router.get("/drift", tags=["deployments"])
async def drift(
    caller: Caller,
    request: Request,
    refresh: Annotated[bool, Query(description="Check now instead of the last minute's.")] = False,
) -> dict[str, Any]:
    """What an apply would change now, per watched spec and environment (``devfactory web
    --spec SPEC --env ENV``): drift made outside devfactory, changes the spec brings, and
    failed checks; ``error`` says why a workspace could not be checked."""
    checker: DriftChecker = request.app.state.drift
    return {"drift": await checker.check(refresh=refresh)}


@router.get("/backups", tags=["deployments"])
def backups(caller: Caller, ctx: Ctx) -> dict[str, Any]:
    """Encrypted backups under ``$DEVFACTORY_HOME/backups`` with their restore command."""
    return {"backups": inventory.backups(ctx.settings.home)}


@router.get("/verification", tags=["deployments"])
def verification(caller: Caller, ctx: Ctx) -> dict[str, Any]:
    """The latest run of each verification suite per workspace and environment, with every
    check's id, description and result (``devfactory verify --suite``)."""
    return {"verification": inventory.latest_verification(ctx.settings.home)}


@router.get("/databases", tags=["deployments"])
def databases(caller: Caller, ctx: Ctx) -> dict[str, Any]:
    """Logical databases of the deploy states that the caller may read, with its level."""
    return {"databases": inventory.databases(ctx.settings.home, caller)}
