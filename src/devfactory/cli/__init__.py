"""The ``devfactory`` command line: one Typer app, one sub-app per command group.

Errors from the tree in :mod:`devfactory.errors` are turned into exit codes here, in one
place: a :class:`~devfactory.errors.UserError` prints its message and exits 1, with no
traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from devfactory import __version__
from devfactory.cli import approvals, backup, deploy, logs, notion
from devfactory.errors import DevfactoryError, SpecError, UserError

__all__ = ["app", "main"]

app = typer.Typer(
    name="devfactory",
    help="Notion workspaces as code, a gated MCP gateway, and a local Notion server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(notion.app, name="notion")
app.add_typer(logs.app, name="logs")
deploy.register(app)
backup.register(app)
approvals.register(app)

_err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"devfactory {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """devfactory: Notion as code, safely, offline first."""


def main() -> None:
    """Entry point of the console script; maps the exception tree to exit codes.

    Click runs in standalone mode, so usage errors print their usage and exit 2 and
    ``typer.Exit`` codes pass through; devfactory's own errors arrive here.
    """
    try:
        app()
    except SpecError as exc:
        for issue in exc.issues:
            _err.print(escape(str(issue)), soft_wrap=True, highlight=False)
        n = len(exc.issues)
        _err.print(f"[red]error:[/red] the spec has {n} problem{'s' if n != 1 else ''}")
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
