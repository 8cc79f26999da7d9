"""The client portal's routes: sign-in, the pages under ``/portal`` and ``/api/v1/portal``.

Who may call: only a portal key (:mod:`devfactory.web.portal_keys`), as
``Authorization: Bearer dfp_…`` or through the ``devfactory_portal`` cookie set by
``POST /portal/login`` (signed with the dashboard's session secret under a salt of its own,
HttpOnly, SameSite=Strict, 12 hours, checked against the key table on every request). A
dashboard key or session does not open the portal, and a portal key is unknown to the
dashboard. The portal only reads, so its one unsafe route, ``POST /portal/logout``, is the
one that checks a CSRF token.

What is shown: every route asks :meth:`PortalReader.visible` for the caller's bound client
and answers from that set only. Query parameters are never read; an id in the path is only
looked up in the visible set, so another client's id, a hidden id and a made-up id all get
the same 404. Every decision goes to the ``audit`` stream through
:func:`devfactory.web.auth.audit`.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer

from devfactory.mcp.access import Principal
from devfactory.web.auth import CSRF_HEADER, audit
from devfactory.web.context import context_of
from devfactory.web.errors import ApiError, Forbidden, NotFound, Unauthorized
from devfactory.web.keys import digest
from devfactory.web.portal import Row, Visible, page_key
from devfactory.web.portal_keys import PortalKey, PortalKeys
from devfactory.web.portal_reader import PortalConfig, PortalReader, PortalUnavailable

__all__ = ["PORTAL_COOKIE", "PortalCaller", "configure_portal", "install", "router"]

PORTAL_COOKIE = "devfactory_portal"
_SALT = "devfactory.web.portal"
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
_PAGES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))

router = APIRouter(include_in_schema=True)


def install(app: FastAPI) -> None:
    """Add the portal to ``app`` (after its :class:`WebContext`); it answers 503 until
    :func:`configure_portal` names a deployed workspace."""
    app.state.portal_keys = PortalKeys(app.state.web.store)
    if not hasattr(app.state, "portal"):
        app.state.portal = None
    app.include_router(router)


def configure_portal(app: FastAPI, config: PortalConfig, **reader: Any) -> PortalReader:
    """Serve ``config``'s workspace in the portal of ``app``; ``reader`` goes to
    :class:`PortalReader` (``clock``, ``fetch``)."""
    portal = PortalReader(config, app.state.web.settings, **reader)
    app.state.portal = portal
    return portal


@dataclass(frozen=True, slots=True)
class PortalCaller:
    """A signed-in client: its key, how it came in, and (in a session) the CSRF token."""

    key: PortalKey
    via: str
    csrf: str | None = None

    @property
    def principal(self) -> Principal:
        """The caller as the audit stream names it."""
        return Principal(f"portal:{self.key.name}", "client")


def _reader(request: Request) -> PortalReader:
    portal = cast(PortalReader | None, request.app.state.portal)
    if portal is None:
        raise PortalUnavailable(
            "the client portal is not set up: start the dashboard with "
            "devfactory web --portal SPEC --portal-env ENV"
        )
    return portal


def _signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(context_of(request).sessions.secret_key, salt=_SALT)


def _session(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(PORTAL_COOKIE)
    if not raw:
        return None
    try:
        data = _signer(request).loads(raw, max_age=context_of(request).session_max_age)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k") != "portal":
        return None
    if not all(isinstance(data.get(k), str) for k in ("d", "c")):
        return None
    return cast(dict[str, str], data)


def _identify(request: Request) -> PortalCaller:
    """The portal key calling, or :class:`Unauthorized` (audited)."""
    keys: PortalKeys = request.app.state.portal_keys
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        key = keys.identify(value.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            audit(request, "denied", via="portal-key", reason="unknown portal key")
            raise Unauthorized("unknown portal key: send Authorization: Bearer dfp_…")
        return PortalCaller(key, "portal-key")
    session = _session(request)
    if session is None:
        reason = (
            "portal session expired or invalid"
            if request.cookies.get(PORTAL_COOKIE)
            else "no portal key"
        )
        audit(request, "denied", via="portal-session", reason=reason)
        raise Unauthorized(f"{reason}: sign in at /portal/login")
    key = keys.identify_digest(session["d"])
    if key is None:
        audit(request, "denied", via="portal-session", reason="portal key revoked")
        raise Unauthorized("the key of this portal session was revoked")
    return PortalCaller(key, "portal-session", session["c"])


def portal_caller(request: Request) -> PortalCaller:
    """FastAPI dependency: the signed-in client of the served workspace, audited."""
    config = _reader(request).config
    caller = _identify(request)
    key = caller.key
    if (key.workspace, key.environment) != (config.workspace, config.environment):
        audit(
            request, "denied", principal=caller.principal, via=caller.via, reason="other workspace"
        )
        raise Unauthorized(
            f"this portal key is for {key.workspace} ({key.environment}), "
            f"not {config.workspace} ({config.environment})"
        )
    audit(request, "ok", principal=caller.principal, via=caller.via, portal_client=key.client_name)
    return caller


Client = Annotated[PortalCaller, Depends(portal_caller)]


async def _visible(request: Request, caller: PortalCaller) -> Visible:
    """The caller's visible set; 403 when its client record is not (or no longer) Portal."""
    seen = await _reader(request).visible(caller.key.client_id)
    if seen is None:
        audit(
            request,
            "denied",
            principal=caller.principal,
            via=caller.via,
            reason="client not Portal",
        )
        raise Forbidden(f"portal access for {caller.key.client_name} is turned off")
    return seen


def _project(request: Request, caller: PortalCaller, seen: Visible, page_id: str) -> Row:
    found = seen.project(page_id)
    if found is None:
        audit(request, "denied", principal=caller.principal, via=caller.via, reason="not visible")
        raise NotFound("no such project")
    return found


def _task(seen: Visible, task: Row) -> dict[str, Any]:
    visible = {p.key: p.id for p in seen.projects}
    linked = task.links.get(seen.task_project, ())
    return {
        **task.to_dict(),
        "projects": [visible[k] for k in map(page_key, linked) if k in visible],
    }


# --- the JSON API ------------------------------------------------------------------------


@router.get("/api/v1/portal/me", tags=["portal"])
async def api_me(request: Request, caller: Client) -> dict[str, Any]:
    """The caller's own client record."""
    seen = await _visible(request, caller)
    return {"ok": True, "client": seen.client.to_dict()}


@router.get("/api/v1/portal/projects", tags=["portal"])
async def api_projects(request: Request, caller: Client) -> dict[str, Any]:
    """The caller's visible projects."""
    seen = await _visible(request, caller)
    return {"ok": True, "projects": [p.to_dict() for p in seen.projects]}


@router.get("/api/v1/portal/projects/{page_id}", tags=["portal"])
async def api_project(request: Request, caller: Client, page_id: str) -> dict[str, Any]:
    """One visible project and its visible tasks; 404 for any other id."""
    seen = await _visible(request, caller)
    project = _project(request, caller, seen, page_id)
    return {
        "ok": True,
        "project": project.to_dict(),
        "tasks": [_task(seen, t) for t in seen.tasks_of(project)],
    }


@router.get("/api/v1/portal/tasks", tags=["portal"])
async def api_tasks(request: Request, caller: Client) -> dict[str, Any]:
    """Every visible task of the caller's visible projects."""
    seen = await _visible(request, caller)
    return {"ok": True, "tasks": [_task(seen, t) for t in seen.tasks]}


# --- the pages -----------------------------------------------------------------------------


def _html(request: Request, name: str, data: dict[str, Any], status: int = 200) -> HTMLResponse:
    page = _PAGES.TemplateResponse(request, f"portal/{name}", data, status_code=status)
    page.headers.update(_HEADERS)
    return page


def _page_error(request: Request, exc: ApiError) -> Response:
    """An error as a page: sign-in for 401, else a short page with the status."""
    if isinstance(exc, Unauthorized):
        return RedirectResponse("/portal/login", status_code=303, headers=_HEADERS)
    titles = {403: "Not available", 404: "Not found", 503: "Portal unavailable"}
    message = "There is nothing here." if exc.status == 404 else exc.message
    data = {"title": titles.get(exc.status, "Error"), "message": message, "status": exc.status}
    return _html(request, "error.html", data, exc.status)


@router.get("/portal", include_in_schema=False)
async def home_page(request: Request) -> Response:
    """The client's record and its visible projects."""
    try:
        caller = portal_caller(request)
        seen = await _visible(request, caller)
    except ApiError as exc:
        return _page_error(request, exc)
    counts = {p.id: len(seen.tasks_of(p)) for p in seen.projects}
    data = {"caller": caller, "client": seen.client, "projects": seen.projects, "counts": counts}
    return _html(request, "home.html", data)


@router.get("/portal/projects/{page_id}", include_in_schema=False)
async def project_page(request: Request, page_id: str) -> Response:
    """One visible project with its visible tasks; the 404 page for any other id."""
    try:
        caller = portal_caller(request)
        seen = await _visible(request, caller)
        project = _project(request, caller, seen, page_id)
    except ApiError as exc:
        return _page_error(request, exc)
    data = {"caller": caller, "client": seen.client, "project": project}
    return _html(request, "project.html", {**data, "tasks": seen.tasks_of(project)})


@router.get("/portal/login", include_in_schema=False)
def login_page(request: Request) -> HTMLResponse:
    """The portal's sign-in form (a portal key, not a dashboard key)."""
    return _html(request, "login.html", {"error": None})


@router.post("/portal/login", include_in_schema=False)
def login(request: Request, key: Annotated[str, Form()]) -> Response:
    """Check the key, set the portal cookie and go to ``/portal``; the form again if wrong."""
    found = cast(PortalKeys, request.app.state.portal_keys).identify(key.strip())
    if found is None:
        audit(request, "denied", via="portal-login", reason="unknown portal key")
        return _html(request, "login.html", {"error": "Unknown portal key."}, 401)
    csrf = secrets.token_urlsafe(24)
    cookie = _signer(request).dumps({"k": "portal", "d": digest(key.strip()), "c": csrf})
    answer = RedirectResponse("/portal", status_code=303, headers=_HEADERS)
    answer.set_cookie(
        PORTAL_COOKIE,
        cookie,
        max_age=context_of(request).session_max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    caller = PortalCaller(found, "portal-login")
    audit(
        request,
        "ok",
        principal=caller.principal,
        via="portal-login",
        portal_client=found.client_name,
    )
    return answer


@router.post("/portal/logout", include_in_schema=False)
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Sign out (the form or the ``X-CSRF-Token`` header must carry the session's token)."""
    try:
        caller = _identify(request)
    except Unauthorized:
        return RedirectResponse("/portal/login", status_code=303, headers=_HEADERS)
    sent = csrf or request.headers.get(CSRF_HEADER, "")
    if (
        caller.csrf is None
        or not sent
        or not hmac.compare_digest(sent.encode(), caller.csrf.encode())
    ):
        audit(request, "denied", principal=caller.principal, via=caller.via, reason="CSRF token")
        return _page_error(
            request, Forbidden("This sign-out request did not come from the portal.")
        )
    answer = RedirectResponse("/portal/login", status_code=303, headers=_HEADERS)
    answer.delete_cookie(PORTAL_COOKIE, path="/", samesite="strict", httponly=True)
    audit(request, "ok", principal=caller.principal, via="portal-logout")
    return answer
