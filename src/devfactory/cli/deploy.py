"""``devfactory validate | plan | apply | verify | state``: Notion workspaces as code."""

from __future__ import annotations

import asyncio
import enum
import json
import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from devfactory.cli.options import (
    ENV_OPTION,
    SPEC_ARG,
    TARGET_OPTION,
    existing,
    state_file_for,
)
from devfactory.config import load_settings
from devfactory.db import Database
from devfactory.deploy.engine import (
    ApplyOptions,
    Check,
    apply_workspace,
    load_workspace,
    plan_workspace,
    verify_workspace,
)
from devfactory.deploy.plan import Plan, Step
from devfactory.deploy.render import render_plan
from devfactory.deploy.state import State, StateFile
from devfactory.errors import PlanError, UserError
from devfactory.executor import Executor, TaskRegistry
from devfactory.gate import gate_for
from devfactory.notion.api import NotionAPI
from devfactory.notion.target import NotionSession, resolve_target
from devfactory.obs.log import operation

__all__ = ["register"]

out = Console()
err = Console(stderr=True)


def validate(spec: Path = SPEC_ARG, env: str | None = ENV_OPTION) -> None:
    """Check a spec: exit 0 when valid, 1 with every problem (file:line:col) otherwise."""
    model, ws = load_workspace(existing(spec), env)
    rows = sum(len(db.rows) for db in ws.databases.values())
    props = sum(len(db.properties) for db in ws.databases.values())
    out.print(
        f"[green]✓[/green] {spec}{' (' + env + ')' if env else ''}: workspace {model.workspace}, "
        f"{len(ws.databases)} databases, {props} properties, {rows} seed rows"
    )


def plan(
    spec: Path = SPEC_ARG,
    env: str | None = ENV_OPTION,
    target: str | None = TARGET_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    out_file: Path | None = typer.Option(
        None, "--out", help="Save the plan to apply later with `apply --plan`."
    ),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 0 no changes, 1 error, 2 changes."
    ),
) -> None:
    """Show what apply would do, and how many API calls it will make."""
    settings = load_settings()
    _, ws = load_workspace(existing(spec), env)
    resolved = resolve_target(settings, target)
    state = StateFile(settings.home, ws.workspace, ws.environment).load(resolved.label)

    async def run() -> Plan:
        async with NotionSession(resolved) as session:
            return await plan_workspace(ws, state, session, NotionAPI())

    result = asyncio.run(run())
    if out_file is not None:
        out_file.write_text(json.dumps(result.to_json(), indent=2))
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        out.print(
            render_plan(result, rate=resolved.rate), highlight=False, soft_wrap=True, markup=False
        )
        if out_file is not None:
            out.print(
                f"\nSaved the plan to {out_file}; apply it with `devfactory apply {spec} --plan {out_file}`."
            )
    if detailed_exitcode and not result.empty:
        raise typer.Exit(2)


def apply(
    spec: Path = SPEC_ARG,
    env: str | None = ENV_OPTION,
    target: str | None = TARGET_OPTION,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask before applying."),
    plan_file: Path | None = typer.Option(None, "--plan", help="Apply exactly this saved plan."),
    allow_destroy: bool = typer.Option(
        False, "--allow-destroy", help="Allow destructive changes (backed up first)."
    ),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the check after applying."),
    print_report: bool = typer.Option(
        False, "--print-report", help="Print the whole YAML report at the end."
    ),
    workspaces: Path | None = typer.Option(
        None,
        "--workspaces",
        help="Apply to every workspace in this file, concurrently (docs/deploy.md).",
    ),
) -> None:
    """Converge the workspace to the spec: plan, confirm, apply with progress, verify, report."""
    settings = load_settings()
    if workspaces is not None:
        _apply_fleet(
            existing(spec),
            workspaces,
            settings,
            auto_approve=auto_approve,
            allow_destroy=allow_destroy,
            verify=not no_verify,
        )
        return
    _, ws = load_workspace(existing(spec), env)
    resolved = resolve_target(settings, target)
    saved = None
    if plan_file is not None:
        try:
            saved = Plan.from_json(json.loads(plan_file.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{plan_file}: not a devfactory plan ({exc})") from exc
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=False,
    )
    task_id: list[TaskID] = []

    def show(p: Plan) -> None:
        out.print(render_plan(p, rate=resolved.rate), highlight=False, soft_wrap=True, markup=False)
        out.print()

    def confirm(p: Plan) -> bool:
        if not sys.stdin.isatty():
            raise PlanError(
                "refusing to apply without confirmation: not a terminal; pass --auto-approve"
            )
        return typer.confirm("Apply these changes?", default=False)

    def on_step(index: int, total: int, step: Step) -> None:
        if not task_id:
            progress.start()
            task_id.append(progress.add_task("applying", total=total))
        progress.update(task_id[0], completed=index + 1, description=step.label[:60])

    async def backup(p: Plan, state: State, session: NotionSession, api: NotionAPI) -> list[str]:
        from devfactory.deploy.backup import backup_before_destroy

        return await backup_before_destroy(p, state, session, api, settings)

    options = ApplyOptions(
        auto_approve=auto_approve,
        allow_destroy=allow_destroy,
        saved_plan=saved,
        verify=not no_verify,
        confirm=confirm,
        show_plan=show,
        on_step=on_step,
        backup=backup,
    )
    # Every call of the apply is kept in the task registry of the store (docs/executor.md);
    # destructive changes pass the confidence gate, whose approvals live there too.
    store = Database(settings.store_url)
    options.gate = gate_for(settings, store)
    registry = TaskRegistry(store)
    api = NotionAPI(Executor(registry=registry))
    try:
        report = asyncio.run(apply_workspace(ws, resolved, settings.home, options, api=api))
    finally:
        if task_id:
            progress.stop()
        registry.close()
        store.close()
    _print_report(report.to_yaml_data(), report.path)
    if print_report and report.path is not None:
        out.print(f"\n--- {report.path}", highlight=False)
        out.print(report.path.read_text(), highlight=False, markup=False, soft_wrap=True)
    if report.verified is False:
        raise typer.Exit(2)


def _apply_fleet(
    spec: Path,
    workspaces: Path,
    settings: Any,
    *,
    auto_approve: bool,
    allow_destroy: bool,
    verify: bool,
) -> None:
    from devfactory.deploy.fleet import apply_fleet, load_fleet

    if not auto_approve:
        raise UserError(
            "--workspaces applies to many workspaces without asking each: pass --auto-approve"
        )
    entries = load_fleet(workspaces)
    options = ApplyOptions(auto_approve=True, allow_destroy=allow_destroy, verify=verify)
    results = asyncio.run(apply_fleet(spec, entries, settings, options))
    table = Table(
        "workspace",
        "env",
        "target",
        "result",
        "changes",
        "calls",
        "retries",
        "seconds",
        title=f"Applied {spec} to {len(results)} workspaces",
    )
    for result in results:
        report = result.report
        if result.error is not None:
            outcome = f"[red]error[/red]: {escape(result.error)}"
        elif report is not None and report.plan is not None and report.plan.empty:
            outcome = "[green]no changes[/green]"
        else:
            outcome = (
                "[green]applied, verified[/green]" if result.ok else "[red]not converged[/red]"
            )
        summary = report.plan.summary if report is not None and report.plan is not None else None
        table.add_row(
            escape(result.entry.name),
            escape(result.entry.env or "default"),
            escape(result.target),
            outcome,
            f"+{summary['add']} ~{summary['change']} -{summary['destroy']}" if summary else "",
            str(report.calls_made) if report else "",
            str(report.retries) if report else "",
            f"{result.seconds:.1f}",
        )
    out.print(table)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _count(n: object, one: str, many: str | None = None) -> str:
    """``1 call``, ``2 calls``."""
    return f"{n} {one if n == 1 else many or one + 's'}"


def _print_report(data: dict[str, object], path: Path | None) -> None:
    calls = data["calls"]
    assert isinstance(calls, dict)
    verification = data["verification"]
    assert isinstance(verification, dict)
    result = data["result"]
    headline = "Apply complete" if result == "applied" else "Nothing to do"
    out.print(
        f"\n[bold]{headline}[/bold] in {data['seconds']} s — "
        f"{_count(calls['made'], 'call')} made of {calls['planned']} planned, "
        f"{_count(calls['retries'], 'retry', 'retries')}, {_count(calls['lookups'], 'lookup')}; "
        f"observing made {_count(calls['observe_reads'], 'read')}."
    )
    if verification.get("clean") is True:
        out.print(
            f"[green]✓ verified[/green]: a new plan is empty ({_count(verification['reads'], 'read')})."
        )
    elif verification.get("clean") is False:
        out.print("[red]✗ not converged[/red]:")
        for line in verification.get("remaining", []):
            out.print(f"  {line}")
    backups = data.get("backups") or []
    assert isinstance(backups, list)
    for backup in backups:
        out.print(f"Backup before destroying: {backup}", highlight=False)
    if path is not None:
        out.print(f"Report: {path}")


class Suite(enum.StrEnum):
    """The verification suites ``verify --suite`` runs (docs/verification.md)."""

    NDB = "ndb"


def verify(
    spec: Path = SPEC_ARG,
    env: str | None = ENV_OPTION,
    target: str | None = TARGET_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
    suite: Suite | None = typer.Option(
        None, "--suite", help="Run a verification suite instead (docs/verification.md)."
    ),
    junit: Path | None = typer.Option(
        None, "--junit", help="With --suite: write JUnit XML here, one testcase per check."
    ),
    report_file: Path | None = typer.Option(
        None, "--report", help="With --suite: write the YAML report here too."
    ),
    collection: Path | None = typer.Option(
        None, "--collection", help="With --suite ndb: the Ansible collection to check."
    ),
) -> None:
    """Check for drift and check the deployed workspace: exit 0 in sync, 2 drift, 1 error.

    With --suite: run that suite's checks; exit 0 all pass, 2 a check failed, 1 an error.
    """
    if suite is not None:
        _verify_suite(existing(spec), env, target, junit, report_file, collection, as_json)
        return
    if junit is not None or report_file is not None or collection is not None:
        raise UserError("--junit, --report and --collection go with --suite ndb")
    settings = load_settings()
    _, ws = load_workspace(existing(spec), env)
    resolved = resolve_target(settings, target)
    result = asyncio.run(verify_workspace(ws, resolved, settings.home))
    if as_json:
        data = {
            "in_sync": result.in_sync,
            "drift": [f"{c.symbol} {c.address}: {c.summary}" for c in result.plan.changes],
            "checks": [
                {"id": c.id, "description": c.description, "ok": c.ok, "detail": c.detail}
                for c in result.checks
            ],
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        _print_checks(
            ws.databases, result.checks, resolved.label, f"{ws.workspace} ({ws.environment})"
        )
        if result.plan.empty:
            out.print("[green]No drift[/green]: the workspace matches the spec.")
        else:
            out.print("[yellow]Drift[/yellow]: applying would change:")
            for change in result.plan.changes:
                out.print(f"  {change.symbol} {change.address}: {change.summary}", markup=False)
    raise typer.Exit(result.exit_code)


def _verify_suite(
    spec: Path,
    env: str | None,
    target: str | None,
    junit: Path | None,
    report_file: Path | None,
    collection: Path | None,
    as_json: bool,
) -> None:
    """Run the NDB suite; keep its YAML under $DEVFACTORY_HOME/verification; exit 0/2/1."""
    from devfactory.suites import NdbOptions, run_ndb, save_history, to_data
    from devfactory.suites.report import results_table, write_junit, write_yaml

    settings = load_settings()
    options = NdbOptions(
        spec=spec, environment=env, settings=settings, target_url=target, collection=collection
    )
    result = asyncio.run(run_ndb(options))
    kept = save_history(result, settings.home)
    written = [kept]
    if report_file is not None:
        written.append(write_yaml(result, report_file))
    if junit is not None:
        written.append(write_junit(result, junit))
    if as_json:
        sys.stdout.write(json.dumps(to_data(result), indent=2) + "\n")
    else:
        out.print(results_table(result))
        counts = to_data(result)["summary"]
        out.print(
            f"{counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors, "
            f"{counts['skipped']} skipped in {result.seconds:.1f} s.",
            highlight=False,
        )
        out.print(f"Results: {', '.join(map(str, written))}", highlight=False, markup=False)
    raise typer.Exit(result.exit_code)


def _print_checks(databases: dict[str, Any], checks: list[Check], target: str, name: str) -> None:
    """One line per database: what was checked; failures spelled out below their database."""
    out.print(f"Verify {name} on {target}", markup=False, highlight=False)
    table = Table("", "database", "checked", box=None)
    by_db: dict[str, list[Check]] = {}
    for check in checks:
        by_db.setdefault(check.id.split(".", 1)[0], []).append(check)
    labels = (
        ("properties", "property", "properties"),
        ("relations", "relation", "relations"),
        ("rollups", "rollup", "rollups"),
        ("rows", "seed row", "seed rows"),
    )
    for key, group in by_db.items():
        failed = [c for c in group if not c.ok]
        counts = [
            (sum(1 for c in group if c.id.split(".")[1:2] == [kind]), one, many)
            for kind, one, many in labels
        ]
        title = databases[key].title if key in databases else key
        table.add_row(
            "[red]✗[/red]" if failed else "[green]✓[/green]",
            escape(f"{key} ({title})"),
            escape(", ".join(f"{n} {one if n == 1 else many}" for n, one, many in counts if n)),
        )
        for check in failed:
            table.add_row(
                "",
                "",
                f"[red]{escape(check.description)}: {escape(check.detail or 'failed')}[/red]",
            )
    out.print(table)
    out.print(f"{sum(1 for c in checks if c.ok)} of {len(checks)} checks passed.")


state_app = typer.Typer(help="Deploy state per workspace and environment.", no_args_is_help=True)


@state_app.command("show")
def state_show(
    spec: Path | None = typer.Argument(None, help="The workspace spec."),
    env: str | None = ENV_OPTION,
    workspace: str | None = typer.Option(
        None, "--workspace", help="Workspace name, instead of SPEC."
    ),
) -> None:
    """Show the state: databases, data sources, properties and seed rows known by id."""
    state_file = state_file_for(load_settings(), spec, workspace, env)
    if not state_file.path.exists():
        raise UserError(f"no state yet at {state_file.path}")
    data = json.loads(state_file.path.read_text())
    out.print(f"[bold]{state_file.path}[/bold] — target {data['target']}, serial {data['serial']}")
    table = Table("database", "database id", "data source id", "properties", "rows")
    for key, db in data.get("databases", {}).items():
        table.add_row(
            key,
            db["database_id"],
            db["data_source_id"],
            str(len(db.get("properties", {}))),
            str(len(db.get("rows", {}))),
        )
    out.print(table)
    holder = state_file.holder()
    out.print(f"lock: {'held by ' + json.dumps(holder) if holder else 'free'}")


@state_app.command("unlock")
def state_unlock(
    spec: Path | None = typer.Argument(None, help="The workspace spec."),
    env: str | None = ENV_OPTION,
    workspace: str | None = typer.Option(
        None, "--workspace", help="Workspace name, instead of SPEC."
    ),
) -> None:
    """Remove a lock left by a process that is gone (refused while one holds it)."""
    state_file = state_file_for(load_settings(), spec, workspace, env)
    removed = state_file.unlock()
    out.print("Lock removed." if removed else "There was no lock.")


def register(app: typer.Typer) -> None:
    """Add the deploy commands to the root app."""
    app.command("validate")(validate)
    # Each run is one operation: its log lines (Notion calls, gate, tasks) share its id.
    app.command("plan")(operation("deploy.plan")(plan))
    app.command("apply")(operation("deploy.apply")(apply))
    app.command("verify")(operation("deploy.verify")(verify))
    app.command("import")(operation("deploy.import")(import_command))
    app.add_typer(state_app, name="state")


def import_command(
    data_source: list[str] = typer.Option(
        [], "--data-source", help="A data source id to adopt (repeatable)."
    ),
    all_: bool = typer.Option(
        False, "--all", help="Adopt every data source the integration can see."
    ),
    workspace: str = typer.Option(
        "imported", "--workspace", help="Name of the workspace in the spec and state."
    ),
    env: str | None = typer.Option(
        None, "--env", "-e", help="Environment the state is kept for. [default: default]"
    ),
    target: str | None = TARGET_OPTION,
) -> None:
    """Adopt existing databases: print their spec (redirect it to a file) and write the state."""
    from devfactory.deploy.importer import import_workspace

    if not data_source and not all_:
        raise UserError("say what to import: --data-source ID (repeatable) or --all")
    settings = load_settings()
    resolved = resolve_target(settings, target)
    environment = env or "default"
    state_file = StateFile(settings.home, workspace, environment)

    async def run() -> Any:
        async with NotionSession(resolved) as session:
            return await import_workspace(
                session,
                NotionAPI(),
                data_source_ids=data_source or None,
                workspace=workspace,
                environment=environment,
            )

    with state_file.lock("import"):
        if state_file.path.exists():
            raise UserError(
                f"a state exists already at {state_file.path}; import into a new workspace name"
            )
        imported = asyncio.run(run())
        state_file.save(imported.state)
    sys.stdout.write(yaml.safe_dump(imported.spec, sort_keys=False, allow_unicode=True, width=1000))
    for warning in imported.warnings:
        err.print(f"warning: {warning}", markup=False)
    err.print(
        f"Imported {len(imported.state.databases)} databases; state written to {state_file.path}.",
        markup=False,
    )
