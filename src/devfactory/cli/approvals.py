"""``devfactory approvals list | show | approve | deny``: review the calls the gate halted."""

from __future__ import annotations

import getpass
import json
import os
import time

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from devfactory.config import load_settings
from devfactory.db import Database
from devfactory.errors import UserError
from devfactory.gate.approvals import STATUSES, Approval, Approvals

__all__ = ["app", "register"]

app = typer.Typer(help="Review the calls the confidence gate halted.", no_args_is_help=True)
out = Console()


def _reviewer(given: str | None) -> str:
    if given:
        return given
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


@app.command("list")
def list_command(
    status: str | None = typer.Option(
        None, "--status", "-s", metavar="STATUS", help=f"Only this status: {', '.join(STATUSES)}."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List approvals, newest first."""
    if status is not None and status not in STATUSES:
        raise UserError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    with Database(load_settings().store_url) as db:
        items = Approvals(db).list(status)
    if as_json:
        typer.echo(json.dumps([a.to_dict() for a in items], indent=2, default=str))
        return
    table = Table("id", "status", "tool", "score", "created", "expires", "reason")
    for item in items:
        reasons = item.decision.get("reasons") or [""]
        table.add_row(
            item.id,
            item.status,
            escape(item.call.tool),
            f"{item.score:.2f}",
            _when(item.created_at),
            _when(item.expires_at),
            escape(str(reasons[-1])),
        )
    if not items:
        out.print("no approvals" + (f" with status {status}" if status else ""))
        return
    out.print(table)


@app.command("show")
def show(
    ident: str = typer.Argument(..., metavar="ID", help="Approval id (apr_...)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show one approval: the call (argument values included), the decision and the review."""
    with Database(load_settings().store_url) as db:
        item = Approvals(db).get(ident)
    if as_json:
        typer.echo(json.dumps(item.to_dict(), indent=2, default=str))
        return
    _print(item)


@app.command("approve")
def approve(
    ident: str = typer.Argument(..., metavar="ID", help="Approval id (apr_...)."),
    note: str | None = typer.Option(None, "--note", help="Why; kept with the review."),
    reviewer: str | None = typer.Option(None, "--as", help="Reviewer name (default: $USER)."),
) -> None:
    """Approve a pending call: the agent may run it, exactly once, before it expires."""
    with Database(load_settings().store_url) as db:
        item = Approvals(db).approve(ident, _reviewer(reviewer), note)
    out.print(f"[green]✓[/green] approved {item.id} ({escape(item.call.tool)})")


@app.command("deny")
def deny(
    ident: str = typer.Argument(..., metavar="ID", help="Approval id (apr_...)."),
    note: str | None = typer.Option(None, "--note", help="Why; kept with the review."),
    reviewer: str | None = typer.Option(None, "--as", help="Reviewer name (default: $USER)."),
) -> None:
    """Deny a pending call: it will not run."""
    with Database(load_settings().store_url) as db:
        item = Approvals(db).deny(ident, _reviewer(reviewer), note)
    out.print(f"[red]✗[/red] denied {item.id} ({escape(item.call.tool)})")


def _print(item: Approval) -> None:
    table = Table(show_header=False, box=None)
    table.add_row("id", item.id)
    table.add_row("status", item.status)
    table.add_row("tool", escape(f"{item.call.server} / {item.call.tool}"))
    table.add_row("decision", str(item.decision.get("decision")))
    table.add_row("risk", str(item.decision.get("risk")))
    table.add_row("score", f"{item.score:.3f}")
    table.add_row("created", _when(item.created_at))
    table.add_row("expires", _when(item.expires_at))
    if item.reviewer:
        table.add_row("reviewed", f"{escape(item.reviewer)} at {_when(item.reviewed_at)}")
    if item.note:
        table.add_row("note", escape(item.note))
    if item.consumed_at:
        table.add_row("consumed", _when(item.consumed_at))
    out.print(table)
    out.print("[bold]reasons[/bold]")
    for reason in item.decision.get("reasons") or []:
        out.print(f"  - {escape(str(reason))}", soft_wrap=True)
    out.print("[bold]signals[/bold]")
    for sig in item.decision.get("signals") or []:
        out.print(f"  {sig['name']}: {sig['score']:.2f} {escape(sig.get('reason') or '')}")
    out.print("[bold]call[/bold]")
    out.print(escape(json.dumps(item.call.to_dict(), indent=2, default=str)), soft_wrap=True)


def register(root: typer.Typer) -> None:
    """Add the ``approvals`` command group to the root app."""
    root.add_typer(app, name="approvals")
