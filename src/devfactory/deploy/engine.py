"""The deploy workflows the CLI and the tests drive: plan, apply, verify.

Each opens a session on the target, reads the state, observes, plans; ``apply`` then runs
the steps under the state lock and verifies; ``verify`` reads everything (rows too) and
checks the deployed workspace. The functions are async and take callbacks for the parts a
terminal shows (the plan, the confirmation, the progress), so they stay testable.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from devfactory.deploy.apply import StepRunner, adopt
from devfactory.deploy.desired import DesiredWorkspace, desired_workspace
from devfactory.deploy.guard import consume, screen
from devfactory.deploy.observe import Observation, observe, row_title
from devfactory.deploy.plan import Plan, Step, make_plan
from devfactory.deploy.report import ApplyReport, write_report
from devfactory.deploy.state import State, StateFile
from devfactory.errors import DevfactoryError, PlanError
from devfactory.gate.decide import Gate
from devfactory.notion.api import Idempotency, NotionAPI
from devfactory.notion.target import NotionSession, Target
from devfactory.spec.model import Spec

__all__ = [
    "ApplyOptions",
    "Check",
    "VerifyResult",
    "apply_workspace",
    "load_workspace",
    "plan_workspace",
    "verify_workspace",
]

Json = dict[str, Any]


def load_workspace(path: Path, environment: str | None) -> tuple[Spec, DesiredWorkspace]:
    """Load, validate and normalise a spec (errors are a :class:`~devfactory.errors.SpecError`)."""
    from devfactory.spec.validate import load_and_validate

    spec = load_and_validate(path, environment=environment)
    return spec, desired_workspace(spec, environment or "default")


async def _in_use_options(
    session: NotionSession, api: NotionAPI, plan: Plan, state: State, seen: Observation
) -> dict[tuple[str, str], set[str]]:
    """Which select options a plan removes are still used by rows (one query each)."""
    in_use: dict[tuple[str, str], set[str]] = {}
    for removal in plan.option_removals:
        db = seen.databases.get(removal["db"])
        if db is None:
            continue
        kind = removal["type"]
        condition = "equals" if kind == "select" else "contains"
        flt = {
            "or": [
                {"property": removal["property_id"], kind: {condition: name}}
                for name in removal["options"][:100]
            ]
        }
        found = await api.call(
            partial(
                session.client.data_sources.query, db.data_source_id, filter=flt, page_size=100
            ),
            idempotency=Idempotency.SAFE,
            label="check option use",
        )
        used: set[str] = set()
        for row in found.get("results", []):
            for value in row.get("properties", {}).values():
                if value.get("id") != removal["property_id"]:
                    continue
                if kind == "select" and value.get("select"):
                    used.add(value["select"]["name"])
                elif kind == "multi_select":
                    used.update(o["name"] for o in value.get("multi_select", []))
        in_use[(removal["db"], removal["property"])] = used
    return in_use


async def plan_workspace(
    ws: DesiredWorkspace, state: State, session: NotionSession, api: NotionAPI
) -> Plan:
    """Observe the target and plan; counts the observation's reads."""
    mark = session.log.mark()
    seen = await observe(ws, state, session, api)
    name_back = session.target.names_back_properties
    plan = make_plan(ws, state, seen, name_back=name_back)
    if plan.option_removals:
        in_use = await _in_use_options(session, api, plan, state, seen)
        plan = make_plan(ws, state, seen, name_back=name_back, in_use_options=in_use)
    plan.observe_reads = len(session.log.since(mark))
    return plan


@dataclass
class ApplyOptions:
    """How an apply behaves."""

    auto_approve: bool = False
    allow_destroy: bool = False
    saved_plan: Plan | None = None
    verify: bool = True
    confirm: Callable[[Plan], bool] | None = None
    show_plan: Callable[[Plan], None] | None = None
    on_step: Callable[[int, int, Step], None] | None = None
    backup: Callable[[Plan, State, NotionSession, NotionAPI], Awaitable[list[str]]] | None = None
    gate: Gate | None = None
    """Decides on destructive changes without ``allow_destroy`` (None: they are refused)."""


async def apply_workspace(
    ws: DesiredWorkspace,
    target: Target,
    home: Path,
    options: ApplyOptions,
    *,
    session: NotionSession | None = None,
    api: NotionAPI | None = None,
) -> ApplyReport:
    """Plan (or take a saved plan), confirm, run the steps with the state locked, verify.

    ``api`` runs the calls (default: a fresh executor with the default retry policy).
    """
    state_file = StateFile(home, ws.workspace, ws.environment)
    report = ApplyReport(ws.workspace, ws.environment, target.label, started=time.time())
    own_session = session is None
    session = session or NotionSession(target)
    if own_session:
        await session.__aenter__()
    try:
        with state_file.lock("apply"):
            state = state_file.load(target.label)
            for key in [k for k in state.databases if k not in ws.databases]:
                del state.databases[key]
            api = api or NotionAPI()
            if options.saved_plan is not None:
                plan = options.saved_plan
                if (plan.lineage, plan.state_serial, plan.target) != (
                    state.lineage,
                    state.serial,
                    state.target,
                ):
                    raise PlanError(
                        "the saved plan is stale: the state changed since it was made (serial "
                        f"{plan.state_serial} -> {state.serial}); make a new plan"
                    )
                if plan.spec_hash != ws.spec_hash:
                    raise PlanError(
                        "the saved plan was made from a different spec; make a new plan"
                    )
            else:
                plan = await plan_workspace(ws, state, session, api)
            report.plan = plan
            report.observe_reads = plan.observe_reads
            report.calls_planned = len(plan.steps)
            if options.show_plan is not None:
                options.show_plan(plan)
            passed = screen(
                plan,
                target.label,
                options.gate,
                allow_destroy=options.allow_destroy,
                has_backup=options.backup is not None,
            )
            adopt(plan, state)
            if plan.empty:
                state.last_applied_hash = ws.spec_hash
                state_file.save(state)
                return report
            if (
                not options.auto_approve
                and options.confirm is not None
                and not options.confirm(plan)
            ):
                raise PlanError("apply cancelled")
            consume(options.gate, passed)
            if plan.destructive and options.backup is not None:
                report.backups = await options.backup(plan, state, session, api)
            state_file.save(state)
            mark = session.log.mark()
            retries, lookups = api.retries, api.lookups
            runner = StepRunner(session, api, state, state_file, ws)
            total = len(plan.steps)

            def progress(index: int, step: Step) -> None:
                report.steps_run = index + 1
                if options.on_step is not None:
                    options.on_step(index, total, step)

            await runner.run(plan, progress)
            calls = session.log.since(mark)
            report.calls_made = len(calls)
            report.retries = api.retries - retries
            report.lookups = api.lookups - lookups
            report.rate_limit_wait = sum(c.waited for c in calls)
            state.last_applied_hash = ws.spec_hash
            state_file.save(state)
            if options.verify:
                verify_mark = session.log.mark()
                after = await plan_workspace(ws, state, session, api)
                adopt(after, state)
                state_file.save(state)
                report.verify_reads = len(session.log.since(verify_mark))
                report.verified = after.empty
                report.remaining = [f"{c.symbol} {c.address}: {c.summary}" for c in after.changes]
            return report
    except DevfactoryError as exc:
        report.error = str(exc)
        raise
    finally:
        report.finished = time.time()
        if report.plan is not None:
            write_report(report, home)
        if own_session:
            await session.__aexit__(None, None, None)


# ---------------------------------------------------------------------------- verify


@dataclass
class Check:
    """One verification check and its outcome."""

    id: str
    description: str
    ok: bool
    detail: str = ""


@dataclass
class VerifyResult:
    """Drift (a non-empty plan) and the checks of the deployed workspace."""

    plan: Plan
    checks: list[Check] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return self.plan.empty and all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.in_sync else 2


async def _rows(session: NotionSession, api: NotionAPI, data_source_id: str) -> list[Json]:
    return await api.results(
        partial(session.client.data_sources.query, data_source_id), "read rows"
    )


async def verify_workspace(
    ws: DesiredWorkspace,
    target: Target,
    home: Path,
    *,
    session: NotionSession | None = None,
    api: NotionAPI | None = None,
) -> VerifyResult:
    """Plan against the live workspace (drift = non-empty) and check schemas, relations both
    ways, rollups computing and seed rows."""
    state = StateFile(home, ws.workspace, ws.environment).load(target.label)
    own = session is None
    session = session or NotionSession(target)
    if own:
        await session.__aenter__()
    try:
        api = api or NotionAPI()
        plan = await plan_workspace(ws, state, session, api)
        result = VerifyResult(plan)
        seen = await observe(ws, state, session, api)
        for key, db in ws.databases.items():
            observed = seen.databases.get(key)
            result.checks.append(
                Check(f"{key}.exists", f'database "{db.title}" exists', observed is not None)
            )
            if observed is None:
                continue
            for name, prop in db.properties.items():
                have = observed.named(name)
                ok = have is not None and have.type == prop.type
                detail = "" if ok else (f"found {have.type}" if have else "missing")
                result.checks.append(
                    Check(f"{key}.properties.{name}", f'"{name}" is a {prop.type}', ok, detail)
                )
                if ok and prop.type == "relation" and have is not None:
                    want = prop.config
                    both = have.config["to"] == want["to"] and have.config["dual"] == want["dual"]
                    result.checks.append(
                        Check(
                            f"{key}.relations.{name}",
                            f'"{name}" links to {want["to"]} ({"both ways" if want["dual"] else "one way"})',
                            both,
                        )
                    )
            rows = (
                await _rows(session, api, observed.data_source_id)
                if db.rows or any(p.type == "rollup" for p in db.properties.values())
                else []
            )
            titles = {row_title(r): r for r in rows}
            for row in db.rows:
                title = str(row.get(db.title_property, ""))
                result.checks.append(
                    Check(f"{key}.rows.{title}", f'seed row "{title}" exists', title in titles)
                )
            for name, prop in db.properties.items():
                if prop.type != "rollup":
                    continue
                values = [r["properties"].get(name, {}).get("rollup") for r in rows]
                broken = [
                    v
                    for v in values
                    if not v or v.get("type") not in ("number", "date", "array", "unsupported")
                ]
                result.checks.append(
                    Check(
                        f"{key}.rollups.{name}",
                        f'rollup "{name}" computes on every row',
                        not broken,
                        f"{len(broken)} rows without a value" if broken else "",
                    )
                )
        return result
    finally:
        if own:
            await session.__aexit__(None, None, None)
