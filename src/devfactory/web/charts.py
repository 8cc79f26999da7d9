"""Read-only chart data under ``/api/v1``: log volume and gate decisions over time.

Both come from the shared log store, so they include what other processes (the gateway,
the deploy engine) logged. Like :mod:`devfactory.web.api`, every route needs a caller and
runs on the thread pool (plain ``def``).

- ``GET /api/v1/logs/histogram``: how many lines match the filters of ``GET /api/v1/logs``
  in each of ``buckets`` equal slices of ``[since, until)`` (default: the last 15 minutes).
- ``GET /api/v1/gate/decisions``: the ``gate.decision`` lines of the gate stream in a
  range (default: the last 24 hours) counted by decision per slice, by tool and by
  reason, and the latest ones.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from devfactory.obs.logstore import LogQuery
from devfactory.web.api import Ctx, Filters
from devfactory.web.auth import Caller
from devfactory.web.context import WebContext
from devfactory.web.errors import BadRequest

__all__ = ["DECISIONS", "gate_decisions", "router"]

router = APIRouter(prefix="/api/v1")
DECISIONS = ("allow", "halt", "deny")
MAX_DECISIONS = 20_000
"""Gate lines read at most per answer; past that it says ``truncated``."""


def _range(
    since: datetime | None, until: datetime | None, default: timedelta
) -> tuple[datetime, datetime]:
    """``[since, until)`` as aware UTC datetimes, defaults filled in; 400 if empty."""
    end = until or datetime.now(UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    start = since or end - default
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    if start >= end:
        raise BadRequest("since must come before until")
    return start, end


def _starts(start: datetime, end: datetime, buckets: int) -> list[str]:
    step = (end - start) / buckets
    return [(start + step * i).isoformat() for i in range(buckets)]


@router.get("/logs/histogram", tags=["logs"])
def histogram(
    caller: Caller,
    ctx: Ctx,
    filters: Filters,
    since: Annotated[
        datetime | None, Query(description="ISO 8601; default until - 15 min.")
    ] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601; default now.")] = None,
    buckets: Annotated[int, Query(ge=1, le=500)] = 60,
) -> dict[str, Any]:
    """Counts of the matching lines per time slice, oldest slice first."""
    start, end = _range(since, until, timedelta(minutes=15))
    counts = ctx.logs.histogram(filters.query(start, end), buckets)
    return {
        "since": start.isoformat(),
        "until": end.isoformat(),
        "step_seconds": (end - start).total_seconds() / buckets,
        "starts": _starts(start, end, buckets),
        "counts": counts,
        "total": sum(counts),
    }


def gate_decisions(
    ctx: WebContext, since: datetime, until: datetime, buckets: int, *, recent: int = 50
) -> dict[str, Any]:
    """The gate's decisions in ``[since, until)``: per slice, by tool, by reason, latest."""
    query = LogQuery(
        stream="gate", event="gate.decision", since=since, until=until, limit=MAX_DECISIONS
    )
    lines = ctx.logs.search(query)
    start, width = since.timestamp(), (until - since).total_seconds() / buckets
    series = {d: [0] * buckets for d in DECISIONS}
    tools: dict[str, Counter[str]] = {}
    reasons: Counter[str] = Counter()
    for line in lines:
        decision = str(line.get("decision") or "unknown")
        tool = str(line.get("tool") or "?")
        tools.setdefault(tool, Counter())[decision] += 1
        for reason in line.get("reasons") or []:
            reasons[str(reason)] += 1
        try:
            at = datetime.fromisoformat(str(line.get("timestamp"))).timestamp()
        except ValueError:
            continue
        slot = min(max(int((at - start) // width), 0), buckets - 1)
        series.setdefault(decision, [0] * buckets)[slot] += 1
    by_tool: list[dict[str, Any]] = [
        {"tool": tool, **{d: counts.get(d, 0) for d in DECISIONS}, "total": counts.total()}
        for tool, counts in tools.items()
    ]
    by_tool.sort(key=lambda row: (-int(row["total"]), str(row["tool"])))
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "step_seconds": width,
        "starts": _starts(since, until, buckets),
        "series": series,
        "by_tool": by_tool,
        "by_reason": [{"reason": r, "count": n} for r, n in reasons.most_common(50)],
        "recent": [
            {
                "timestamp": line.get("timestamp"),
                "server": line.get("server"),
                "tool": line.get("tool"),
                "decision": line.get("decision"),
                "score": line.get("score"),
                "reasons": line.get("reasons") or [],
                "approval_id": line.get("approval_id"),
                "operation_id": line.get("operation_id"),
            }
            for line in lines[:recent]
        ],
        "total": len(lines),
        "truncated": len(lines) >= MAX_DECISIONS,
    }


@router.get("/gate/decisions", tags=["gate"])
def decisions(
    caller: Caller,
    ctx: Ctx,
    since: Annotated[datetime | None, Query(description="ISO 8601; default until - 24 h.")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601; default now.")] = None,
    buckets: Annotated[int, Query(ge=1, le=500)] = 48,
) -> dict[str, Any]:
    """Gate decisions by decision over time, by tool and by reason, and the latest 50."""
    start, end = _range(since, until, timedelta(hours=24))
    return gate_decisions(ctx, start, end, buckets)
