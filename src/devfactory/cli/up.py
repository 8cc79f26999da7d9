"""``devfactory up``: the whole factory in one command (``make run``).

Deploys the spec to the target (the embedded default unless ``--target``), exactly as
``devfactory apply --auto-approve`` (plan, apply, verify; "Nothing to do" the second time),
then serves, in this one process and on one event loop:

- the MCP gateway (``--gateway-config``, port 8811), its calls gated and audited;
- the dashboard (port 8000) with the client portal and the drift of the deployed workspace.

Both share the store (logs, approvals, keys) and the event bus, so a call through the gateway
shows on the dashboard as it happens. A fresh admin key for the dashboard is made on every
start (the previous one made by ``up`` is revoked) and printed once with the URLs. Ctrl-C or
SIGTERM stops both servers gracefully.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from devfactory.cli.options import listen, quiet_server, serve_all_until_stopped
from devfactory.config import load_settings
from devfactory.db import Database
from devfactory.errors import UserError

__all__ = ["register", "up"]

out = Console(stderr=True, soft_wrap=True)
ADMIN_KEY_NAME = "up-admin"
"""The dashboard key ``up`` makes (and replaces on the next start)."""


def up(
    spec: Path = typer.Argument(
        Path("examples/consulting/workspace.yaml"), help="The workspace spec to deploy."
    ),
    env: str | None = typer.Option(None, "--env", "-e", help="Environment overlay to apply."),
    target: str | None = typer.Option(
        None, "--target", metavar="URL", help="A running local Notion server (default: embedded)."
    ),
    gateway_config: Path = typer.Option(
        Path("examples/gateway.yaml"), "--gateway-config", help="The gateway configuration."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address both servers bind."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Dashboard port."),
    gateway_port: int | None = typer.Option(
        None, "--gateway-port", min=0, max=65535, help="Gateway port [default: the config's]."
    ),
) -> None:
    """Deploy SPEC, then serve the MCP gateway and the dashboard until stopped."""
    from devfactory.cli.deploy import apply
    from devfactory.deploy.engine import load_workspace
    from devfactory.mcp.config import load_gateway_config
    from devfactory.mcp.gateway import Gateway
    from devfactory.mcp.http import http_app
    from devfactory.mcp.wire import uvicorn_server
    from devfactory.obs.events import open_bus
    from devfactory.web import ApiKeys, create_app
    from devfactory.web.drift import Watched, configure_drift
    from devfactory.web.portal_reader import PortalConfig
    from devfactory.web.portal_routes import configure_portal

    if not gateway_config.is_file():
        raise UserError(f"{gateway_config}: no such file (see examples/gateway.yaml)")
    config = load_gateway_config(gateway_config)  # a bad config fails before the deploy
    _, ws = load_workspace(spec, env)

    # Both ports first: a port in use fails before anything is deployed.
    web_sock = listen(host, port)
    try:
        gw_sock = listen(host, config.port if gateway_port is None else gateway_port)
    except BaseException:
        web_sock.close()
        raise
    try:
        apply(
            spec=spec,
            env=env,
            target=target,
            auto_approve=True,
            plan_file=None,
            allow_destroy=False,
            no_verify=False,
            print_report=False,
            workspaces=None,
        )
    except BaseException:
        web_sock.close()
        gw_sock.close()
        raise

    settings = load_settings()
    store = Database(settings.store_url)
    bus = open_bus(settings.redis_url)
    try:
        dashboard = create_app(settings, store=store, bus=bus)
        configure_portal(
            dashboard,
            PortalConfig(workspace=ws.workspace, environment=ws.environment, target_url=target),
        )
        configure_drift(dashboard, [Watched(spec, env, target)])
        keys = ApiKeys(store)
        keys.revoke(ADMIN_KEY_NAME)
        admin_key = keys.create(ADMIN_KEY_NAME, "admin")
        gw = Gateway(config, settings, store=store, publish=bus.publish)

        web_port = web_sock.getsockname()[1]
        mcp_port = gw_sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        out.print()
        out.print(f"[bold green]devfactory is up[/bold green]: {ws.workspace} ({ws.environment})")
        out.print(f"  dashboard  http://{shown}:{web_port}/  (sign in with the admin key)")
        out.print(f"  portal     http://{shown}:{web_port}/portal  (devfactory web portal-keys)")
        out.print(f"  api        http://{shown}:{web_port}/api/v1  (docs at /docs)")
        out.print(
            f"  gateway    http://{shown}:{mcp_port}/mcp  (socat STDIO TCP:{shown}:{mcp_port})"
        )
        out.print(f"  servers    {', '.join(u.name for u in gw.upstreams) or 'none'}")
        out.print(f"  admin key  {admin_key}  (new on every start; shown once)")
        if gw.keyring.generated is not None:
            out.print(
                f"  mcp token  {gw.keyring.generated}  (set DEVFACTORY_GATEWAY_TOKEN to choose)"
            )
        out.print("  Ctrl-C stops both.")
        sys.stderr.flush()
        serve_all_until_stopped(
            [(quiet_server(dashboard), web_sock), (uvicorn_server(gw, http_app(gw)), gw_sock)],
            out,
            "devfactory stopped",
        )
    finally:
        web_sock.close()
        gw_sock.close()
        store.close()


def register(app: typer.Typer) -> None:
    """Add ``up`` to the root app."""
    app.command("up")(up)
