"""``devfactory web``: the dashboard's API server, and ``devfactory web keys`` for its keys."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from devfactory.cli.options import listen, quiet_server, serve_until_stopped
from devfactory.config import load_settings
from devfactory.db import Database
from devfactory.errors import UserError

if TYPE_CHECKING:
    from devfactory.web.portal_reader import PortalConfig

__all__ = ["app", "register"]

out = Console(stderr=True, soft_wrap=True)
app = typer.Typer(
    help="The dashboard: REST API, live events and /metrics (pages to come).",
    invoke_without_command=True,
    no_args_is_help=False,
)
keys_app = typer.Typer(help="API keys of the dashboard (hashed at rest; shown once).")
app.add_typer(keys_app, name="keys")
portal_keys_app = typer.Typer(help="Client portal keys: each opens /portal for one client only.")
app.add_typer(portal_keys_app, name="portal-keys")
PORTAL_ENV = typer.Option(None, "--env", "-e", help="Environment of the deploy.")
PORTAL_TARGET = typer.Option(None, "--target", metavar="URL", help="A running local Notion server.")


@app.callback()
def web(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0: a free one)."),
    portal: Path | None = typer.Option(
        None, "--portal", metavar="SPEC", help="Serve this deployed spec in the client portal."
    ),
    portal_env: str | None = typer.Option(None, "--portal-env", help="Its environment."),
    portal_target: str | None = typer.Option(None, "--portal-target", metavar="URL"),
    spec: Path | None = typer.Option(
        None, "--spec", metavar="SPEC", help="Show the drift of this deployed spec."
    ),
    envs: list[str] = typer.Option(
        [], "--env", "-e", help="Its environments to check (repeatable; default: no overlay)."
    ),
    target: str | None = typer.Option(None, "--target", metavar="URL", help="For the drift."),
) -> None:
    """Serve the dashboard API on HOST:PORT until stopped (Ctrl-C or SIGTERM)."""
    if ctx.invoked_subcommand is not None:
        return

    from devfactory.obs.events import open_bus
    from devfactory.web import ApiKeys, create_app

    settings = load_settings()
    sock = listen(host, port)
    store = Database(settings.store_url)
    bus = open_bus(settings.redis_url)
    try:
        application = create_app(settings, store=store, bus=bus)
        if portal is not None:
            from devfactory.web.portal_routes import configure_portal

            configure_portal(application, _portal_config(portal, portal_env, portal_target))
        if spec is not None:
            from devfactory.web.drift import Watched, configure_drift

            chosen: list[str | None] = [*envs] or [None]
            configure_drift(application, [Watched(spec, e, target) for e in chosen])
        actual = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        out.print(
            f"[bold green]devfactory web[/bold green] listening on [bold]http://{shown}:{actual}[/bold]"
        )
        out.print(f"  api       http://{shown}:{actual}/api/v1  (docs at /docs)")
        out.print(f"  events    http://{shown}:{actual}/api/v1/events  (SSE; WebSocket /api/v1/ws)")
        out.print(f"  metrics   http://{shown}:{actual}/metrics")
        if portal is not None:
            out.print(f"  portal    http://{shown}:{actual}/portal  (devfactory web portal-keys)")
        if not ApiKeys(store).list():
            out.print(
                "  [yellow]![/yellow] no API keys yet: devfactory web keys create NAME --role admin"
            )
        sys.stderr.flush()
        serve_until_stopped(quiet_server(application), sock, out, "web stopped")
    finally:
        sock.close()
        store.close()


def _grants(values: list[str]) -> dict[str, str] | None:
    grants: dict[str, str] = {}
    for value in values:
        name, sep, level = value.partition("=")
        if not sep or not name or not level:
            raise UserError(f"--database {value!r}: want NAME=LEVEL, e.g. clients=read")
        grants[name] = level
    return grants or None


@keys_app.command("create")
def keys_create(
    name: str = typer.Argument(..., help="Who the key is for (unique)."),
    role: str = typer.Option(..., "--role", "-r", help="admin, operator or viewer."),
    database: list[str] = typer.Option(
        [], "--database", "-d", help="NAME=read|write|deploy; repeat. Unset: every database."
    ),
) -> None:
    """Make a key and print it once: only its digest is kept."""
    from devfactory.web.keys import ApiKeys

    with Database(load_settings().store_url) as store:
        key = ApiKeys(store).create(name, role, _grants(database))
    out.print(f"[green]✓[/green] key for {escape(name)} ({role}); it is shown only this once:")
    typer.echo(key)


@keys_app.command("list")
def keys_list() -> None:
    """List the keys (names, roles, grants; never the keys)."""
    from datetime import UTC, datetime

    from devfactory.web.keys import ApiKeys

    with Database(load_settings().store_url) as store:
        found = ApiKeys(store).list()
    if not found:
        out.print("no keys (devfactory web keys create NAME --role admin)")
        return
    table = Table("name", "role", "databases", "key starts", "created (UTC)")
    for item in found:
        grants = ", ".join(f"{k}={v}" for k, v in (item.databases or {}).items()) or "all"
        created = datetime.fromtimestamp(item.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(escape(item.name), item.role, escape(grants), item.hint + "…", created)
    Console(soft_wrap=True).print(table)


@keys_app.command("revoke")
def keys_revoke(name: str = typer.Argument(..., help="The key's name.")) -> None:
    """Delete a key; its sessions end at their next request."""
    from devfactory.web.keys import ApiKeys

    with Database(load_settings().store_url) as store:
        if not ApiKeys(store).revoke(name):
            raise UserError(f"no key named {name!r}")
    out.print(f"[green]✓[/green] revoked the key of {escape(name)}")


def _portal_config(spec: Path | None, env: str | None, target: str | None) -> PortalConfig:
    """The portal's workspace: SPEC's (with --env), or the only deploy state there is."""
    from devfactory.cli.options import state_file_for
    from devfactory.web.portal_reader import PortalConfig

    found = state_file_for(load_settings(), spec, None, env)
    return PortalConfig(workspace=found.workspace, environment=found.environment, target_url=target)


@portal_keys_app.command("create")
def portal_keys_create(
    client: str = typer.Argument(..., help="The client's name (title in the Clients database)."),
    spec: Path | None = typer.Option(None, "--spec", help="The deployed workspace spec."),
    env: str | None = PORTAL_ENV,
    target: str | None = PORTAL_TARGET,
    name: str | None = typer.Option(None, "--name", help="Key name. Default: the client's name."),
) -> None:
    """Make a portal key for one client whose Visibility is Portal; printed once."""
    from devfactory.web.portal_keys import PortalKeys
    from devfactory.web.portal_reader import PortalReader

    settings = load_settings()
    config = _portal_config(spec, env, target)
    found = asyncio.run(PortalReader(config, settings).client_named(client))
    where = f"{config.workspace} ({config.environment})"
    if len(found) != 1:
        many = f"{len(found)} clients are" if found else "no client is"
        raise UserError(f"{many} named {client!r} in the Clients database of {where}")
    row = found[0]
    if row.visibility != config.rules.shown:
        raise UserError(
            f"{row.title}'s Visibility is {row.visibility or 'empty'}, not "
            f"{config.rules.shown}: set it to {config.rules.shown} before issuing a portal key"
        )
    with Database(settings.store_url) as store:
        key = PortalKeys(store).create(
            name or row.title,
            client_id=row.id,
            client_name=row.title,
            workspace=config.workspace,
            environment=config.environment,
        )
    out.print(f"[green]✓[/green] portal key for {escape(row.title)} ({where}); shown only once:")
    typer.echo(key)


@portal_keys_app.command("list")
def portal_keys_list() -> None:
    """List the portal keys (names and clients; never the keys)."""
    from datetime import UTC, datetime

    from devfactory.web.portal_keys import PortalKeys

    with Database(load_settings().store_url) as store:
        found = PortalKeys(store).list()
    if not found:
        out.print("no portal keys (devfactory web portal-keys create CLIENT --spec SPEC --env ENV)")
        return
    table = Table("name", "client", "workspace", "env", "key starts", "created (UTC)")
    for item in found:
        created = datetime.fromtimestamp(item.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(
            escape(item.name), escape(item.client_name), escape(item.workspace),
            escape(item.environment), item.hint + "…", created,
        )  # fmt: skip
    Console(soft_wrap=True).print(table)


@portal_keys_app.command("revoke")
def portal_keys_revoke(name: str = typer.Argument(..., help="The key's name.")) -> None:
    """Delete a portal key; its sessions end at their next request."""
    from devfactory.web.portal_keys import PortalKeys

    with Database(load_settings().store_url) as store:
        if not PortalKeys(store).revoke(name):
            raise UserError(f"no portal key named {name!r}")
    out.print(f"[green]✓[/green] revoked the portal key {escape(name)}")


def register(root: typer.Typer) -> None:
    """Add ``web`` (and ``web keys``) to the root app."""
    root.add_typer(app, name="web")
