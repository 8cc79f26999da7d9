"""``devfactory backup | restore``: encrypted copies of deployed databases, and bringing them
back into an empty workspace."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from devfactory.cli.options import TARGET_OPTION, state_file_for
from devfactory.config import load_settings
from devfactory.deploy.backup import (
    backup_key,
    backup_path,
    read_backup,
    save_backup,
    summarize,
    take_backup,
)
from devfactory.deploy.restore import RestoreResult, restore_backup
from devfactory.errors import UserError
from devfactory.notion.api import NotionAPI
from devfactory.notion.target import NotionSession, resolve_target
from devfactory.obs.log import operation

__all__ = ["register"]

out = Console()


def backup(
    spec: Path | None = typer.Argument(
        None, metavar="SPEC", help="The workspace spec (or use --workspace)."
    ),
    env: str | None = typer.Option(
        None, "--env", "-e", metavar="ENV", help="Environment of the deploy."
    ),
    workspace: str | None = typer.Option(
        None, "--workspace", metavar="NAME", help="Workspace name, instead of SPEC."
    ),
    databases: list[str] | None = typer.Option(
        None, "--database", "-d", metavar="KEY", help="Only this database key (repeat for more)."
    ),
    out_file: Path | None = typer.Option(
        None, "--out", metavar="FILE", help="Write here instead of $DEVFACTORY_HOME/backups/."
    ),
    target: str | None = TARGET_OPTION,
) -> None:
    """Back up the deployed databases — schema and every row — encrypted with DEVFACTORY_BACKUP_KEY."""
    settings = load_settings()
    key = backup_key(settings)
    state_file = state_file_for(settings, spec, workspace, env)
    if not state_file.path.exists():
        raise UserError(f"no deploy state at {state_file.path}: nothing to back up")
    resolved = resolve_target(settings, target)
    state = state_file.load(resolved.label)

    async def run() -> dict[str, Any]:
        async with NotionSession(resolved) as session:
            return await take_backup(state, session, NotionAPI(), databases=databases or None)

    data = asyncio.run(run())
    path = save_backup(
        data, key, out_file or backup_path(settings.home, state.workspace, state.environment)
    )
    lines = summarize(data)
    table = Table("database", "title", "properties", "rows")
    for item in lines:
        table.add_row(escape(item.key), escape(item.title), str(item.properties), str(item.rows))
    out.print(table)
    out.print(
        f"[green]✓[/green] Backed up {len(lines)} database(s), "
        f"{sum(i.properties for i in lines)} properties and {sum(i.rows for i in lines)} rows "
        f"of {escape(state.workspace)} ({escape(state.environment)}) to {escape(str(path))}",
        soft_wrap=True,
    )


def restore(
    backup_file: Path = typer.Argument(
        ..., metavar="BACKUP", help="A .dfbak file written by `devfactory backup`."
    ),
    into: str | None = typer.Option(
        None, "--into", metavar="PAGE_ID", help="Restore under this page (needed on real Notion)."
    ),
    target: str | None = TARGET_OPTION,
) -> None:
    """Recreate a backup's databases, rows and links under a new page; never touches the source."""
    settings = load_settings()
    data = read_backup(backup_file, backup_key(settings))
    resolved = resolve_target(settings, target)

    async def run() -> RestoreResult:
        async with NotionSession(resolved) as session:
            return await restore_backup(data, session, NotionAPI(), into_page_id=into)

    result = asyncio.run(run())
    under = f'"{result.page_title}" ({result.page_id})' if result.page_title else result.page_id
    out.print(
        f"[green]✓[/green] Restored {result.databases} database(s), {result.properties} properties, "
        f"{result.rows} rows and {result.links} links of {escape(str(data['workspace']))} "
        f"({escape(str(data['environment']))}, backed up {data['created']}) under {escape(under)}",
        soft_wrap=True,
    )
    for warning in result.warnings:
        out.print(f"[yellow]![/yellow] {escape(warning)}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``backup`` and ``restore`` to the root app."""
    app.command("backup")(operation("deploy.backup")(backup))
    app.command("restore")(operation("deploy.restore")(restore))
