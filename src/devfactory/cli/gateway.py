"""``devfactory gateway``: the MCP gateway on one port (8811): socat TCP, HTTP, SSE."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from devfactory.cli.options import listen, serve_until_stopped
from devfactory.config import load_settings
from devfactory.db import Database
from devfactory.errors import UserError

__all__ = ["gateway", "register"]

out = Console(stderr=True, soft_wrap=True)


def gateway(
    config_path: Path = typer.Option(
        Path("examples/gateway.yaml"), "--config", "-c", help="The gateway configuration (YAML)."
    ),
    host: str | None = typer.Option(
        None, "--host", help="Address to bind [default: the config's, else 127.0.0.1]."
    ),
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535, help="Port [default: the config's, else 8811]."
    ),
    allow_unauthenticated: bool = typer.Option(
        False,
        "--allow-unauthenticated",
        help="Serve HTTP without a token and raw TCP to any peer (trusted networks only).",
    ),
) -> None:
    """Serve every configured MCP server behind authentication, the gate and the audit log."""
    from devfactory.mcp.config import load_gateway_config
    from devfactory.mcp.gateway import Gateway
    from devfactory.mcp.http import http_app
    from devfactory.mcp.wire import uvicorn_server
    from devfactory.obs.events import open_bus

    if not config_path.is_file():
        raise UserError(f"{config_path}: no such file (see examples/gateway.yaml)")
    settings = load_settings()
    config = load_gateway_config(config_path)
    bind_host = host or config.host
    sock = listen(bind_host, config.port if port is None else port)
    store = Database(settings.store_url)
    try:
        # With Redis the calls and halts go on the shared event bus, where the dashboard
        # (another process) follows them live; without it there is nobody to tell.
        bus = open_bus(settings.redis_url) if settings.redis_url is not None else None
        gw = Gateway(
            config,
            settings,
            store=store,
            allow_unauthenticated=allow_unauthenticated,
            publish=bus.publish if bus is not None else None,
        )
        actual = sock.getsockname()[1]
        shown = f"[{bind_host}]" if ":" in bind_host else bind_host
        out.print(
            f"[bold green]devfactory gateway[/bold green] listening on [bold]{shown}:{actual}[/bold]"
        )
        out.print(f"  http      http://{shown}:{actual}/mcp  (Streamable HTTP; SSE at /sse)")
        out.print(
            f"  socat     socat STDIO TCP:{shown}:{actual}   (raw JSON-RPC, one session per connection)"
        )
        out.print(f"  servers   {', '.join(u.name for u in gw.upstreams) or 'none'}")
        if bus is not None:
            out.print("  events    published on the Redis event bus (DEVFACTORY_REDIS_URL)")
        if gw.keyring.generated is not None:
            out.print(
                f"  token     {gw.keyring.generated}  (admin; set clients[].token_env to choose your own)"
            )
        for missing in gw.keyring.missing:
            out.print(f"  [yellow]![/yellow] no token for client {missing}: it cannot connect")
        if allow_unauthenticated:
            out.print(
                "  [yellow]![/yellow] --allow-unauthenticated: anyone who reaches this port may call tools"
            )
        serve_until_stopped(uvicorn_server(gw, http_app(gw)), sock, out, "gateway stopped")
    finally:
        sock.close()
        store.close()


def register(app: typer.Typer) -> None:
    """Add ``gateway`` to the root app."""
    app.command("gateway")(gateway)
