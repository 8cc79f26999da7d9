"""Real-browser fixtures: Debian's chromium driven by Playwright, and a live dashboard.

- ``browser`` (one per package): ``/usr/bin/chromium`` launched headless by Playwright's sync
  API with the flags of the fact sheet (no ``playwright install``: that downloads a browser of
  its own). Package-scoped, not session-scoped: between its calls the sync API leaves its
  asyncio loop marked running in the main thread, so ``asyncio.run`` and anyio tests elsewhere
  fail with "Cannot run the event loop while another loop is running" while Playwright is up.
  Tests here must not run an event loop in the main thread either (servers use a thread).
  Where chromium or Playwright is missing the tests skip with the reason; with
  ``DEVFACTORY_REQUIRE_SERVICES=1`` (CI) that skip is a failure, as in ``tests/conftest.py``.
- ``page`` (per test): a fresh browser context, so no cookie outlives its test. The network is
  closed: only loopback is reached (the dashboard serves its own assets, Swagger UI included);
  every other request aborts at once instead of waiting on DNS, so a page that reached for a
  CDN would show it.
- ``web_server`` (per test): :func:`devfactory.web.create_app` on a tmp store, served by
  uvicorn in a thread on a free loopback port; yields its URL and an admin key.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

import pytest

from devfactory.config import Settings
from devfactory.db import Database
from devfactory.obs import log
from devfactory.obs.events import MemoryBus
from devfactory.web import create_app
from devfactory.web.context import WebContext
from tests.serving import app_server, serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route

CHROMIUM = Path(os.environ.get("DEVFACTORY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""The fact sheet's flags. Playwright gives each launch a fresh temp profile itself (and
rejects ``--user-data-dir`` in ``args``)."""

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def _absent(what: str, why: str) -> NoReturn:
    reason = f"{what} is not available ({why})"
    if os.environ.get("DEVFACTORY_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; DEVFACTORY_REQUIRE_SERVICES=1 makes it required")
    pytest.skip(reason)


def save_screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    """A full-page PNG of ``page`` in ``tmp_path``; also copied to docs/screenshots/ when
    ``DEVFACTORY_SCREENSHOTS=1``, so ordinary runs leave the work tree alone."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("DEVFACTORY_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOTS / name)
    return shot


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless /usr/bin/chromium through Playwright, shared by the tests of this package."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        _absent("Playwright for Python", f"{exc}; pip install -e '.[dev]'")
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        _absent(f"chromium at {CHROMIUM}", "apt-get install chromium")
    with sync_playwright() as p:
        try:
            launched = p.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=30_000
            )
        except Error as exc:
            _absent(f"chromium at {CHROMIUM}", f"launch failed: {exc.message.splitlines()[0]}")
        try:
            yield launched
        finally:
            launched.close()


def _closed_network(route: Route) -> None:
    """Loopback goes through; everything else aborts (the dashboard vendors its assets)."""
    url = urlsplit(route.request.url)
    if (url.hostname or "") in _LOOPBACK or url.scheme not in ("http", "https"):
        route.continue_()
        return
    route.abort("internetdisconnected")


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context (its own cookies and storage) on the closed network."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    ctx.route("**/*", _closed_network)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page in a context of its own, closed with the context after the test."""
    return context.new_page()


@dataclass
class WebServer:
    """A dashboard started for one test."""

    url: str
    admin_key: str
    admin_name: str
    store: Database
    bus: MemoryBus
    ctx: WebContext


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[WebServer]:
    """The dashboard app on a tmp store, served by uvicorn on a free loopback port."""
    home = tmp_path / "home"
    store = Database(f"sqlite:///{home / 'devfactory.db'}")
    bus = MemoryBus()
    log.configure(logs_dir=None, sinks=[log.MemorySink()], level="debug")
    app = create_app(Settings(home=home), store=store, bus=bus)
    ctx: WebContext = app.state.web
    admin_name = "admin-browser"
    admin_key = ctx.keys.create(admin_name, "admin")
    try:
        with serving(app_server(app), what="the dashboard") as port:
            url = f"http://127.0.0.1:{port}"
            yield WebServer(url, admin_key, admin_name, store, bus, ctx)
    finally:
        log.shutdown()
        store.close()


# ``gateway`` (per test): a real MCP gateway sharing web_server's store, log store and bus.
from tests.browser.gateway import gateway  # noqa: E402, F401
