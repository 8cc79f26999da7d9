"""The local Notion server as an ASGI app (Starlette), with one request pipeline.

Every API request goes through :meth:`NotionServer._handle`, in this order, as Notion checks
them: the route must exist (else 400 ``invalid_request_url``), ``Notion-Version`` must be
present and spoken (400 ``missing_version`` / ``validation_error``), the bearer token must
belong to an integration (401), the rate limit and any injected fault apply, the body must be
JSON within 500 KB; then the handler runs inside one store transaction. Errors become
Notion's error body here and only here; an unexpected exception is logged and answered with
500 ``internal_server_error`` — the server keeps serving either way.
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request as HTTPRequest
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from devfactory.emulator import validation as v
from devfactory.emulator.clock import Clock
from devfactory.emulator.context import DEFAULT_VERSION, SUPPORTED_VERSIONS, Ctx, Request
from devfactory.emulator.endpoints import (
    blocks,
    comments,
    databases,
    files,
    pages,
    search,
    users,
    views,
)
from devfactory.emulator.endpoints._common import Route
from devfactory.emulator.faults import Fault, FaultPlan, RateLimiter, parse_fault
from devfactory.emulator.ids import parse_id
from devfactory.emulator.model import CAPABILITIES, FileUpload, Integration, User
from devfactory.emulator.multipart import parse_multipart
from devfactory.emulator.store import Store
from devfactory.emulator.workspace import (
    create_integration,
    ensure_workspace,
    integration_named,
    share,
)
from devfactory.errors import (
    ConflictError,
    DevfactoryError,
    GatewayTimeoutError,
    InternalServerError,
    InvalidJSONError,
    InvalidRequestError,
    InvalidRequestURLError,
    MissingVersionError,
    NotionError,
    NotionValidationError,
    ObjectNotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    RestrictedResourceError,
    ServiceUnavailableError,
    UnauthorizedError,
    UserError,
)
from devfactory.obs.metrics import metrics_app

__all__ = ["API_ROUTES", "NotionServer"]

log = logging.getLogger("devfactory.emulator")

API_ROUTES: list[Route] = [
    *users.ROUTES,
    *databases.ROUTES,
    *pages.ROUTES,
    *blocks.ROUTES,
    *search.ROUTES,
    *comments.ROUTES,
    *views.ROUTES,
    *files.ROUTES,
]
MAX_JSON_BYTES = 500_000
# No Notion request nests anywhere near this deep (a block with two levels of children and
# annotated rich text is about fifteen); deeper bodies are refused before any handler sees
# them, so nothing recursive ever meets a pathological value.
MAX_JSON_DEPTH = 64
MAX_UPLOAD_BYTES = files.MAX_SINGLE_PART + 1_000_000
JSON_HEADERS = {"content-type": "application/json; charset=utf-8"}


def _too_deep(value: Any) -> bool:
    """Whether a parsed JSON value nests deeper than MAX_JSON_DEPTH (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


async def _bounded_body(request: HTTPRequest, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"body failed validation: the request body is over {limit} bytes, the limit."
            )
        chunks.append(chunk)
    return b"".join(chunks)


class _DroppedConnection(Exception):
    """Raised after the response started, so the server closes the connection mid-reply."""


def _not_an_injected_drop(record: logging.LogRecord) -> bool:
    """Keep uvicorn from printing a traceback for each connection a fault drops on purpose
    (the fault is counted in the admin state instead)."""
    return not (record.exc_info and isinstance(record.exc_info[1], _DroppedConnection))


logging.getLogger("uvicorn.error").addFilter(_not_an_injected_drop)


def _json(
    status: int, payload: dict[str, Any], request_id: str, extra: dict[str, str] | None = None
) -> Response:
    headers = {"x-notion-request-id": request_id, **(extra or {})}
    return Response(
        orjson.dumps(payload), status_code=status, headers=headers, media_type="application/json"
    )


class _DropResponse(Response):
    """An injected "dropped connection": headers go out, then the connection is cut."""

    def __init__(self) -> None:
        super().__init__(b"", status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"1024")],
            }
        )
        raise _DroppedConnection("injected fault: connection dropped")


class _UnknownRoute:
    """Any path and method no route takes: 400 ``invalid_request_url``, as Notion answers."""

    def __init__(self, server: NotionServer) -> None:
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self.server._error(
            InvalidRequestURLError("Invalid request URL."), str(uuid.uuid4())
        )
        await response(scope, receive, send)


class _Metrics:
    """GET /metrics (no Notion token): text format, or OpenMetrics by Accept; gzip if asked."""

    def __init__(self) -> None:
        self.app = metrics_app()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class NotionServer:
    """The local Notion-API-compatible server over one :class:`Store`."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        base_url: str = "http://127.0.0.1:8787",
        admin_token: str | None = None,
        rate_limit: float | None = None,
        rate_burst: int | None = None,
        faults: list[Fault] | None = None,
        fault_seed: int | None = None,
    ) -> None:
        self.store = store
        self.clock = clock or Clock()
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self.limiter = RateLimiter(self.clock, rate_limit, rate_burst)
        self.faults = FaultPlan(rules=list(faults or []))
        self.faults.reseed(fault_seed)
        self.requests = 0
        ensure_workspace(store)
        routes = [StarletteRoute(r.path, self._endpoint(r), methods=[r.method]) for r in API_ROUTES]
        routes += [
            StarletteRoute("/v1/oauth/{action}", self._oauth, methods=["POST"]),
            StarletteRoute("/__health", self._health, methods=["GET"]),
            StarletteRoute("/metrics", _Metrics(), methods=["GET"]),  # no token: Prometheus
            StarletteRoute("/__files/{upload_id}", self._file, methods=["GET"]),
            StarletteRoute("/__avatars/{user_id}.svg", self._avatar, methods=["GET"]),
            StarletteRoute(
                "/__admin/{action:path}", self._admin, methods=["GET", "PUT", "POST", "DELETE"]
            ),
            StarletteRoute(
                "/{path:path}",
                _UnknownRoute(self),  # an ASGI app, so it takes every method
            ),
        ]
        self.app = Starlette(routes=routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # ------------------------------------------------------------------ pipeline

    def _endpoint(self, route: Route) -> Callable[[HTTPRequest], Awaitable[Response]]:
        async def endpoint(request: HTTPRequest) -> Response:
            return await self._handle(route, request)

        endpoint.__name__ = route.handler.__name__
        return endpoint

    async def _handle(self, route: Route, request: HTTPRequest) -> Response:
        request_id = str(uuid.uuid4())
        self.requests += 1
        try:
            version = self._version(request)
            integration = self._authenticate(request)
            self._authorize(route, integration)
            retry_after = self.limiter.take(integration.id)
            if retry_after is not None:
                raise RateLimitedError(retry_after=retry_after)
            fault = self.faults.pick(request.method, request.url.path)
            if fault is not None:
                early = await self._early_fault(fault)
                if early is not None:
                    return early
            api_request = await self._parse(request)
            ctx = Ctx(
                store=self.store,
                clock=self.clock,
                version=version,
                integration=integration,
                request_id=request_id,
                base_url=self.base_url,
                now=self.clock.now(),
            )
            with self.store.transaction():
                result = route.handler(ctx, api_request)
            if fault is not None and fault.kind == "commit_then_fail":
                raise InternalServerError(
                    "Injected fault: the change was saved but this response was lost."
                )
            status, payload = result if isinstance(result, tuple) else (200, result)
            if route.request_id:
                payload["request_id"] = request_id
            return _json(status, payload, request_id)
        except NotionError as exc:
            return self._error(exc, request_id)
        except UserError as exc:
            return self._error(NotionValidationError(str(exc)), request_id)
        except DevfactoryError:
            log.exception("internal error handling %s %s", request.method, request.url.path)
            return self._error(InternalServerError("An unexpected error occurred."), request_id)
        except Exception:
            log.exception("unexpected error handling %s %s", request.method, request.url.path)
            return self._error(InternalServerError("An unexpected error occurred."), request_id)

    def _error(self, exc: NotionError, request_id: str) -> Response:
        headers = (
            {"retry-after": str(exc.retry_after)} if isinstance(exc, RateLimitedError) else None
        )
        return _json(exc.status, exc.body(request_id), request_id, headers)

    def _version(self, request: HTTPRequest) -> str:
        version = request.headers.get("notion-version")
        if version is None:
            raise MissingVersionError(
                "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`."
            )
        version = version.strip()
        if version not in SUPPORTED_VERSIONS:
            listed = ", ".join(f"`{s}`" for s in SUPPORTED_VERSIONS)
            raise NotionValidationError(
                f"Notion-Version header failed validation: Notion-Version header should be one of {listed}, "
                f"instead was `{v.describe(version)}`. This local server speaks {DEFAULT_VERSION} and 2026-03-11."
            )
        return version

    def _authenticate(self, request: HTTPRequest) -> Integration:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        integration = (
            self.store.integration_for_token(token.strip())
            if scheme.lower() == "bearer" and token.strip()
            else None
        )
        if integration is None:
            raise UnauthorizedError("API token is invalid.")
        return integration

    def _authorize(self, route: Route, integration: Integration) -> None:
        needed = route.capability
        granted = set(integration.capabilities)
        if needed == "read_user_without_email":
            allowed = bool(granted & {"read_user_with_email", "read_user_without_email"})
        else:
            allowed = needed in granted
        if not allowed:
            raise RestrictedResourceError(
                f"API token does not have access to this resource: the integration lacks the `{needed}` capability."
            )

    async def _early_fault(self, fault: Fault) -> Response | None:
        if fault.kind == "429":
            raise RateLimitedError(retry_after=fault.retry_after)
        if fault.kind == "500":
            raise InternalServerError("Injected fault: internal server error.")
        if fault.kind == "503":
            raise ServiceUnavailableError("Injected fault: Notion is unavailable, try again later.")
        if fault.kind == "409":
            raise ConflictError("Conflict occurred while saving. Please try again.")
        if fault.kind == "504":
            raise GatewayTimeoutError("Injected fault: gateway timeout.")
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        if fault.kind == "drop":
            return _DropResponse()
        return None

    async def _parse(self, request: HTTPRequest) -> Request:
        body: dict[str, Any] = {}
        found_files: dict[str, tuple[str, str, bytes]] = {}
        form_fields: dict[str, str] = {}
        if request.method in ("POST", "PATCH", "PUT"):
            content_type = request.headers.get("content-type", "")
            if content_type.startswith("multipart/form-data"):
                raw = await _bounded_body(request, MAX_UPLOAD_BYTES)
                for part in parse_multipart(raw, content_type):
                    if part.filename is not None:
                        found_files[part.name] = (
                            part.filename,
                            part.content_type,
                            bytes(part.data),
                        )
                    else:
                        form_fields[part.name] = part.data.decode("utf-8", "replace")
            else:
                raw = await _bounded_body(request, MAX_JSON_BYTES)
                if raw.strip():
                    try:
                        parsed = orjson.loads(raw)
                    except orjson.JSONDecodeError as exc:
                        raise InvalidJSONError("Error parsing JSON body.") from exc
                    if not isinstance(parsed, dict):
                        v.fail("body", "should be an object", parsed)
                    if _too_deep(parsed):
                        raise NotionValidationError(
                            f"body failed validation: body nests more than {MAX_JSON_DEPTH} levels deep."
                        )
                    body = parsed
        query: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            query.setdefault(key, []).append(value)
        return Request(
            method=request.method,
            path=request.url.path,
            params=dict(request.path_params),
            query=query,
            body=body,
            files=found_files,
            form=form_fields,
        )

    async def _oauth(self, request: HTTPRequest) -> Response:
        """OAuth (public integrations) is a request this server does not support."""
        return self._error(
            InvalidRequestError(
                "This request is not supported: the local Notion server has internal integrations "
                "only (devfactory notion token create NAME), no OAuth."
            ),
            str(uuid.uuid4()),
        )

    async def _health(self, request: HTTPRequest) -> Response:
        return _json(200, {"ok": True, "requests": self.requests}, str(uuid.uuid4()))

    async def _file(self, request: HTTPRequest) -> Response:
        upload_id = parse_id(request.path_params["upload_id"]) or ""
        upload = self.store.get_as(upload_id, FileUpload)
        if upload is None or upload.status != "uploaded":
            return self._error(ObjectNotFoundError("Could not find file."), str(uuid.uuid4()))
        return Response(
            self.store.file_bytes(upload.id),
            media_type=upload.content_type or "application/octet-stream",
        )

    async def _avatar(self, request: HTTPRequest) -> Response:
        """A generated avatar (initials on a colour) for person users without a picture."""
        user = self.store.get_as(parse_id(request.path_params["user_id"]) or "", User)
        initials = "".join(w[0] for w in (user.name if user else "?").split()[:2]).upper() or "?"
        hue = int((user.id if user else "0")[:6], 16) % 360 if user else 0
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
            f'<rect width="64" height="64" rx="32" fill="hsl({hue},45%,55%)"/>'
            f'<text x="32" y="41" font-family="sans-serif" font-size="24" fill="#fff" text-anchor="middle">{html.escape(initials)}</text></svg>'
        )
        return Response(svg, media_type="image/svg+xml")

    # ------------------------------------------------------------------ admin API

    async def _admin(self, request: HTTPRequest) -> Response:
        request_id = str(uuid.uuid4())
        header = request.headers.get("authorization", "")
        if not secrets.compare_digest(header.encode(), f"Bearer {self.admin_token}".encode()):
            return self._error(UnauthorizedError("Admin token is invalid."), request_id)
        try:
            body: dict[str, Any] = {}
            raw = await request.body()
            if raw.strip():
                try:
                    parsed = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise InvalidJSONError("Error parsing JSON body.") from exc
                body = v.obj(parsed, "body")
            with self.store.transaction():
                payload = self._admin_action(
                    request.method, request.path_params["action"].strip("/"), body
                )
            return _json(200, payload, request_id)
        except NotionError as exc:
            return self._error(exc, request_id)
        except UserError as exc:
            return self._error(NotionValidationError(str(exc)), request_id)

    def _admin_action(self, method: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        if (method, action) == ("GET", "state"):
            return self.state()
        if (method, action) == ("PUT", "rate-limit"):
            rate = body.get("rate")
            burst = body.get("burst")
            self.limiter.configure(
                None if rate is None else float(v.number(rate, "body.rate")),
                None
                if burst is None
                else v.integer(burst, "body.burst", minimum=1, maximum=100_000),
            )
            return self.state()
        if (method, action) == ("PUT", "faults"):
            self.faults.rules = [
                parse_fault(f, f"body.rules[{i}]")
                for i, f in enumerate(v.array(body.get("rules", []), "body.rules", max_items=100))
            ]
            if "seed" in body:
                self.faults.reseed(
                    None if body["seed"] is None else v.integer(body["seed"], "body.seed")
                )
            return self.state()
        if (method, action) == ("POST", "faults/script"):
            for i, f in enumerate(
                v.array(v.member(body, "faults", "body"), "body.faults", max_items=1000)
            ):
                self.faults.script.append(parse_fault(f, f"body.faults[{i}]"))
            return self.state()
        if (method, action) == ("DELETE", "faults"):
            self.faults.rules.clear()
            self.faults.script.clear()
            return self.state()
        if (method, action) == ("POST", "integrations"):
            name = v.string(v.member(body, "name", "body"), "body.name", max_length=100)
            token = body.get("token")
            capabilities = body.get("capabilities")
            if capabilities is not None:
                capabilities = [
                    v.choice(c, f"body.capabilities[{i}]", CAPABILITIES)
                    for i, c in enumerate(v.array(capabilities, "body.capabilities"))
                ]
            created = create_integration(
                self.store,
                name,
                None if token is None else v.string(token, "body.token", max_length=200),
                self.clock,
                capabilities=capabilities,
            )
            return {
                "id": created.integration.id,
                "name": created.integration.name,
                "token": created.token,
            }
        if (method, action) == ("POST", "shares"):
            object_id = v.id_value(v.member(body, "object_id", "body"), "body.object_id")
            integration = integration_named(
                self.store, v.string(v.member(body, "integration", "body"), "body.integration")
            )
            share(self.store, object_id, integration)
            return {"object_id": object_id, "integration_id": integration.id}
        if (method, action) == ("POST", "clock"):
            self.clock.offset += float(v.number(v.member(body, "advance", "body"), "body.advance"))
            return self.state()
        raise InvalidRequestURLError("Invalid request URL.")

    def state(self) -> dict[str, Any]:
        """What the admin API reports: counts, integrations (never tokens), realism."""
        return {
            "workspace_id": self.store.meta.get("workspace_id"),
            "records": self.store.counts(),
            "integrations": [
                {"id": i.id, "name": i.name} for i in self.store.integrations.values()
            ],
            "rate_limit": self.limiter.to_json(),
            "faults": self.faults.to_json(),
            "clock_offset": self.clock.offset,
            "requests": self.requests,
        }
