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

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devfactory.errors import UserError
from devfactory.obs.log import get_logger

__all__ = [
    "ApiError",
    "BadRequest",
    "ClientGone",
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


def _only_hang_ups(exc: BaseException) -> bool:
    """Whether ``exc`` is (a group of nothing but) a stream closed under a send: the client
    went away while its response was being written."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_hang_ups(inner) for inner in exc.exceptions)
    return isinstance(exc, anyio.BrokenResourceError | anyio.ClosedResourceError)


class ClientGone:
    """ASGI middleware: a response whose client hung up mid-stream ends quietly.

    A live stream (SSE) to a client that stopped reading waits on flow control; when the
    client then vanishes, FastAPI's streaming tasks fail with ``BrokenResourceError`` and
    uvicorn would log a traceback for what is an ordinary hang-up. After the response has
    started, such an error (alone or in an exception group) becomes one debug line; any other
    error still propagates.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except BaseException as exc:
            if not (started and _only_hang_ups(exc)):
                raise
            _log.debug("web.client_gone", path=scope.get("path"))


def install_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as JSON (never a traceback), and let clients that hang
    up mid-stream go without one (:class:`ClientGone`)."""
    app.add_middleware(ClientGone)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
