"""Who is calling, and may they: API keys, session cookies, CSRF, roles, and the audit trail.

Two ways in:

- ``Authorization: Bearer dfk_…`` — for scripts and the API. No CSRF check: a browser
  never adds that header to a cross-site request by itself.
- ``POST /login`` with the key in a form field ``key`` — sets a signed session cookie
  (itsdangerous, HttpOnly, SameSite=Strict, 12 hours) that holds the key's digest and a
  random CSRF token. An unsafe method (POST, PUT, PATCH, DELETE) on a session must echo that
  token in the ``X-CSRF-Token`` header; the login answer returns it, and the readable cookie
  ``devfactory_csrf`` carries it for the pages' JavaScript. The session is checked against
  the key table on every request, so revoking a key ends its sessions at once.

Roles rank ``viewer`` < ``operator`` < ``admin``: viewers read, operators also review
approvals, admins also manage. Every decision, allowed or denied, is one line on the
``audit`` stream (``web.access``) naming the caller, method, path and reason — never a key,
a cookie or a token.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature
from starlette.requests import HTTPConnection

from devfactory.mcp.access import Principal
from devfactory.obs.log import get_logger
from devfactory.web.context import context_of
from devfactory.web.errors import Forbidden, Unauthorized
from devfactory.web.keys import digest

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "RANK",
    "SESSION_COOKIE",
    "Caller",
    "audit",
    "authenticate",
    "connection_principal",
    "requires",
    "router",
]

SESSION_COOKIE = "devfactory_session"
CSRF_COOKIE = "devfactory_csrf"
CSRF_HEADER = "X-CSRF-Token"
RANK = {"viewer": 1, "operator": 2, "admin": 3}
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

_audit = get_logger("web", stream="audit")
router = APIRouter(tags=["auth"])


def audit(
    connection: HTTPConnection,
    decision: str,
    *,
    principal: Principal | None = None,
    via: str | None = None,
    reason: str | None = None,
    **fields: Any,
) -> None:
    """Write one access decision (``ok`` or ``denied``) on the audit stream; identical
    successful reads in a row are counted by the app's
    :class:`~devfactory.web.repeats.Repeats` rather than repeated."""
    method = connection.scope.get("method", "WEBSOCKET")
    line = {
        "decision": decision,
        "principal": principal.name if principal else None,
        "role": principal.role if principal else None,
        "via": via,
        "method": method,
        "path": connection.url.path,
        "client": connection.client.host if connection.client else None,
        "reason": reason,
        **fields,
    }
    if decision == "ok" and method in ("GET", "HEAD"):
        key = tuple(sorted((k, str(v)) for k, v in line.items()))
        if not context_of(connection).repeats.first(key, line):
            return
    log = _audit.info if decision == "ok" else _audit.warning
    log("web.access", **line)


def _bearer(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return ""
    return value.strip()


def _session(connection: HTTPConnection) -> Mapping[str, str] | None:
    """The verified session cookie's data, or None (absent, forged or expired)."""
    raw = connection.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    ctx = context_of(connection)
    try:
        data = ctx.sessions.loads(raw, max_age=ctx.session_max_age)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("d", "c")):
        return None
    return data


def connection_principal(connection: HTTPConnection, *, unsafe: bool) -> tuple[Principal, str]:
    """The caller of ``connection`` and how it came in (``key`` or ``session``).

    ``unsafe`` asks for the CSRF check on a session (a state-changing request); raises
    :class:`Unauthorized` or :class:`Forbidden`, after writing the denial to the audit stream.
    """
    ctx = context_of(connection)
    key = _bearer(connection)
    if key is not None:
        principal = ctx.keys.identify(key) if key else None
        if principal is None:
            reason = "malformed Authorization header" if not key else "unknown API key"
            audit(connection, "denied", via="key", reason=reason)
            raise Unauthorized(f"{reason}: send Authorization: Bearer <key>")
        return principal, "key"
    session = _session(connection)
    if session is None:
        reason = (
            "session expired or invalid" if connection.cookies.get(SESSION_COOKIE) else "no key"
        )
        audit(connection, "denied", reason=reason)
        raise Unauthorized(
            f"{reason}: send Authorization: Bearer <key>, or sign in with POST /login"
        )
    principal = ctx.keys.identify_digest(session["d"])
    if principal is None:
        audit(connection, "denied", via="session", reason="key revoked")
        raise Unauthorized("the key of this session was revoked: sign in again")
    if unsafe:
        sent = connection.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent.encode(), session["c"].encode()):
            audit(connection, "denied", principal=principal, via="session", reason="CSRF token")
            raise Forbidden(f"missing or wrong {CSRF_HEADER} header for a signed-in request")
    return principal, "session"


def authenticate(request: Request) -> Principal:
    """FastAPI dependency: the caller, audited; 401 without a valid key or session."""
    principal, via = connection_principal(request, unsafe=request.method not in _SAFE)
    audit(request, "ok", principal=principal, via=via)
    return principal


Caller = Annotated[Principal, Depends(authenticate)]
"""A route parameter typed ``Caller`` is the authenticated principal."""


def requires(role: str) -> Callable[[Request, Principal], Awaitable[Principal]]:
    """A dependency that lets only ``role`` and the roles above it through (403 otherwise)."""
    need = RANK[role]

    async def check(request: Request, principal: Caller) -> Principal:
        if RANK.get(principal.role, 0) < need:
            audit(request, "denied", principal=principal, reason=f"needs role {role}")
            raise Forbidden(f"{principal.name!r} is a {principal.role}: this needs {role} or above")
        return principal

    return check


_PAGES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server only (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/docs"


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    """The sign-in form for people; it posts the key to ``POST /login``."""
    return _PAGES.TemplateResponse(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", response_model=None)
def login(
    request: Request,
    response: Response,
    key: Annotated[str, Form()],
    next: Annotated[str | None, Form()] = None,
) -> dict[str, Any] | Response:
    """Sign in with an API key: sets the session cookie and returns the CSRF token to echo.

    From the sign-in form (a ``next`` field) the browser is sent on to ``next`` instead, and
    a wrong key shows the form again with the reason.
    """
    ctx = context_of(request)
    principal = ctx.keys.identify(key.strip())
    from_form = next is not None
    if principal is None:
        audit(request, "denied", via="login", reason="unknown API key")
        if from_form:
            return _PAGES.TemplateResponse(
                request,
                "login.html",
                {"next": _safe_next(next), "error": "Unknown API key."},
                status_code=401,
            )
        raise Unauthorized("unknown API key")
    csrf = secrets.token_urlsafe(24)
    cookie = ctx.sessions.dumps({"d": digest(key.strip()), "c": csrf})
    secure = request.url.scheme == "https"
    common: dict[str, Any] = {
        "max_age": ctx.session_max_age,
        "samesite": "strict",
        "secure": secure,
        "path": "/",
    }
    target: Response = (
        RedirectResponse(_safe_next(next), status_code=303) if from_form else response
    )
    target.set_cookie(SESSION_COOKIE, cookie, httponly=True, **common)
    target.set_cookie(CSRF_COOKIE, csrf, httponly=False, **common)
    audit(request, "ok", principal=principal, via="login")
    if from_form:
        return target
    return {"ok": True, "name": principal.name, "role": principal.role, "csrf_token": csrf}


@router.post("/logout", response_model=None)
def logout(request: Request, response: Response) -> dict[str, Any] | RedirectResponse:
    """Sign out: the browser forgets both cookies. The pages' sign-out form (it works before
    any script has loaded) is sent on to the sign-in page; an API client gets JSON."""
    audit(request, "ok", via="logout")
    answer: Response = response
    if "text/html" in request.headers.get("accept", ""):
        answer = RedirectResponse("/login", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/", samesite="strict", httponly=True)
    answer.delete_cookie(CSRF_COOKIE, path="/", samesite="strict")
    return answer if isinstance(answer, RedirectResponse) else {"ok": True}
