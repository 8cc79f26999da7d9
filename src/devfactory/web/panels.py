"""Dashboard widgets as plugins: a :class:`Panel` is a title, a template and a data function.

The overview's own widgets are panels (:data:`BUILTIN`), registered in :data:`REGISTRY` like
any other. A package adds one with an entry point in the group :data:`GROUP` that names a
:class:`Panel`::

    [project.entry-points."devfactory.web_panels"]
    queue = "acme_panels:queue_panel"

Its template is either a name under the dashboard's ``templates/`` (``panels/stat.html``
is a generic number-and-caption tile) or ``package:path`` inside the plugin's own package
(``acme_panels:templates/queue.html``). A page renders each of its panels with ``panel``,
``data`` (what the data function returned) and ``principal`` in the template context.

A plugin can only ever hurt itself: an entry point that fails to load, or loads something
that is not a :class:`Panel`, is logged as a warning and skipped; a data function or
template that raises shows an error box in that panel's place (see
:mod:`devfactory.web.pages`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from devfactory.mcp.access import Principal
from devfactory.obs.log import get_logger
from devfactory.web.context import WebContext

__all__ = ["BUILTIN", "GROUP", "REGISTRY", "Panel", "PanelData", "PanelRegistry"]

GROUP = "devfactory.web_panels"
PanelData = Callable[[WebContext, Principal], Mapping[str, Any]]
_log = get_logger("web")


@dataclass(frozen=True)
class Panel:
    """One widget: ``name`` (unique, also its element id ``panel-<name>``), ``title`` (its
    heading), ``template`` (see the module docstring), ``data`` (called on every render with
    the dashboard's context and the signed-in principal), the ``page`` it sits on and its
    ``order`` there (smaller first, then by name)."""

    name: str
    title: str
    template: str
    data: PanelData
    page: str = "overview"
    order: int = 100


class PanelRegistry:
    """The panels of the dashboard: those registered in code plus those of entry points.

    Entry points are read on first use and again on :meth:`discover`; a panel registered in
    code wins over a plugin's of the same name.
    """

    def __init__(self, group: str | None = GROUP) -> None:
        self.group = group
        self._lock = threading.Lock()
        self._panels: dict[str, Panel] = {}
        self._plugins: dict[str, Panel] | None = None

    def register(self, panel: Panel) -> Panel:
        """Add ``panel``; ``ValueError`` if its name is taken. Returns it."""
        if not isinstance(panel, Panel):
            raise TypeError(f"want a Panel, got {type(panel).__name__}")
        with self._lock:
            if panel.name in self._panels:
                raise ValueError(f"a panel named {panel.name!r} is already registered")
            self._panels[panel.name] = panel
        return panel

    def unregister(self, name: str) -> None:
        """Remove the panel registered as ``name`` (nothing if there is none)."""
        with self._lock:
            self._panels.pop(name, None)

    def discover(self) -> list[Panel]:
        """Load the panels of the entry point group now (replacing those loaded before); the
        ones that loaded. A failing entry point is a warning, never an error."""
        found: dict[str, Panel] = {}
        for point in entry_points(group=self.group) if self.group else ():
            try:
                loaded = point.load()
            except Exception as exc:  # a broken plugin must not take the dashboard down
                _log.warning(
                    "web.panel_failed", entry_point=point.name, value=point.value, error=repr(exc)
                )
                continue
            if not isinstance(loaded, Panel):
                _log.warning(
                    "web.panel_failed",
                    entry_point=point.name,
                    value=point.value,
                    error=f"not a Panel but {type(loaded).__name__}",
                )
                continue
            found[loaded.name] = loaded
        with self._lock:
            self._plugins = found
        return list(found.values())

    def panels_for(self, page: str) -> list[Panel]:
        """The panels of ``page``, by order then name."""
        if self._plugins is None:
            self.discover()
        with self._lock:
            merged = {**(self._plugins or {}), **self._panels}
        return sorted((p for p in merged.values() if p.page == page), key=_rank)


def _rank(panel: Panel) -> tuple[int, str]:
    return panel.order, panel.name


def _nothing(ctx: WebContext, principal: Principal) -> Mapping[str, Any]:
    """No server data: the overview's script fills the panel from the metrics summary."""
    return {}


def _pending(ctx: WebContext, principal: Principal) -> Mapping[str, Any]:
    count = ctx.store.execute("SELECT COUNT(*) FROM approvals WHERE status = 'pending'")[0][0]
    return {"pending": int(count)}


BUILTIN = (
    Panel("calls", "Calls", "panels/calls.html", _nothing, order=10),
    Panel("latency", "Latency", "panels/latency.html", _nothing, order=20),
    Panel("reliability", "Retries and 429s", "panels/reliability.html", _nothing, order=30),
    Panel("approvals", "Pending approvals", "panels/approvals.html", _pending, order=40),
    Panel("rate_limit", "Notion rate limit", "panels/rate_limit.html", _nothing, order=50),
    Panel("process", "Dashboard process", "panels/process.html", _nothing, order=60),
    Panel("activity", "Calls and latency", "panels/activity.html", _nothing, order=70),
)
"""The overview's own widgets."""

REGISTRY = PanelRegistry()
for _panel in BUILTIN:
    REGISTRY.register(_panel)
