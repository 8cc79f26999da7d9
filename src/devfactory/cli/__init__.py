"""The ``devfactory`` command line: one Typer app, one sub-app per command group.

Errors from the tree in :mod:`devfactory.errors` are turned into exit codes here, in one
place: a :class:`~devfactory.errors.UserError` prints its message and exits 1, with no
traceback.
"""

from __future__ import annotations

import sys
from functools import partial

import typer
from rich.console import Console
from rich.markup import escape

from devfactory import __version__
from devfactory.cli import approvals, backup, deploy, gateway, logs, mcp, notion, up, web
from devfactory.config import load_settings
from devfactory.errors import ConfigError, DevfactoryError, FileIssuesError, UserError
from devfactory.obs import log
from devfactory.obs.logstore import BatchWriter, open_store

__all__ = ["app", "main"]

app = typer.Typer(
    name="devfactory",
    help="Notion workspaces as code, a gated MCP gateway, and a local Notion server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(notion.app, name="notion")
app.add_typer(logs.app, name="logs")
app.add_typer(mcp.app, name="mcp")
deploy.register(app)
backup.register(app)
approvals.register(app)
gateway.register(app)
web.register(app)
up.register(app)

_err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"devfactory {__version__}")
        raise typer.Exit()


# Commands that act or review: their log lines go to $DEVFACTORY_HOME/logs and the store.
# The others (validate, logs, the local server, ...) leave no files behind.
LOGGED = frozenset(
    {
        "plan",
        "apply",
        "verify",
        "import",
        "backup",
        "restore",
        "approvals",
        "state",
        "gateway",
        "web",
        "up",
    }
)


def start_logging(ctx: typer.Context) -> None:
    """Configure the sinks from the settings for this invocation; close them when it ends.

    The log store is best effort: when it cannot be opened the lines still reach the JSONL
    files and a warning says why, so an unreachable database never blocks a deploy's logs.
    """
    settings = load_settings()
    sinks: list[log.Sink] = []
    try:
        sinks.append(BatchWriter(partial(open_store, settings.store_url)))
    except ConfigError as exc:
        _err.print(f"[yellow]warning:[/yellow] logging to files only: {escape(str(exc))}")
    log.configure_from_settings(settings, extra_sinks=sinks)
    ctx.call_on_close(log.shutdown)


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """devfactory: Notion as code, safely, offline first."""
    if ctx.invoked_subcommand in LOGGED:
        start_logging(ctx)


def main() -> None:
    """Entry point of the console script; maps the exception tree to exit codes.

    Click runs in standalone mode, so usage errors print their usage and exit 2 and
    ``typer.Exit`` codes pass through; devfactory's own errors arrive here.
    """
    try:
        app()
    except FileIssuesError as exc:
        for issue in exc.issues:
            _err.print(escape(str(issue)), soft_wrap=True, highlight=False)
        n = len(exc.issues)
        _err.print(f"[red]error:[/red] the {exc.what} has {n} problem{'s' if n != 1 else ''}")
        sys.exit(1)
    except UserError as exc:
        _err.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(1)
    except DevfactoryError as exc:
        _err.print(f"[red]error:[/red] {type(exc).__name__}: {escape(str(exc))}")
        sys.exit(1)
    except KeyboardInterrupt:
        _err.print("[red]Interrupted.[/red]")
        sys.exit(130)
