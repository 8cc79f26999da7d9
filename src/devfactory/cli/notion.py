"""``devfactory notion …``: run the local Notion-API-compatible server, manage its tokens."""

from __future__ import annotations

import contextlib
import fcntl
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from devfactory.cli.options import listen
from devfactory.config import load_settings
from devfactory.emulator.app import NotionServer
from devfactory.emulator.faults import Fault, parse_fault_spec
from devfactory.emulator.model import CAPABILITIES
from devfactory.emulator.store import Store
from devfactory.emulator.workspace import (
    create_integration,
    ensure_workspace,
    integration_named,
    share,
)
from devfactory.errors import UserError

__all__ = ["app"]

app = typer.Typer(help="The local Notion-API-compatible server.", no_args_is_help=True)
token_app = typer.Typer(help="Integration tokens of the local server.", no_args_is_help=True)
app.add_typer(token_app, name="token")
out = Console()

DB_OPTION = typer.Option(
    None, "--db", help="SQLite file of the local workspace [default: $DEVFACTORY_HOME/notion.db]."
)


def _db_path(db: Path | None) -> Path:
    return db if db is not None else load_settings().emulator_db


@contextlib.contextmanager
def _exclusive(path: Path | None) -> Iterator[None]:
    """Hold a lock file next to the database so two servers never share one file."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = (path.parent / f"{path.name}.lock").open("w")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise UserError(f"another local Notion server is already serving {path}") from exc
        yield
    finally:
        handle.close()


@app.command()
def serve(
    db: Path | None = DB_OPTION,
    memory: bool = typer.Option(
        False, "--memory", help="Keep everything in memory (nothing is saved)."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind; loopback unless you mean otherwise."
    ),
    port: int = typer.Option(8787, "--port", min=0, max=65535, help="Port (0 picks a free one)."),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="DEVFACTORY_EMULATOR_TOKEN",
        help="Fix the first integration's token (scripts, tests).",
    ),
    admin_token: str | None = typer.Option(
        None,
        "--admin-token",
        envvar="DEVFACTORY_EMULATOR_ADMIN_TOKEN",
        help="Bearer token for /__admin (default: random, printed).",
    ),
    rate_limit: float | None = typer.Option(
        None,
        "--rate-limit",
        min=0.01,
        help="Average requests/s per integration, with bursts (Notion: 3).",
    ),
    rate_burst: int | None = typer.Option(
        None, "--rate-burst", min=1, help="Bucket size for --rate-limit (default: 10 s worth)."
    ),
    fault: list[str] = typer.Option(
        [],
        "--fault",
        help="Inject faults: KIND[:PROBABILITY][@METHOD /path-regex], e.g. 503:0.1 (repeatable).",
    ),
    fault_seed: int | None = typer.Option(
        None, "--fault-seed", help="Seed for probabilistic faults (same seed, same faults)."
    ),
) -> None:
    """Run the local Notion server and print its URL and token(s)."""
    if memory and db is not None:
        raise UserError("choose --db PATH or --memory, not both")
    try:
        faults: list[Fault] = [parse_fault_spec(spec) for spec in fault]
    except ValueError as exc:
        raise UserError(f"--fault: {exc}") from exc
    path = None if memory else _db_path(db)
    with _exclusive(path):
        store = Store(path)
        ensure_workspace(store)
        # Everything loaded lives as long as the server: keep it out of the cyclic GC's
        # scans, which otherwise grow with the workspace and stall large queries.
        gc.collect()
        gc.freeze()
        shown = _first_integration(store, token)
        sock = listen(host, port)
        actual_port = sock.getsockname()[1]
        shown_host = f"[{host}]" if ":" in host else host
        base_url = f"http://{shown_host}:{actual_port}"
        server = NotionServer(
            store,
            base_url=base_url,
            admin_token=admin_token,
            rate_limit=rate_limit,
            rate_burst=rate_burst,
            faults=faults,
            fault_seed=fault_seed,
        )
        _banner(store, server, base_url, shown, path)
        out.file.flush()  # a pipe is block-buffered; a reader waits for the URL and token
        config = uvicorn.Config(server, log_level="warning", access_log=False, lifespan="off")
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            store.close()
            sock.close()


def _first_integration(store: Store, token: str | None) -> list[tuple[str, str | None]]:
    """Make sure an integration exists; (name, token-if-known) pairs to print."""
    if token is not None:
        found = store.integration_for_token(token)
        if found is not None:
            return [(found.name, token)]
        name = (
            "devfactory"
            if not any(i.name == "devfactory" for i in store.integrations.values())
            else f"devfactory-{len(store.integrations) + 1}"
        )
        created = create_integration(store, name, token)
        return [(created.integration.name, created.token)]
    if not store.integrations:
        created = create_integration(store, "devfactory")
        return [(created.integration.name, created.token)]
    return [(i.name, None) for i in store.integrations.values()]


def _banner(
    store: Store,
    server: NotionServer,
    base_url: str,
    shown: list[tuple[str, str | None]],
    path: Path | None,
) -> None:
    out.print(f"[bold green]Local Notion server[/bold green] listening on [bold]{base_url}[/bold]")
    out.print(f"  storage   {path if path is not None else 'memory (nothing is saved)'}")
    out.print("  versions  Notion-Version 2025-09-03 (default) and 2026-03-11")
    for name, secret in shown:
        if secret is not None:
            out.print(f"  token     {secret}  (integration {name!r})")
        else:
            out.print(
                f"  integration {name!r} (its token was shown when it was created; `devfactory notion token create NAME` makes a new one)"
            )
    out.print(f"  admin     Bearer {server.admin_token}  ({base_url}/__admin/state)")
    if server.limiter.enabled:
        out.print(
            f"  realism   rate limit {server.limiter.rate}/s, burst {server.limiter.capacity():g}"
        )
    if server.faults.rules:
        out.print(
            f"  realism   faults {', '.join(f.kind + ':' + format(f.probability, 'g') for f in server.faults.rules)}"
        )
    example = next((t for _, t in shown if t is not None), "$NOTION_TOKEN")
    out.print("\nTry it:")
    out.print(
        f"  curl -s {base_url}/v1/users/me -H 'Authorization: Bearer {example}' -H 'Notion-Version: 2025-09-03'",
        soft_wrap=True,
    )
    out.print(
        f"  python -c \"from notion_client import Client; print(Client(auth='{example}', base_url='{base_url}').users.me())\"",
        soft_wrap=True,
    )
    out.print("\nPress Ctrl+C to stop.", style="dim")


@token_app.command("create")
def token_create(
    name: str = typer.Argument(..., help="Name of the new integration."),
    db: Path | None = DB_OPTION,
    capability: list[str] = typer.Option(
        [],
        "--capability",
        help=f"Grant only these capabilities (repeatable; default all): {', '.join(CAPABILITIES)}.",
    ),
) -> None:
    """Add an integration and print its token (shown once; stored hashed)."""
    store = Store(_db_path(db))
    try:
        ensure_workspace(store)
        created = create_integration(store, name, capabilities=capability or None)
    finally:
        store.close()
    out.print(f"Integration {created.integration.name!r} ({created.integration.id})")
    out.print(created.token, highlight=False, soft_wrap=True)


@token_app.command("list")
def token_list(db: Path | None = DB_OPTION) -> None:
    """List integrations (tokens are stored hashed and never shown again)."""
    store = Store(_db_path(db))
    try:
        table = Table("name", "id (bot user)", title="Integrations")
        for integration in sorted(store.integrations.values(), key=lambda i: i.created_time):
            table.add_row(integration.name, integration.id)
        out.print(table)
    finally:
        store.close()


@app.command("share")
def share_command(
    object_id: str = typer.Argument(..., help="Page, database or data source id."),
    integration: str = typer.Argument(..., help="Integration name or id."),
    db: Path | None = DB_OPTION,
) -> None:
    """Share a page, database or data source (and all below it) with an integration."""
    from devfactory.emulator.ids import parse_id

    canonical = parse_id(object_id)
    if canonical is None:
        raise UserError(f"{object_id!r} is not a Notion id")
    store = Store(_db_path(db))
    try:
        target = integration_named(store, integration)
        share(store, canonical, target)
    finally:
        store.close()
    out.print(f"Shared {canonical} with {target.name!r}.")
