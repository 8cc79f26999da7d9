"""The dashboard's HTML pages: overview, logs, operation, approvals, deployments, gate,
workspaces.

Server-rendered Jinja2 (``templates/``) with a little plain JavaScript from ``/static``
(``static/js/``, uPlot for the charts in ``static/vendor/``): no build step, no CDN. What a
page can show without waiting it renders on the server; what moves (the overview numbers,
the log tail, the drift) its script fetches from the REST API with the session cookie.

Every page needs a signed-in session (or a Bearer key), read by
:func:`devfactory.web.auth.connection_principal` like the API; without one the browser is
sent to ``/login?next=<the page>`` (303). Sign-out is the API's ``POST /logout``, which the
layout's script calls.

The overview is made of :mod:`devfactory.web.panels`: each panel is rendered on its own,
so a plugin whose data function or template fails shows an error box in its place and
the rest of the page renders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, FunctionLoader, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException

from devfactory.mcp.access import Principal
from devfactory.obs.log import get_logger
from devfactory.web import inventory
from devfactory.web.auth import RANK, audit, connection_principal
from devfactory.web.charts import gate_decisions
from devfactory.web.context import WebContext, context_of
from devfactory.web.errors import Unauthorized
from devfactory.web.panels import REGISTRY, Panel, PanelRegistry

__all__ = ["NAV", "render_panel", "router", "signed_in"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
NAV = (
    ("overview", "/", "Overview"),
    ("logs", "/logs", "Logs"),
    ("approvals", "/approvals", "Approvals"),
    ("deployments", "/deployments", "Deployments"),
    ("gate", "/gate", "Gate"),
    ("workspaces", "/workspaces", "Workspaces"),
)
"""The nav bar: page key, path, label."""

_log = get_logger("web")
router = APIRouter(include_in_schema=False)


def _package_template(name: str) -> str | None:
    """A plugin's template named ``package:path`` (read from inside that package)."""
    package, sep, path = name.partition(":")
    if not sep or not package or not path:
        return None
    try:
        return files(package).joinpath(path).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        return None


_ENV = Environment(
    loader=ChoiceLoader([FileSystemLoader(TEMPLATES), FunctionLoader(_package_template)]),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_PAGES = Jinja2Templates(env=_ENV)


def _fmt_time(value: Any) -> str:
    """A Unix time or ISO string as ``YYYY-MM-DD HH:MM:SS`` UTC ("" when absent)."""
    if value is None or value == "":
        return ""
    try:
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(value, UTC)
        else:
            moment = datetime.fromisoformat(str(value))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return str(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


_ENV.filters["when"] = _fmt_time
_ENV.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=True, default=str)


def signed_in(request: Request) -> Principal:
    """Dependency: the signed-in principal, audited; a 303 to the sign-in page otherwise."""
    try:
        principal, via = connection_principal(request, unsafe=False)
    except Unauthorized:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(
            303, "sign in first", headers={"Location": f"/login?next={quote(target, safe='')}"}
        ) from None
    audit(request, "ok", principal=principal, via=via)
    return principal


Viewer = Annotated[Principal, Depends(signed_in)]


def _page(
    request: Request, template: str, principal: Principal, page: str, **context: Any
) -> HTMLResponse:
    return _PAGES.TemplateResponse(
        request,
        template,
        {
            "principal": principal,
            "can_review": RANK.get(principal.role, 0) >= RANK["operator"],
            "nav": NAV,
            "page": page,
            **context,
        },
    )


def render_panel(panel: Panel, ctx: WebContext, principal: Principal) -> Markup:
    """One panel as HTML; if its data or template fails, an error box in its place."""
    try:
        data: Mapping[str, Any] = panel.data(ctx, principal)
        body = _ENV.get_template(panel.template).render(panel=panel, data=data, principal=principal)
    except Exception as exc:  # a plugin's failure stays inside its panel
        _log.warning("web.panel_failed", panel=panel.name, error=repr(exc))
        body = _ENV.get_template("panels/_failed.html").render(panel=panel, error=repr(exc))
    return Markup(body)


def _registry(request: Request) -> PanelRegistry:
    found = getattr(request.app.state, "panels", None)
    return found if isinstance(found, PanelRegistry) else REGISTRY


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, principal: Viewer) -> HTMLResponse:
    """Live numbers and charts of the recent calls, as panels."""
    ctx = context_of(request)
    panels = [
        (panel, render_panel(panel, ctx, principal))
        for panel in _registry(request).panels_for("overview")
    ]
    return _page(request, "overview.html", principal, "overview", panels=panels)


@router.get("/logs", response_class=HTMLResponse)
def logs(request: Request, principal: Viewer) -> HTMLResponse:
    """Search, filters, volume histogram and a live tail (all driven by ``js/logs.js``)."""
    wanted = {k: request.query_params.get(k, "") for k in ("q", "level", "stream", "component")}
    wanted |= {k: request.query_params.get(k, "") for k in ("op", "since", "until")}
    return _page(request, "logs.html", principal, "logs", filters=wanted)


@router.get("/operations/{operation_id}", response_class=HTMLResponse)
def operation(request: Request, principal: Viewer, operation_id: str) -> HTMLResponse:
    """The timeline of one operation and its descendants, lane by component."""
    lines = context_of(request).logs.operation_tree(operation_id)
    return _page(
        request,
        "operation.html",
        principal,
        "logs",
        operation_id=operation_id,
        timeline=_timeline(lines),
    )


def _timeline(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Lines with their offset from the first (ms) and position on a 0-100 scale."""
    stamps: list[float | None] = []
    for line in lines:
        try:
            stamps.append(datetime.fromisoformat(str(line.get("timestamp"))).timestamp())
        except ValueError:
            stamps.append(None)
    known = [s for s in stamps if s is not None]
    first = min(known) if known else 0.0
    span = (max(known) - first) if known else 0.0
    rows: list[dict[str, Any]] = []
    for line, stamp in zip(lines, stamps, strict=True):
        offset = (stamp - first) if stamp is not None else 0.0
        rows.append(
            {
                "line": line,
                "offset_ms": round(offset * 1000, 1),
                "at": round(100 * offset / span, 2) if span > 0 else 0.0,
            }
        )
    components = sorted({str(r["line"].get("component") or "—") for r in rows})
    return {"rows": rows, "components": components, "span_ms": round(span * 1000, 1)}


def _approval_rows(ctx: WebContext) -> list[dict[str, Any]]:
    return [a.to_dict() for a in ctx.approvals.list("pending")]


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, principal: Viewer) -> HTMLResponse:
    """Pending halted calls (approve/deny for operators and admins) and recent reviews."""
    ctx = context_of(request)
    reviewed = [a.to_dict() for a in ctx.approvals.list(limit=50) if a.status != "pending"]
    return _page(
        request,
        "approvals.html",
        principal,
        "approvals",
        pending=_approval_rows(ctx),
        reviewed=reviewed[:20],
    )


@router.get("/approvals/rows", response_class=HTMLResponse)
def approval_rows(request: Request, principal: Viewer) -> HTMLResponse:
    """The pending rows alone, for the page's script to add new halts without a reload."""
    return _page(
        request,
        "approval_rows.html",
        principal,
        "approvals",
        pending=_approval_rows(context_of(request)),
    )


@router.get("/deployments", response_class=HTMLResponse)
def deployments(request: Request, principal: Viewer) -> HTMLResponse:
    """Apply reports, backups with their restore command, and drift (fetched by script)."""
    home = context_of(request).settings.home
    return _page(
        request,
        "deployments.html",
        principal,
        "deployments",
        reports=inventory.deployments(home, limit=100),
        backups=inventory.backups(home),
    )


@router.get("/gate", response_class=HTMLResponse)
def gate(request: Request, principal: Viewer) -> HTMLResponse:
    """Gate decisions of the last 24 hours by tool, by reason and over time."""
    end = datetime.now(UTC)
    data = gate_decisions(context_of(request), end - timedelta(hours=24), end, 48)
    return _page(request, "gate.html", principal, "gate", gate=data)


def workspaces_of(home: Path, principal: Principal) -> list[dict[str, Any]]:
    """Every deployed (workspace, environment): its databases and its latest apply."""
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def entry(workspace: Any, env: Any) -> dict[str, Any]:
        key = (str(workspace or "?"), str(env or "?"))
        return found.setdefault(
            key,
            {"workspace": key[0], "env": key[1], "databases": 0, "target": None, "last": None},
        )

    for db in inventory.databases(home, principal):
        if "error" in db:
            continue
        row = entry(db["workspace"], db["environment"])
        row["databases"] += 1
        row["target"] = row["target"] or db.get("target")
    for report in inventory.deployments(home, limit=1000):  # newest first
        if "error" in report and report.get("workspace") is None:
            continue
        row = entry(report.get("workspace"), report.get("environment"))
        row["last"] = row["last"] or report
    return sorted(found.values(), key=lambda r: (r["workspace"], r["env"]))


@router.get("/workspaces", response_class=HTMLResponse)
def workspaces(request: Request, principal: Viewer) -> HTMLResponse:
    """The status of every workspace deployed: environment, databases, last apply."""
    home = context_of(request).settings.home
    return _page(
        request,
        "workspaces.html",
        principal,
        "workspaces",
        workspaces=workspaces_of(home, principal),
    )
