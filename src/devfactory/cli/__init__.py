"""The ``devfactory`` command line: one Typer app, one sub-app per command group.

Errors from the tree in :mod:`devfactory.errors` are turned into exit codes here, in one
place: a :class:`~devfactory.errors.UserError` prints its message and exits 1, with no
traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from devfactory import __version__
from devfactory.cli import deploy, notion
from devfactory.errors import DevfactoryError, UserError

__all__ = ["app", "main"]

app = typer.Typer(
    name="devfactory",
    help="Notion workspaces as code, a gated MCP gateway, and a local Notion server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(notion.app, name="notion")
deploy.register(app)

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
    """Entry point of the console script; maps the exception tree to exit codes."""
    try:
        code = app(standalone_mode=False)
        # Outside standalone mode click returns an Exit's code instead of exiting.
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _err.print("[red]Aborted.[/red]")
        sys.exit(1)
    except UserError as exc:
        _err.print(f"[red]error:[/red] {exc}")
        sys.exit(1)
    except DevfactoryError as exc:
        _err.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
        sys.exit(1)
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
