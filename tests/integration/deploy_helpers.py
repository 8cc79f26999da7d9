"""Helpers for deploy-engine tests: specs from YAML text, targets, and one-call drivers."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from devfactory.config import Settings
from devfactory.deploy.desired import DesiredWorkspace, desired_workspace
from devfactory.deploy.engine import ApplyOptions, apply_workspace, plan_workspace, verify_workspace
from devfactory.deploy.plan import Plan
from devfactory.deploy.report import ApplyReport
from devfactory.deploy.state import StateFile
from devfactory.notion.api import NotionAPI
from devfactory.notion.target import NotionSession, Target, resolve_target
from devfactory.spec.model import Spec

BASE = yaml.safe_load(
    """
apiVersion: devfactory/v1
workspace: consulting
databases:
  clients:
    title: Clients
    icon: "🏢"
    description: Everyone we work for
    properties:
      Name: title
      Status: {type: select, options: [Active, Prospect, {name: Archived, color: gray}]}
      Notes: rich_text
      Active Projects: {type: rollup, relation: Projects, property: Budget, function: count}
      Pipeline: {type: rollup, relation: Projects, property: Budget, function: sum}
    rows:
      - {Name: Acme Corp, Status: Active, Notes: first client}
      - {Name: Globex, Status: Prospect}
  projects:
    title: Pipeline Projects
    properties:
      Name: title
      Client: {type: relation, to: clients, synced_as: Projects}
      Budget: {type: number, format: dollar}
      Code: {type: unique_id, prefix: PRJ}
      Margin: {type: formula, expression: 'prop("Budget") * 0.2'}
      Stage: {type: status}
      Depends on: {type: relation, to: projects}
    rows:
      - {Name: Website, Client: Acme Corp, Budget: 12000}
      - {Name: Audit, Client: [Acme Corp], Budget: 4500, Depends on: Website}
      - {Name: Pitch, Client: Globex, Budget: 800}
"""
)


def spec_data(mutate: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """A copy of the base spec, optionally changed."""
    data = copy.deepcopy(BASE)
    if mutate is not None:
        mutate(data)
    return data


def desired(data: dict[str, Any], env: str = "default") -> DesiredWorkspace:
    return desired_workspace(Spec.model_validate(data), env)


def embedded(home: Path) -> Target:
    return resolve_target(Settings(home=home))


def local(url: str, token: str, rate: float | None = None) -> Target:
    """A running local server as a target (no client-side pacing unless ``rate``)."""
    target = resolve_target(Settings(home=Path(), emulator_token=token), url)
    return dataclasses.replace(target, rate=rate)


def apply(ws: DesiredWorkspace, target: Target, home: Path, **options: Any) -> ApplyReport:
    return asyncio.run(
        apply_workspace(ws, target, home, ApplyOptions(auto_approve=True, **options))
    )


def plan(ws: DesiredWorkspace, target: Target, home: Path) -> Plan:
    async def run() -> Plan:
        state = StateFile(home, ws.workspace, ws.environment).load(target.label)
        async with NotionSession(target) as session:
            return await plan_workspace(ws, state, session, NotionAPI())

    return asyncio.run(run())


def verify(ws: DesiredWorkspace, target: Target, home: Path) -> Any:
    return asyncio.run(verify_workspace(ws, target, home))


def with_client(target: Target, fn: Callable[[Any], Any]) -> Any:
    """Run ``fn(client)`` (an async function of the official AsyncClient) on the target."""

    async def run() -> Any:
        async with NotionSession(target) as session:
            return await fn(session.client)

    return asyncio.run(run())
