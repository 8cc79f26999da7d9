"""Many workspaces at once: one spec, many targets, each with its own token, rate limit and
state, applied concurrently.

``workspaces.yaml``::

    workspaces:
      - name: acme                      # label; its state lives in <home>/workspaces/acme
        env: prod                       # environment of the spec (overlay)
        target: http://127.0.0.1:8787   # a local server; "notion" for the real API; omit: embedded
        token_env: ACME_NOTION_TOKEN    # the token comes from this variable, never from the file
        rate: 3                         # requests/s for this target
        vars: {NOTION_PARENT_PAGE_ID: "…"}   # extra ${VARS} for the spec
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from devfactory.config import Settings
from devfactory.deploy.desired import desired_workspace
from devfactory.deploy.engine import ApplyOptions, apply_workspace
from devfactory.deploy.report import ApplyReport
from devfactory.errors import ConfigError, DevfactoryError, UserError
from devfactory.notion.target import Target, resolve_target

__all__ = ["FleetEntry", "FleetResult", "apply_fleet", "load_fleet"]


class FleetEntry(BaseModel):
    """One workspace of a fleet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    env: str | None = None
    target: str | None = None
    token_env: str | None = None
    rate: float | None = Field(default=None, gt=0)
    home: str | None = None
    vars: dict[str, str] = Field(default_factory=dict)


class _Fleet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workspaces: list[FleetEntry] = Field(min_length=1)


@dataclass
class FleetResult:
    """How one workspace of the fleet went."""

    entry: FleetEntry
    target: str = ""
    report: ApplyReport | None = None
    error: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and (self.report is None or self.report.verified is not False)


def load_fleet(path: Path) -> list[FleetEntry]:
    """Read ``workspaces.yaml``; names must be unique."""
    try:
        data = yaml.safe_load(path.read_text())
        fleet = _Fleet.model_validate(data)
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise UserError(f"{path}: not a workspaces file: {exc}") from exc
    names = [w.name for w in fleet.workspaces]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(f"{path}: workspace names must be unique: {', '.join(duplicates)}")
    return list(fleet.workspaces)


def _target(entry: FleetEntry, settings: Settings, home: Path) -> Target:
    token = os.environ.get(entry.token_env) if entry.token_env else None
    if entry.token_env and not token:
        raise ConfigError(f"workspace {entry.name}: the variable {entry.token_env} is not set")
    updates: dict[str, Any] = {"home": home}
    if entry.rate is not None:
        updates["notion_rate"] = entry.rate
    if entry.target == "notion":
        if not token:
            raise ConfigError(f"workspace {entry.name}: a notion target needs token_env")
        updates["notion_token"] = SecretStr(token)
        return resolve_target(settings.model_copy(update=updates))
    if entry.target:
        updates["emulator_token"] = SecretStr(token) if token else settings.emulator_token
        updates["notion_token"] = None
        return resolve_target(settings.model_copy(update=updates), entry.target)
    updates["notion_token"] = None
    return resolve_target(settings.model_copy(update=updates))


async def _one(
    spec_path: Path, entry: FleetEntry, settings: Settings, options: ApplyOptions
) -> FleetResult:
    from devfactory.spec.validate import load_and_validate

    started = time.perf_counter()
    result = FleetResult(entry)
    try:
        home = Path(entry.home) if entry.home else settings.home / "workspaces" / entry.name
        target = _target(entry, settings, home)
        result.target = target.label
        spec = load_and_validate(
            spec_path, environment=entry.env, environ={**os.environ, **entry.vars}
        )
        ws = desired_workspace(spec, entry.env or "default")
        result.report = await apply_workspace(ws, target, home, options)
    except DevfactoryError as exc:
        result.error = (
            f"{type(exc).__name__}: {exc}" if not isinstance(exc, UserError) else str(exc)
        )
    result.seconds = time.perf_counter() - started
    return result


async def apply_fleet(
    spec_path: Path, entries: list[FleetEntry], settings: Settings, options: ApplyOptions
) -> list[FleetResult]:
    """Apply the spec to every workspace concurrently; one failure does not stop the others."""
    return list(await asyncio.gather(*(_one(spec_path, e, settings, options) for e in entries)))
