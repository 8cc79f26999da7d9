"""What the deploy and backup commands share: their options, and finding the state to act on."""

from __future__ import annotations

from pathlib import Path

import typer

from devfactory.config import Settings
from devfactory.deploy.engine import load_workspace
from devfactory.deploy.state import StateFile
from devfactory.errors import UserError

__all__ = ["ENV_OPTION", "SPEC_ARG", "TARGET_OPTION", "existing", "state_file_for"]

SPEC_ARG = typer.Argument(..., exists=False, help="The workspace spec (YAML).")
ENV_OPTION = typer.Option(
    None, "--env", "-e", help="Environment: applies <spec>.<env>.yaml and environments.<env>."
)
TARGET_OPTION = typer.Option(
    None,
    "--target",
    metavar="URL",
    help="A running local Notion server (URL). Default: NOTION_TOKEN's Notion, or the embedded server.",
)


def existing(path: Path) -> Path:
    """``path``, or a clear error when there is no such file."""
    if not path.exists():
        raise UserError(f"{path}: no such file")
    return path


def state_file_for(
    settings: Settings, spec: Path | None, workspace: str | None, env: str | None
) -> StateFile:
    """The deploy state to act on: the spec's, --workspace's, or the only one there is."""
    if spec is not None:
        _, ws = load_workspace(existing(spec), env)
        return StateFile(settings.home, ws.workspace, ws.environment)
    if workspace is not None:
        return StateFile(settings.home, workspace, env or "default")
    states = sorted((settings.home / "state").glob("*.json"))
    if len(states) != 1:
        raise UserError(
            f"name the workspace: give SPEC or --workspace (there are {len(states)} states "
            f"in {settings.home / 'state'})"
        )
    name, environment = states[0].name.removesuffix(".json").rsplit(".", 1)
    return StateFile(settings.home, name, environment)
