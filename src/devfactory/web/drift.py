"""Drift of the deployed workspaces, for the dashboard: what an apply would change now.

The dashboard does not know specs by itself; :func:`configure_drift` gives it the specs and
environments to watch (``devfactory web --spec SPEC --env ENV``, and ``devfactory up``).
A check is the deploy engine's own :func:`~devfactory.deploy.engine.verify_workspace`: a
plan against the live workspace plus the checks of ``devfactory verify``, so the page and
the CLI can never disagree. It reads Notion, so results are kept for ``ttl`` seconds and one
check runs at a time; ``refresh`` asks for a new one. A workspace that cannot be checked
(no state yet, the target down, a spec that no longer loads) is reported with its error
rather than failing the whole answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devfactory.config import Settings
from devfactory.deploy.engine import VerifyResult, load_workspace, verify_workspace
from devfactory.deploy.state import StateFile
from devfactory.errors import DevfactoryError
from devfactory.notion.target import resolve_target

__all__ = ["DriftChecker", "Watched", "configure_drift", "drift_entry"]


@dataclass(frozen=True, slots=True)
class Watched:
    """One spec and environment the dashboard checks for drift."""

    spec: Path
    environment: str | None = None  # None: the spec without an overlay
    target_url: str | None = None


def drift_entry(
    workspace: str, environment: str, result: VerifyResult | None, error: str | None = None
) -> dict[str, Any]:
    """The API's shape of one check: in sync or not, and each change an apply would make
    (drift first, then what the spec adds), with the failed checks as ``check`` changes."""
    changes: list[dict[str, str]] = []
    in_sync: bool | None = None
    if result is not None:
        seen: set[tuple[str, str]] = set()
        for change in [*result.plan.drift, *result.plan.changes]:
            if (change.action, change.address) in seen:
                continue
            seen.add((change.action, change.address))
            changes.append(
                {
                    "database": change.database or change.address.split(".", 1)[0],
                    "action": change.action,
                    "detail": f"{change.symbol} {change.address}: {change.summary}",
                }
            )
        for check in result.checks:
            if not check.ok:
                changes.append(
                    {
                        "database": check.id.split(".", 1)[0],
                        "action": "check",
                        "detail": f"{check.description}: {check.detail or 'failed'}",
                    }
                )
        in_sync = result.in_sync
    return {
        "workspace": workspace,
        "env": environment,
        "checked_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "in_sync": in_sync,
        "changes": changes,
        "error": error,
    }


@dataclass
class DriftChecker:
    """Checks the watched workspaces against their specs, keeping results ``ttl`` seconds."""

    settings: Settings
    watched: Sequence[Watched] = ()
    ttl: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _cache: tuple[float, list[dict[str, Any]]] | None = field(default=None, init=False)
    _lock: asyncio.Lock | None = field(default=None, init=False)

    async def check(self, *, refresh: bool = False) -> list[dict[str, Any]]:
        """One entry per watched spec and environment (see :func:`drift_entry`)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            cached = self._cache
            if cached is not None and not refresh and self.clock() - cached[0] < self.ttl:
                return cached[1]
            found = [await self._one(item) for item in self.watched]
            self._cache = (self.clock(), found)
            return found

    async def _one(self, item: Watched) -> dict[str, Any]:
        name, environment = item.spec.name, item.environment or "default"
        try:
            _, ws = load_workspace(item.spec, item.environment)
            name, environment = ws.workspace, ws.environment
            if not StateFile(self.settings.home, name, environment).path.is_file():
                return drift_entry(name, environment, None, "not deployed yet (no deploy state)")
            target = resolve_target(self.settings, item.target_url)
            result = await verify_workspace(ws, target, self.settings.home)
        except DevfactoryError as exc:
            return drift_entry(name, environment, None, str(exc))
        except OSError as exc:  # the target unreachable, a spec file gone
            return drift_entry(name, environment, None, f"{type(exc).__name__}: {exc}")
        return drift_entry(name, environment, result)


def configure_drift(app: Any, watched: Sequence[Watched], *, ttl: float = 60.0) -> DriftChecker:
    """Watch ``watched`` on the dashboard ``app`` (made by :func:`create_app`)."""
    checker = DriftChecker(app.state.web.settings, tuple(watched), ttl=ttl)
    app.state.drift = checker
    return checker
