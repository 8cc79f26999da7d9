"""Benchmark the MCP gateway: the latency a call gains through it, throughput, audit lines.

    python bench/gateway.py [--quick] [--write docs/benchmarks.md] [--json out.json]

Three servers, each a process of this script (``--serve MODE``), all on loopback:

- ``direct-http``: the downstream server (an MCPServer with one ``echo`` tool) alone on
  uvicorn, Streamable HTTP at ``/mcp`` — the baseline for HTTP;
- ``direct-tcp``: the same server alone over newline-delimited JSON-RPC on TCP, with the
  gateway's own framing code — the baseline for the socat wire;
- ``gateway``: the gateway with that server in its process, both wires on one port, writing
  every audit line to the JSONL files and the SQLite log store as ``devfactory gateway`` does.

1. **Added latency**: sequential ``echo`` calls, p50 and p95 through the gateway and direct,
   over Streamable HTTP (the SDK's client) and over TCP (raw lines). Targets: the gateway
   adds at most 2 ms at p50 over HTTP and 1 ms over TCP.
2. **Throughput**: 32 concurrent clients calling for a fixed time through the gateway, over
   each wire. Target ≥ 300 calls/s on 2 cores.
3. **Audit completeness**: calls answered = ``mcp.call`` lines in the audit file after the
   gateway stopped (target: equal).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import command_line, log, machine, percentile, publish, rerun, verdict
from bench.sections import preamble, source_state, stamp

TARGET_HTTP_MS = 2.0
TARGET_TCP_MS = 1.0
TARGET_RPS = 300.0
CLIENTS = 32
TOKEN = "bench-gateway-token-0123456789"


# --------------------------------------------------------------------------- the servers


def downstream() -> Any:
    """The server every measurement calls: one read-only ``echo`` tool."""
    from mcp.server import MCPServer
    from mcp.types import ToolAnnotations

    server = MCPServer("bench")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    def echo(text: str) -> str:
        """Return ``text``."""
        return text

    return server


def serve(mode: str) -> None:
    """Run one server on a free loopback port; print ``READY <port>``; stop on SIGTERM."""
    import uvicorn

    from devfactory.mcp.wire import http_protocol_class, protocol_for

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small answers go out now
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    server = downstream()
    finish = None
    if mode == "direct-http":
        app: Any = server.streamable_http_app(json_response=True)  # as the gateway answers
        http: Any = "httptools"
    elif mode == "direct-tcp":
        shim = SimpleNamespace(
            server=server._lowlevel_server,
            init_options=server._lowlevel_server.create_initialization_options,
            config=SimpleNamespace(
                limits=SimpleNamespace(line_bytes=4 * 1024 * 1024),
                tcp=SimpleNamespace(enabled=True),
            ),
            allow_unauthenticated=False,
            tcp_principal=None,
        )
        app, http = _empty_app(), protocol_for(shim, http_protocol_class())  # type: ignore[arg-type]
    else:
        app, http, finish = _gateway_app(server)
    config = uvicorn.Config(
        app, http=http, loop="asyncio", log_level="warning", access_log=False, lifespan="on"
    )
    runner = uvicorn.Server(config)
    stopped: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        stopped.append(signum)
        runner.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    print(f"READY {sock.getsockname()[1]}", flush=True)
    runner.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    asyncio.run(runner.serve(sockets=[sock]))
    if finish is not None:
        finish()


def _empty_app() -> Any:
    from starlette.applications import Starlette

    return Starlette()


def _gateway_app(server: Any) -> tuple[Any, Any, Any]:
    from devfactory.config import Settings
    from devfactory.db import Database
    from devfactory.mcp.config import GatewayConfig
    from devfactory.mcp.gateway import Gateway
    from devfactory.mcp.hosted import HostedServer
    from devfactory.mcp.http import http_app
    from devfactory.mcp.wire import http_protocol_class, protocol_for
    from devfactory.obs import log as obs_log
    from devfactory.obs.logstore import BatchWriter, open_store

    home = Path(os.environ["BENCH_HOME"])
    settings = Settings(home=home)
    obs_log.configure_from_settings(
        settings, extra_sinks=[BatchWriter(lambda: open_store(settings.store_url))]
    )
    os.environ["BENCH_TOKEN"] = TOKEN
    config = GatewayConfig.model_validate(
        {"clients": [{"name": "bench", "token_env": "BENCH_TOKEN", "role": "operator"}]}
    )
    store = Database(settings.store_url)
    gateway = Gateway(
        config, settings, store=store, extra_servers={"bench": HostedServer("bench", server)}
    )

    def finish() -> None:
        obs_log.shutdown()
        store.close()

    return http_app(gateway), protocol_for(gateway, http_protocol_class()), finish


class Server:
    """A ``--serve`` process of this script."""

    def __init__(self, mode: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", mode],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"{mode} did not start: {line!r}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


# --------------------------------------------------------------------------- the clients


async def http_latency(url: str, calls: int, token: str | None) -> list[float]:
    """Seconds per sequential ``echo`` call over Streamable HTTP (the SDK's client)."""
    import httpx2
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    samples = []
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        tool = (await client.list_tools()).tools[0].name
        for i in range(calls + 20):
            start = time.perf_counter()
            await client.call_tool(tool, {"text": f"hello {i}"})
            if i >= 20:  # warm-up
                samples.append(time.perf_counter() - start)
    return samples


INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"},
    },
}


async def tcp_session(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(json.dumps(INIT).encode() + b"\n")
    await reader.readline()
    writer.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    writer.write(b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}\n')
    tools = json.loads(await reader.readline())["result"]["tools"]
    return reader, writer, tools[0]["name"]


async def tcp_call(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tool: str, i: int
) -> None:
    call = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": tool, "arguments": {"text": f"hello {i}"}}}  # fmt: skip
    writer.write(json.dumps(call).encode() + b"\n")
    answer = json.loads(await reader.readline())
    if "result" not in answer or answer["result"].get("isError"):
        raise RuntimeError(f"call failed: {answer}")


async def tcp_latency(port: int, calls: int) -> list[float]:
    """Seconds per sequential call over raw newline-delimited JSON-RPC."""
    reader, writer, tool = await tcp_session(port)
    samples = []
    for i in range(2, calls + 22):
        start = time.perf_counter()
        await tcp_call(reader, writer, tool, i)
        if i >= 22:
            samples.append(time.perf_counter() - start)
    writer.close()
    return samples


async def throughput(
    port: int, wire: str, seconds: float, tool: str = "bench__echo", token: str | None = TOKEN
) -> int:
    """Calls of ``tool`` answered by ``CLIENTS`` concurrent clients in ``seconds``."""
    deadline = time.perf_counter() + seconds
    done = 0

    async def tcp_client() -> None:
        nonlocal done
        reader, writer, tool = await tcp_session(port)
        i = 2
        while time.perf_counter() < deadline:
            await tcp_call(reader, writer, tool, i)
            done += 1
            i += 1
        writer.close()

    async def http_client() -> None:
        # Raw JSON-RPC over one Streamable HTTP session, as an agent's client sends it; the
        # SDK's client costs the load generator so much CPU that 32 of them measure it.
        nonlocal done
        import httpx

        url = f"http://127.0.0.1:{port}/mcp"
        headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        }
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            first = await http.post(url, json=INIT)
            if first.status_code != 200:
                raise RuntimeError(f"initialize failed: {first.status_code} {first.text[:200]}")
            http.headers["Mcp-Session-Id"] = first.headers.get("mcp-session-id", "")
            http.headers["Mcp-Protocol-Version"] = "2025-11-25"
            await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            i = 2
            while time.perf_counter() < deadline:
                call = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": tool, "arguments": {"text": f"hello {i}"}}}  # fmt: skip
                answer = await http.post(url, json=call)
                if answer.status_code != 200 or '"isError":true' in answer.text:
                    raise RuntimeError(f"call failed: {answer.status_code} {answer.text[:200]}")
                done += 1
                i += 1

    worker = tcp_client if wire == "tcp" else http_client
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return done


# --------------------------------------------------------------------------- the report


def ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 3)


def measure(quick: bool) -> dict[str, Any]:
    calls = 200 if quick else 2000
    seconds = 2.0 if quick else 10.0
    results: dict[str, Any] = {"machine": machine(), "calls": calls, "seconds": seconds}
    direct_http = Server("direct-http")
    try:
        log(f"direct HTTP: {calls} calls")
        results["direct_http"] = asyncio.run(
            http_latency(f"http://127.0.0.1:{direct_http.port}/mcp", calls, None)
        )
        log(f"direct HTTP throughput: {CLIENTS} clients for {seconds:g} s")
        count = asyncio.run(throughput(direct_http.port, "http", seconds, "echo", None))
        results["direct_rps_http"] = round(count / seconds, 1)
    finally:
        direct_http.stop()
    direct_tcp = Server("direct-tcp")
    try:
        log(f"direct TCP: {calls} calls")
        results["direct_tcp"] = asyncio.run(tcp_latency(direct_tcp.port, calls))
        log(f"direct TCP throughput: {CLIENTS} clients for {seconds:g} s")
        count = asyncio.run(throughput(direct_tcp.port, "tcp", seconds, "echo", None))
        results["direct_rps_tcp"] = round(count / seconds, 1)
    finally:
        direct_tcp.stop()
    with tempfile.TemporaryDirectory() as home:
        gateway = Server("gateway", {"BENCH_HOME": home})
        try:
            log(f"gateway HTTP and TCP: {calls} calls each")
            url = f"http://127.0.0.1:{gateway.port}/mcp"
            results["gateway_http"] = asyncio.run(http_latency(url, calls, TOKEN))
            results["gateway_tcp"] = asyncio.run(tcp_latency(gateway.port, calls))
            made = 2 * (calls + 20)
            for wire in ("tcp", "http"):
                log(f"throughput over {wire}: {CLIENTS} clients for {seconds:g} s")
                count = asyncio.run(throughput(gateway.port, wire, seconds))
                results[f"rps_{wire}"] = round(count / seconds, 1)
                made += count
        finally:
            gateway.stop()
        audit = Path(home) / "logs" / "audit.jsonl"
        lines = [json.loads(x) for x in audit.read_text().splitlines()] if audit.exists() else []
        results["calls_made"] = made
        results["audit_lines"] = sum(1 for x in lines if x.get("event") == "mcp.call")
    return results


def report(results: dict[str, Any], quick: bool) -> tuple[str, dict[str, Any]]:
    rows = []
    numbers: dict[str, Any] = {"machine": results["machine"]}
    for wire, target in (("http", TARGET_HTTP_MS), ("tcp", TARGET_TCP_MS)):
        direct, through = results[f"direct_{wire}"], results[f"gateway_{wire}"]
        added = round(ms(through, 0.5) - ms(direct, 0.5), 3)
        numbers[wire] = {
            "direct_p50_ms": ms(direct, 0.5),
            "direct_p95_ms": ms(direct, 0.95),
            "gateway_p50_ms": ms(through, 0.5),
            "gateway_p95_ms": ms(through, 0.95),
            "added_p50_ms": added,
        }
        name = "Streamable HTTP" if wire == "http" else "raw TCP (socat wire)"
        rows.append(
            f"| added latency p50, {name} | {ms(direct, 0.5)} ms direct → {ms(through, 0.5)} ms "
            f"through (p95 {ms(direct, 0.95)} → {ms(through, 0.95)}) | **{added} ms** | "
            f"≤ {target:g} ms | {verdict(added <= target)} |"
        )
    for wire in ("tcp", "http"):
        rps, direct_rps = results[f"rps_{wire}"], results[f"direct_rps_{wire}"]
        numbers[f"rps_{wire}"] = rps
        numbers[f"direct_rps_{wire}"] = direct_rps
        rows.append(
            f"| throughput, {CLIENTS} clients, {'raw TCP' if wire == 'tcp' else 'Streamable HTTP'} "
            f"| {results['seconds']:g} s: {direct_rps} calls/s direct → through the gateway "
            f"| **{rps} calls/s** | ≥ {TARGET_RPS:g} | {verdict(rps >= TARGET_RPS)} |"
        )
    made, audited = results["calls_made"], results["audit_lines"]
    numbers.update(calls_made=made, audit_lines=audited)
    rows.append(
        f"| audit completeness | {made} calls answered | **{audited} audit lines** | equal | "
        f"{verdict(made == audited)} |"
    )
    head = "\n".join(
        preamble(
            "MCP gateway",
            f"Run {stamp()}: {results['calls']} sequential calls per wire and mode, {CLIENTS} "
            f"concurrent clients for {results['seconds']:g} s per wire; {source_state()}.",
            rerun("gateway.py", quick),
        )
    )
    table = "\n".join(
        ["| measure | how | result | target | |", "| --- | --- | --- | --- | --- |", *rows]
    )
    machine_line = ", ".join(f"{k} {v}" for k, v in results["machine"].items())
    notes = (
        "The downstream server is the same MCPServer (one `echo` tool) in every mode: alone "
        "over Streamable HTTP, alone over the gateway's TCP framing, and inside the gateway. "
        "Through the gateway each call also passes the permission check, the secret scan of "
        "arguments and result, the confidence gate and the executor, and writes one audit "
        "line to the JSONL files and the SQLite log store. Clients and servers share the "
        f"machine ({machine_line})."
    )
    return f"{head}\n{table}\n\n{notes}\n", numbers


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
        return
    parser: argparse.ArgumentParser = command_line(
        __doc__, "200 calls per mode and 2 s of load instead of 2000 and 10 s"
    )
    args = parser.parse_args()
    results = measure(args.quick)
    text, numbers = report(results, args.quick)
    publish(text, numbers, section="gateway", write=args.write, json_path=args.json)


if __name__ == "__main__":
    main()
