"""The dashboard's ASGI app: the REST API, live events, login, ``/metrics`` and ``/health``.

:func:`create_app` wires the routers of :mod:`devfactory.web.auth`,
:mod:`devfactory.web.api` and :mod:`devfactory.web.events` to a store and an event bus that
the caller owns (and closes), and the dashboard's HTML pages (:mod:`devfactory.web.pages`,
with the widgets of :mod:`devfactory.web.panels` and the chart data of
:mod:`devfactory.web.charts`). The client portal is to come.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from devfactory import __version__
from devfactory.config import Settings
from devfactory.db import Database
from devfactory.obs.events import EventBus
from devfactory.obs.metrics import metrics_app
from devfactory.web import api, auth, charts, events, pages
from devfactory.web.context import WebContext
from devfactory.web.drift import DriftChecker
from devfactory.web.errors import install_handlers
from devfactory.web.portal_routes import install as install_portal
from devfactory.web.summary import CallWindow

__all__ = ["create_app"]

STATIC = Path(__file__).resolve().parent / "static"


class _Asgi:
    """An ASGI function as a route endpoint (Starlette calls class instances raw)."""

    def __init__(self, fn: ASGIApp) -> None:
        self.fn = fn

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.fn(scope, receive, send)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """On the way out, account for the repeated reads still being counted (audit)."""
    yield
    app.state.web.repeats.flush()


def create_app(
    settings: Settings,
    *,
    store: Database,
    bus: EventBus,
    session_secret: str | None = None,
) -> FastAPI:
    """The dashboard app on ``store`` (its tables are made if missing) and ``bus``.

    ``session_secret`` signs session cookies; by default one is made once and kept in the
    store, so every process on that store accepts the same sessions.
    """
    app = FastAPI(
        title="devfactory dashboard API",
        version=__version__,
        description="Logs, operations, metrics, approvals and deployments of devfactory. "
        "Authenticate with `Authorization: Bearer <key>` (`devfactory web keys create`).",
        docs_url=None,  # served below from the vendored Swagger UI: no CDN, works offline
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.web = WebContext.build(settings, store, bus, session_secret=session_secret)
    app.state.drift = DriftChecker(settings)  # nothing watched until configure_drift()
    app.state.calls = CallWindow(app.state.web.logs, settings.notion_rate)  # the overview
    install_handlers(app)
    app.include_router(auth.router)
    app.include_router(api.router)
    app.include_router(events.router)
    install_portal(app)  # /portal and /api/v1/portal: 503 until configure_portal()
    app.include_router(charts.router)
    app.include_router(pages.router)
    app.router.routes.append(Route("/metrics", endpoint=_Asgi(metrics_app()), methods=["GET"]))

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """The OpenAPI docs, with Swagger UI from the package (npm swagger-ui-dist 5.35.0,
        Apache-2.0: static/swagger-ui/LICENSE) rather than a CDN."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="devfactory dashboard API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    @app.get("/health", tags=["health"])
    def health() -> dict[str, Any]:
        """Liveness: the process answers and the store does too."""
        store.execute("SELECT 1")
        return {"ok": True, "version": __version__}

    return app
