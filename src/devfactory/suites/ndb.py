"""The NDB verification suite: user-facing checks of a deployed Notion database system.

``devfactory verify SPEC --suite ndb`` runs eight checks, each proving one thing a person
relies on, against the deployed workspace (read only) and scratch local servers of its own:

=========== ==========================================================================
NDB-IP1.1   the Ansible collection, role and playbooks are well-formed and complete
NDB-IP1.2   every database, property, relation (both ways), rollup and seed row exists
NDB-IP1.3   relations agree on both sides and every rollup shows what its rows imply
NDB-IP1.4   a plan after apply is empty and a second apply writes nothing
NDB-IP1.5   bad tokens, rate limits, timeouts and bad specs give the documented errors
NDB-IP1.6   the spec and its overlay resolve and validate for every environment
NDB-IP1.7   the last apply left a report, and the latest backup restores
NDB-IP1.8   every portal client sees exactly its own visible records
=========== ==========================================================================

Checks reuse what they check — :func:`~devfactory.deploy.engine.verify_workspace` for the
schema, :func:`~devfactory.deploy.engine.apply_workspace` for idempotency,
:func:`~devfactory.deploy.restore.restore_backup` for backups, the portal's own reader and
filter for isolation — so a check fails exactly when the user-facing behaviour does.
Nothing here writes to the target: the second apply runs on a scratch copy of the state and
refuses any change, and faults and restores go to servers the suite starts on loopback.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from devfactory.config import Settings
from devfactory.deploy.backup import backup_key, read_backup
from devfactory.deploy.desired import DesiredWorkspace, desired_workspace
from devfactory.deploy.engine import (
    ApplyOptions,
    VerifyResult,
    apply_workspace,
    load_workspace,
    plan_workspace,
    verify_workspace,
)
from devfactory.deploy.plan import Plan
from devfactory.deploy.restore import restore_backup
from devfactory.deploy.state import StateFile
from devfactory.emulator.testing import LocalNotion
from devfactory.errors import DevfactoryError, PlanError, SpecError
from devfactory.notion.api import NotionAPI
from devfactory.notion.target import NotionSession, Target, resolve_target
from devfactory.spec.validate import load_and_validate
from devfactory.suites.collection import COLLECTION_PATH, collection_problems, find_collection
from devfactory.suites.probes import error_probes
from devfactory.suites.result import CheckResult, Outcome, SuiteReport
from devfactory.suites.rollups import relation_mismatches, rollup_mismatches
from devfactory.web.portal import PortalRules, Row
from devfactory.web.portal_reader import PortalConfig, PortalReader

__all__ = ["CHECKS", "NdbOptions", "run_ndb"]

Json = dict[str, Any]
Verdict = tuple[Outcome, str, Sequence[str]]
PLACEHOLDER = "0" * 32
"""Stands in for a variable another environment sets at deploy time (a page id fits)."""
_UNSET = re.compile(r"environment variable (\w+) is not set")
_SHOWN_STEPS = 50


@dataclass(frozen=True, kw_only=True)
class NdbOptions:
    """What to verify: the spec and environment, where, and where the collection is."""

    spec: Path
    environment: str | None = None
    settings: Settings
    target_url: str | None = None
    """A running local server, as ``--target``; None: what the settings select."""
    collection: Path | None = None
    """The Ansible collection; None: found in or above the spec's folder, the working
    directory or the package's folder (``ansible_collections/devfactory/notion``)."""


@dataclass
class _Run:
    """One run: the loaded spec, the open session, and what one check reads for another."""

    options: NdbOptions
    ws: DesiredWorkspace
    target: Target
    session: NotionSession
    api: NotionAPI
    verified: VerifyResult | None = None
    rows: dict[str, list[Json]] = field(default_factory=dict)
    """Rows read so far, by data source id (read once, used by IP1.3 and IP1.8)."""

    @property
    def home(self) -> Path:
        return self.options.settings.home

    @property
    def state_file(self) -> StateFile:
        return StateFile(self.home, self.ws.workspace, self.ws.environment)

    @property
    def env_flag(self) -> str:
        env = self.options.environment
        return f" --env {env}" if env else ""

    async def read_rows(self, data_source_id: str) -> list[Json]:
        """Every row of a data source, relation values complete (pages show at most 25)."""
        if data_source_id not in self.rows:
            query = partial(self.session.client.data_sources.query, data_source_id)
            found = await self.api.results(query, "read rows")
            for row in found:
                await self._complete_relations(row)
            self.rows[data_source_id] = found
        return self.rows[data_source_id]

    async def _complete_relations(self, row: Json) -> None:
        for value in row.get("properties", {}).values():
            if value.get("type") == "relation" and value.get("has_more"):
                items = partial(
                    self.session.client.pages.properties.retrieve, row["id"], value["id"]
                )
                found = await self.api.results(items, "read relation")
                value["relation"] = [i["relation"] for i in found if "relation" in i]
                value["has_more"] = False


def _shown(lines: Sequence[str]) -> list[str]:
    if len(lines) <= _SHOWN_STEPS:
        return list(lines)
    return [*lines[:_SHOWN_STEPS], f"… and {len(lines) - _SHOWN_STEPS} more"]


# ---------------------------------------------------------------------------- the checks


async def infrastructure(run: _Run) -> Verdict:
    """NDB-IP1.1: the collection's files exist, parse, and carry the required keys."""
    options = run.options
    root = options.collection or find_collection(
        [options.spec.parent, Path.cwd(), Path(__file__).resolve().parent]
    )
    if root is None:
        return (
            Outcome.FAILED,
            f"no Ansible collection found: looked for {COLLECTION_PATH} in and above "
            f"{options.spec.parent}, the working directory and the package; pass --collection PATH",
            (),
        )
    if not root.is_dir():
        return Outcome.FAILED, f"no collection at {root}; pass --collection PATH", ()
    problems = collection_problems(root)
    if problems:
        n = len(problems)
        detail = f"{root}: {n} problem{'s' if n != 1 else ''}: {problems[0]}"
        return Outcome.FAILED, detail, _shown(problems)
    return Outcome.PASSED, f"{root}: galaxy.yml, runtime, 3 documented modules, role, playbooks", ()


async def schema_and_data(run: _Run) -> Verdict:
    """NDB-IP1.2: the checks of ``devfactory verify`` — databases, properties, relations
    both ways, rollups computing, seed rows."""
    result = await verify_workspace(run.ws, run.target, run.home, session=run.session, api=run.api)
    run.verified = result
    failed = [c for c in result.checks if not c.ok]
    total = len(result.checks)
    if failed:
        lines = [f"{c.id}: {c.description}: {c.detail or 'failed'}" for c in failed]
        return Outcome.FAILED, f"{len(failed)} of {total} checks failed: {lines[0]}", _shown(lines)
    return Outcome.PASSED, f"{total} of {total} checks passed", ()


async def _all_rows(run: _Run) -> dict[str, list[Json]]:
    state = run.state_file.load(run.target.label)
    missing = [key for key in run.ws.databases if key not in state.databases]
    if missing:
        raise PlanError(f"not deployed: {', '.join(missing)} (devfactory apply SPEC{run.env_flag})")
    return {
        key: await run.read_rows(state.databases[key].data_source_id) for key in run.ws.databases
    }


async def relations_and_rollups(run: _Run) -> Verdict:
    """NDB-IP1.3: both sides of every two-way relation agree, and every rollup shows what
    its related rows imply (counts, sums, averages, dates, checkboxes)."""
    rows = await _all_rows(run)
    links, one_sided = relation_mismatches(run.ws, rows)
    rollups = rollup_mismatches(run.ws, rows)
    problems = one_sided + rollups.mismatches
    note = f"; not modelled: {', '.join(rollups.not_modelled)}" if rollups.not_modelled else ""
    if problems:
        return Outcome.FAILED, f"{len(problems)} wrong: {problems[0]}{note}", _shown(problems)
    if not links and not rollups.rollups:
        return Outcome.SKIPPED, f"no two-way relations or modelled rollups{note}", ()
    return (
        Outcome.PASSED,
        f"{links} links agree on both sides; {rollups.rollups} rollups match their related "
        f"rows on {rollups.checked} values{note}",
        (),
    )


async def idempotence(run: _Run) -> Verdict:
    """NDB-IP1.4: a new plan is empty, and a second apply — on a scratch copy of the state,
    refusing any change — makes no write call."""
    if run.verified is not None:
        plan = run.verified.plan
    else:
        state = run.state_file.load(run.target.label)
        plan = await plan_workspace(run.ws, state, run.session, run.api)
    if not plan.empty:
        lines = [f"{c.symbol} {c.address}: {c.summary}" for c in plan.changes]
        first = f" ({lines[0]})" if lines else ""
        return (
            Outcome.FAILED,
            f"a plan after apply is not empty: {len(plan.changes)} changes, {len(plan.steps)} "
            f"calls{first}",
            _shown(lines),
        )
    seen: list[Plan] = []
    options = ApplyOptions(verify=False, show_plan=seen.append, confirm=lambda _: False)
    with tempfile.TemporaryDirectory(prefix="devfactory-ndb-") as scratch:
        home = Path(scratch)
        source = run.state_file
        if source.path.exists():
            (home / "state").mkdir()
            shutil.copy2(source.path, home / "state" / source.path.name)
        mark = run.session.log.mark()
        try:
            report = await apply_workspace(
                run.ws, run.target, home, options, session=run.session, api=run.api
            )
        except PlanError:
            if seen and not seen[0].empty:
                planned = seen[0]
                return (
                    Outcome.FAILED,
                    f"a second apply would make {len(planned.steps)} calls (refused)",
                    _shown([f"{c.symbol} {c.address}: {c.summary}" for c in planned.changes]),
                )
            raise
    writes = [c for c in run.session.log.since(mark) if not c.is_read]
    if writes or report.calls_made:
        lines = [f"{c.method} {c.path} -> {c.status}" for c in writes]
        return Outcome.FAILED, f"a second apply wrote {len(writes)} calls", _shown(lines)
    reads = len(run.session.log.since(mark))
    return (
        Outcome.PASSED,
        f"a plan after apply is empty; a second apply made {report.calls_made} calls of "
        f"{report.calls_planned} planned and 0 writes ({reads} reads)",
        (),
    )


async def error_handling(run: _Run) -> Verdict:
    """NDB-IP1.5: documented errors and retries, on a scratch server with injected faults."""
    with tempfile.TemporaryDirectory(prefix="devfactory-ndb-") as scratch:
        probes = await error_probes(Path(scratch))
    lines = [("ok: " if p.ok else "FAILED: ") + p.text for p in probes]
    failed = [p for p in probes if not p.ok]
    if failed:
        return Outcome.FAILED, f"{len(failed)} of {len(probes)} failed: {failed[0].text}", lines
    return Outcome.PASSED, f"{len(probes)} behaviours as documented", lines


def environments_of(spec: Path) -> list[str]:
    """Every environment a spec names: ``<stem>.<env>.yaml`` next to it, and the keys of its
    ``environments:`` map (read as plain YAML; a broken spec has none)."""
    suffix = spec.suffix if spec.suffix in (".yaml", ".yml") else ".yaml"
    found = {
        candidate.name[len(spec.stem) + 1 : -len(suffix)]
        for candidate in spec.parent.glob(f"{spec.stem}.*{suffix}")
    }
    try:
        data = yaml.safe_load(spec.read_text())
    except (OSError, yaml.YAMLError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("environments"), dict):
        found.update(str(name) for name in data["environments"])
    return sorted(name for name in found if re.fullmatch(r"[a-z][a-z0-9_-]*", name))


def _resolve(spec: Path, environment: str | None, *, placeholders: bool) -> list[str]:
    """Load and normalise the spec for one environment; notes about placeholders used.

    With ``placeholders``, variables unset here are filled with :data:`PLACEHOLDER` (another
    environment's parent page id, say, set only where that environment is deployed).
    """
    environ = dict(os.environ)
    try:
        parsed = load_and_validate(spec, environment=environment, environ=environ)
    except SpecError as exc:
        found = [_UNSET.search(str(issue)) for issue in exc.issues]
        if not placeholders or not found or None in found:
            raise
        unset = {match[1] for match in found if match is not None}
        environ.update(dict.fromkeys(unset, PLACEHOLDER))
        parsed = load_and_validate(spec, environment=environment, environ=environ)
        desired_workspace(parsed, environment or "default")
        return [f"{', '.join(sorted(unset))} not set here (checked with a placeholder)"]
    desired_workspace(parsed, environment or "default")
    return []


async def environment(run: _Run) -> Verdict:
    """NDB-IP1.6: the base spec and every environment's overlay load, interpolate and
    validate; variables of environments other than this one may be unset here."""
    spec = run.options.spec
    names = environments_of(spec)
    lines: list[str] = []
    failed: list[str] = []
    for name in [None, *names]:
        label = name or "(base)"
        try:
            notes = _resolve(spec, name, placeholders=name != run.options.environment)
        except SpecError as exc:
            failed.append(f"{label}: {str(exc).splitlines()[0]}")
            lines.extend(f"{label}: {line}" for line in str(exc).splitlines())
            continue
        lines.append(f"{label}: resolves and validates" + "".join(f"; {n}" for n in notes))
    if failed:
        return (
            Outcome.FAILED,
            f"{len(failed)} of {len(names) + 1} do not resolve: {failed[0]}",
            lines,
        )
    return (
        Outcome.PASSED,
        f"the base and {len(names)} environments ({', '.join(names)}) resolve",
        lines,
    )


def _newest(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.glob(pattern), key=lambda p: (p.stat().st_mtime, p.name))
    return found[-1] if found else None


async def deployment(run: _Run) -> Verdict:
    """NDB-IP1.7: the last apply left a report that did not fail, and the latest backup of
    this workspace and environment restores, every database and row, into a scratch server."""
    ws, spec = run.ws, run.options.spec
    prefix = f"{ws.workspace}.{ws.environment}."
    report = _newest(run.home / "reports", f"{prefix}*.yaml")
    if report is None:
        return Outcome.FAILED, f"no apply report; run devfactory apply {spec}{run.env_flag}", ()
    data = yaml.safe_load(report.read_text()) or {}
    if data.get("result") == "error":
        return Outcome.FAILED, f"the last apply failed ({report.name}): {data.get('error')}", ()
    if (data.get("verification") or {}).get("clean") is False:
        return Outcome.FAILED, f"the last apply did not converge ({report.name})", ()
    backup = _newest(run.home / "backups", f"{prefix}*.dfbak")
    if backup is None:
        return Outcome.FAILED, f"no backup; run devfactory backup {spec}{run.env_flag}", ()
    content = read_backup(backup, backup_key(run.options.settings))
    databases = content.get("databases") or {}
    rows = sum(len(entry.get("rows") or []) for entry in databases.values())
    with LocalNotion.start(token="ntn_devfactory_suite_restore") as scratch:
        target = Target(
            "local", scratch.base_url, scratch.base_url, scratch.token,
            names_back_properties=True, creates_root_pages=True,
        )  # fmt: skip
        async with NotionSession(target) as session:
            restored = await restore_backup(content, session, NotionAPI(), into_page_id=None)
    steps = [f"report {report.name}: {data.get('result')}", *restored.warnings]
    if (restored.databases, restored.rows) != (len(databases), rows):
        return (
            Outcome.FAILED,
            f"{backup.name} restored {restored.databases} of {len(databases)} databases and "
            f"{restored.rows} of {rows} rows",
            steps,
        )
    return (
        Outcome.PASSED,
        f"report {report.name}; {backup.name} restores {restored.databases} databases, "
        f"{restored.rows} rows and {restored.links} links",
        steps,
    )


def _linked(row: Row, relation: str, key: str) -> bool:
    return key in {item.replace("-", "").lower() for item in row.links.get(relation, ())}


async def portal_isolation(run: _Run) -> Verdict:
    """NDB-IP1.8: through the portal's own reader and filter, each ``Portal`` client sees its
    record, every visible project and task of its own, and no row of another client; an
    internal client sees nothing."""
    rules = PortalRules()
    if not {rules.clients, rules.projects, rules.tasks} <= set(run.ws.databases):
        return Outcome.SKIPPED, "no clients, projects and tasks databases: no portal here", ()
    options = run.options
    config = PortalConfig(
        workspace=run.ws.workspace,
        environment=run.ws.environment,
        target_url=options.target_url,
        ttl=float("inf"),
        rules=rules,
    )
    reader = PortalReader(config, options.settings, fetch=run.read_rows)
    clients = await reader.rows(rules.clients)
    projects = await reader.rows(rules.projects)
    tasks = await reader.rows(rules.tasks)
    problems: list[str] = []
    lines: list[str] = []
    for client in clients:
        seen = await reader.visible(client.id)
        if client.visibility != rules.shown:
            if seen is not None:
                problems.append(
                    f"{client.title} is {client.visibility or 'internal'} but sees rows"
                )
            continue
        if seen is None or seen.client.key != client.key:
            problems.append(f"{client.title} ({rules.shown}) does not see its own record")
            continue
        own = [
            p
            for p in projects
            if p.visibility == rules.shown and _linked(p, rules.project_client, client.key)
        ]
        own_keys = {p.key for p in own}
        own_tasks = [
            t
            for t in tasks
            if t.visibility == rules.shown
            and any(_linked(t, rules.task_project, k) for k in own_keys)
            and (not t.links.get(rules.task_client) or _linked(t, rules.task_client, client.key))
        ]
        shown_projects = {p.key for p in seen.projects}
        shown_tasks = {t.key for t in seen.tasks}
        problems += [
            f'{client.title} sees project "{p.title}", not its own visible project'
            for p in seen.projects
            if p.key not in own_keys
        ]
        problems += [
            f'{client.title} sees task "{t.title}", not its own visible task'
            for t in seen.tasks
            if t.key not in {o.key for o in own_tasks}
        ]
        problems += [
            f'{client.title} does not see its project "{p.title}"'
            for p in own
            if p.key not in shown_projects
        ]
        problems += [
            f'{client.title} does not see its task "{t.title}"'
            for t in own_tasks
            if t.key not in shown_tasks
        ]
        lines.append(f"{client.title}: {len(seen.projects)} projects, {len(seen.tasks)} tasks")
    portal = sum(1 for c in clients if c.visibility == rules.shown)
    if problems:
        return (
            Outcome.FAILED,
            f"{len(problems)} isolation problems: {problems[0]}",
            _shown(problems),
        )
    if not portal:
        return Outcome.SKIPPED, f"no client has {rules.visibility} = {rules.shown}", ()
    return (
        Outcome.PASSED,
        f"{portal} portal clients see exactly their own rows; {len(clients) - portal} internal "
        "clients see nothing",
        lines,
    )


Check = Callable[[_Run], Awaitable[Verdict]]
CHECKS: tuple[tuple[str, str, Check], ...] = (
    (
        "NDB-IP1.1",
        "infrastructure: the Ansible collection, role and playbooks are well-formed and complete",
        infrastructure,
    ),
    (
        "NDB-IP1.2",
        "schema and data: every database, property, relation (both ways), rollup and seed row "
        "exists as declared",
        schema_and_data,
    ),
    (
        "NDB-IP1.3",
        "relations and rollups compute: both sides of each relation agree and every rollup "
        "shows what its related rows imply",
        relations_and_rollups,
    ),
    (
        "NDB-IP1.4",
        "idempotent operations: a plan after apply is empty and a second apply writes nothing",
        idempotence,
    ),
    (
        "NDB-IP1.5",
        "error handling: bad tokens, rate limits, timeouts and bad specs give the documented "
        "errors",
        error_handling,
    ),
    (
        "NDB-IP1.6",
        "environment: the spec and its overlays resolve and validate for every environment",
        environment,
    ),
    (
        "NDB-IP1.7",
        "deployment: the last apply left a report and the latest backup restores",
        deployment,
    ),
    (
        "NDB-IP1.8",
        "client portal: every portal client sees exactly its own visible records",
        portal_isolation,
    ),
)
"""Every check: its id, what it proves, and the function that proves it."""


async def _one(run: _Run, check_id: str, description: str, check: Check) -> CheckResult:
    started = time.perf_counter()
    try:
        outcome, detail, steps = await check(run)
    except DevfactoryError as exc:
        lines = str(exc).splitlines() or [type(exc).__name__]
        outcome, detail, steps = Outcome.ERROR, lines[0], lines
    except Exception as exc:  # a check that breaks must not hide the other checks' results
        outcome, detail, steps = Outcome.ERROR, f"{type(exc).__name__}: {exc}", ()
    return CheckResult(
        check_id, description, outcome, detail, time.perf_counter() - started, tuple(steps)
    )


async def run_ndb(options: NdbOptions, *, only: Sequence[str] | None = None) -> SuiteReport:
    """Run the NDB checks (``only`` some ids, if given) and return their results.

    The spec must load for the environment (a :class:`~devfactory.errors.SpecError`
    otherwise); everything after that is a check's result, never an exception.
    """
    _, ws = load_workspace(options.spec, options.environment)
    target = resolve_target(options.settings, options.target_url)
    report = SuiteReport("ndb", ws.workspace, ws.environment, target.label)
    async with NotionSession(target) as session:
        run = _Run(options, ws, target, session, NotionAPI())
        for check_id, description, check in CHECKS:
            if only is None or check_id in only:
                report.checks.append(await _one(run, check_id, description, check))
    report.finished = time.time()
    return report
