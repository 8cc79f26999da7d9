"""HTTP errors of the dashboard, and the one place that turns exceptions into JSON.

Tree (the status is a class attribute)::

    ApiError            500  base
    ├── BadRequest      400  a parameter the caller can fix
    ├── Unauthorized    401  no key, a wrong key, an expired session
    ├── Forbidden       403  a known caller without the right (role, database, CSRF)
    ├── NotFound        404  no such operation, approval, ...
    └── Conflict        409  the record is no longer in a state that allows this

Every error answer has one shape: ``{"ok": false, "status": 403, "error": "..."}``. A
:class:`~devfactory.errors.UserError` from the core is a 400 with its message; anything
unexpected is a 500 that says only that, and is logged on the ``errors`` stream.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from devfactory.errors import UserError
from devfactory.obs.log import get_logger

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "Unauthorized",
    "Unavailable",
    "error_body",
    "install_handlers",
]

_log = get_logger("web")


class ApiError(UserError):
    """An error answer; subclasses set ``status``."""

    status = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="devfactory"'})


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Unavailable(ApiError):
    """503: a part that is not set up, or a backend (the Notion target) that did not answer."""

    status = 503


def error_body(status: int, message: str) -> dict[str, Any]:
    """The JSON of every error answer."""
    return {"ok": False, "status": status, "error": message}


def _answer(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _answer(exc.status, exc.message, exc.headers)


async def _user_error(request: Request, exc: Exception) -> JSONResponse:
    return _answer(400, str(exc))


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ())[1:]) or 'request'}: {err.get('msg')}"
        for err in exc.errors()
    )
    return _answer(422, f"invalid request: {problems}")


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return _answer(exc.status_code, str(exc.detail), dict(exc.headers or {}) or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.error(
        "web.error",
        method=request.method,
        path=request.url.path,
        error_type=type(exc).__name__,
        error=str(exc),
    )
    return _answer(500, "internal error: the server logged the details")


def install_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as JSON (never a traceback)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
