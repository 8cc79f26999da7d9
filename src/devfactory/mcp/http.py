"""The gateway over HTTP: Streamable HTTP at ``/mcp``, SSE at ``/sse``, ``/health``, ``/metrics``.

Every request first passes :class:`Guard`:

- DNS-rebinding protection and the Origin check (the SDK's own validation): the ``Host``
  must be loopback (or listed in ``allowed_hosts``) — else 421 — and an ``Origin``, when
  sent, must be loopback (or listed) — else 403;
- a body larger than the limit (4 MiB) is refused with 413 before it is read;
- a bearer token is required except on ``/health`` and ``/metrics`` (unless the gateway was
  started with ``--allow-unauthenticated``): 401 with ``WWW-Authenticate: Bearer``.

The principal of the token rides on the ASGI scope to the call pipeline. Every refusal is
written to the audit stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import (
    RequestBodyLimitMiddleware,
    TransportSecurityMiddleware,
    TransportSecuritySettings,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from devfactory.mcp.access import Principal
from devfactory.mcp.gateway import PRINCIPAL_KEY, Gateway
from devfactory.obs.log import get_logger
from devfactory.obs.metrics import metrics_app

__all__ = ["Guard", "http_app", "security_settings"]

_audit = get_logger("gateway", stream="audit")
_OPEN_PATHS = frozenset({"/health", "/metrics"})
_LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
_LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
_ANONYMOUS = Principal("anonymous", "operator")


def security_settings(gateway: Gateway) -> TransportSecuritySettings:
    """Loopback plus what the configuration adds."""
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*_LOOPBACK_HOSTS, *gateway.config.allowed_hosts],
        allowed_origins=[*_LOOPBACK_ORIGINS, *gateway.config.allowed_origins],
    )


class Guard:
    """Host, Origin and bearer checks in front of every route (pure ASGI)."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway
        self.checks = TransportSecurityMiddleware(security_settings(gateway))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # RFC 9110 §5.5: whitespace around a field value is not part of it. httptools keeps
        # trailing spaces, and the SDK compares Mcp-Name / Mcp-Method with the body exactly.
        scope["headers"] = [(k, v.strip(b" \t")) for k, v in scope["headers"]]
        request = Request(scope)
        refused = await self.checks.validate_request(request)
        if refused is not None:
            self._refuse(request, refused.status_code, "host or origin not allowed")
            await refused(scope, receive, send)
            return
        if scope["path"] not in _OPEN_PATHS:
            principal = self._principal(request)
            if principal is None:
                self._refuse(request, 401, "missing or unknown bearer token")
                response = JSONResponse(
                    {"error": "unauthorized", "message": "send Authorization: Bearer <token>"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="devfactory-gateway"'},
                )
                await response(scope, receive, send)
                return
            scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)

    def _principal(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            found = self.gateway.keyring.identify(token.strip())
            if found is not None:
                return found
        return _ANONYMOUS if self.gateway.allow_unauthenticated else None

    def _refuse(self, request: Request, status: int, reason: str) -> None:
        client = request.client.host if request.client is not None else "?"
        _audit.warning(
            "gateway.refused",
            status=status,
            reason=reason,
            path=request.url.path,
            peer=client,
            origin=request.headers.get("origin"),
            host=request.headers.get("host"),
        )


class _Asgi:
    """An ASGI function as a route endpoint (Starlette calls class instances raw)."""

    def __init__(self, fn: ASGIApp) -> None:
        self.fn = fn

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.fn(scope, receive, send)


def http_app(gateway: Gateway) -> Starlette:
    """The ASGI app of the gateway's HTTP side; its lifespan connects the servers."""
    limit = gateway.config.limits.body_bytes
    security = security_settings(gateway)
    manager = StreamableHTTPSessionManager(
        app=gateway.server,
        security_settings=security,
        max_request_body_size=limit,
        max_sessions=gateway.config.limits.sessions,
        json_response=gateway.config.json_response,
    )
    sse = SseServerTransport("/messages/", security_settings=security, max_request_body_size=limit)

    async def sse_stream(scope: Scope, receive: Receive, send: Send) -> None:
        async with sse.connect_sse(scope, receive, send) as (read_stream, write_stream):
            await gateway.server.run(read_stream, write_stream, gateway.init_options())

    async def health(_: Request) -> Response:
        return JSONResponse(gateway.health())

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with gateway.running(), manager.run():
            yield {}

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/metrics", endpoint=_Asgi(metrics_app()), methods=["GET"]),
            Route("/mcp", endpoint=StreamableHTTPASGIApp(manager)),
            Route("/sse", endpoint=_Asgi(sse_stream), methods=["GET"]),
            Mount("/messages/", app=sse.handle_post_message),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=limit)
    app.add_middleware(Guard, gateway=gateway)
    return app
