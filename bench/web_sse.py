"""Benchmark the dashboard's live events: 200 SSE clients held at once, memory and fan-out.

    python bench/web_sse.py [--quick] [--write docs/benchmarks.md] [--json out.json]
                            [--clients N] [--events N] [--no-browser]

The dashboard is a process of this script (``--serve``): :func:`devfactory.web.create_app`
on a SQLite store in a temporary home, a :class:`~devfactory.obs.events.MemoryBus`, uvicorn
configured as ``devfactory web`` configures it, logging to the files and the log store as
the CLI does. It reads commands on stdin and publishes ``deploy_progress`` events on its bus
from a thread of its own (as the log writer or the executor would), each stamped with its
emit time (``at``). The clients are ``httpx`` streaming clients in this process, on one
asyncio loop: never the server's loop.

1. **Baseline**: one client; 200 events 20 ms apart; emit-to-receive latency p50/p95.
2. **200 clients connected and idle**: the server's RSS (psutil) before any client and with
   all of them connected; the growth per client.
3. **Fan-out latency**: the same 200 events to 200 clients; p50/p95 over every receipt by
   the clients that read (target: p95 ≤ 250 ms, the issue's bound for the browser).
4. **Bounded memory under slow clients**: 2,000 events published (10 ms apart, ~600 bytes
   each) while half the clients read, a quarter read slowly (20 ms per event: half the
   rate) and a quarter never read (a 2 KiB receive buffer, so their TCP windows close at
   once). Every subscriber's queue holds at most 1,000 events and drops the oldest, so the
   RSS after 2,000 events must stay within 16 MiB of the RSS after 200, and the clients
   that read must still get every event; the events dropped are read from
   ``devfactory_events_dropped_total`` on ``/metrics``.
5. **In the browser**: the p50/p95 that ``tests/browser/test_event_latency.py`` measures in
   Chromium (skipped with ``--no-browser`` or where Chromium is missing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import command_line, log, machine, percentile, publish, rerun, verdict
from bench.sections import REPO, preamble, source_state, stamp

CLIENTS = 200
EVENTS = 2000
LATENCY_EVENTS = 200
LATENCY_SPACING_MS = 20.0
LOAD_SPACING_MS = 10.0  # 100 events/s: 15,000 deliveries/s to the clients that read
PAD = 512  # bytes of padding per event: ~600-byte events, so stalled clients fill up
SLOW_READ_S = 0.02  # 50 events/s: half the rate published, so these fall behind
TARGET_P95_MS = 250.0
TARGET_GROWTH_MIB = 16.0
MIB = 1024 * 1024


# --------------------------------------------------------------------------- the server


def serve() -> None:
    """The dashboard on a free loopback port; prints ``READY <port> <key>``; then obeys
    ``publish COUNT SPACING_MS PAD PHASE`` (answering ``PUBLISHED COUNT``) and ``quit``."""
    import uvicorn

    from devfactory.config import Settings
    from devfactory.db import Database
    from devfactory.obs import log as obs_log
    from devfactory.obs.events import DeployProgress, MemoryBus
    from devfactory.obs.logstore import BatchWriter, open_store
    from devfactory.web import create_app

    settings = Settings(home=Path(os.environ["BENCH_HOME"]))
    obs_log.configure_from_settings(
        settings, extra_sinks=[BatchWriter(lambda: open_store(settings.store_url))]
    )
    store = Database(settings.store_url)
    bus = MemoryBus()
    app = create_app(settings, store=store, bus=bus)
    key = app.state.web.keys.create("bench", "viewer")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)

    def commands() -> None:
        for line in sys.stdin:
            words = line.split()
            if words[:1] == ["publish"]:
                count, spacing, pad, phase = int(words[1]), float(words[2]), int(words[3]), words[4]
                for i in range(count):
                    bus.publish_threadsafe(
                        DeployProgress(
                            environment=phase, step_index=i, total=count, action="bench",
                            target="x" * pad,
                        )
                    )  # fmt: skip
                    if spacing:
                        time.sleep(spacing / 1000)
                print(f"PUBLISHED {count}", flush=True)
            elif words[:1] == ["quit"]:
                break
        server.should_exit = True

    threading.Thread(target=commands, daemon=True).start()
    print(f"READY {sock.getsockname()[1]} {key}", flush=True)
    asyncio.run(server.serve(sockets=[sock]))
    obs_log.shutdown()
    store.close()


class Dashboard:
    """The ``--serve`` process: its port, API key, RSS, and the publish command."""

    def __init__(self, home: str) -> None:
        self.errors = Path(home) / "server-stderr.log"
        with self.errors.open("w") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "BENCH_HOME": home},
            )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        words = self.stdout.readline().split()
        if words[:1] != ["READY"]:
            raise RuntimeError(f"the dashboard did not start: {words!r}")
        self.port, self.key = int(words[1]), words[2]
        self.url = f"http://127.0.0.1:{self.port}"

    def rss(self) -> int:
        import psutil

        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def cpu(self) -> float:
        """CPU seconds the server has used (user + system)."""
        import psutil

        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def publish_events(self, count: int, spacing_ms: float, phase: str, pad: int = 0) -> None:
        """Blocks until the server published them all (its own thread, not the loop)."""
        self.stdin.write(f"publish {count} {spacing_ms} {pad} {phase}\n")
        self.stdin.flush()
        answer = self.stdout.readline().strip()
        if answer != f"PUBLISHED {count}":
            raise RuntimeError(f"publishing failed: {answer!r}")

    def stop(self) -> int:
        """Stop the server; the number of tracebacks it printed (clients cut mid-send)."""
        self.stdin.write("quit\n")
        self.stdin.flush()
        self.proc.wait(timeout=60)
        return self.errors.read_text().count("Traceback (most recent call last)")


# --------------------------------------------------------------------------- the clients


class Client:
    """One SSE client: counts events per phase and times those of the timed phases."""

    def __init__(self, mode: str, timed: set[str]) -> None:
        self.mode = mode  # read, slow or stalled
        self.timed = timed
        self.counts: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.gaps = 0
        self.latencies: dict[str, list[float]] = {}
        self.connected = asyncio.Event()

    def receive(self, block: bytes, now: float) -> None:
        for line in block.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            event = json.loads(line[5:])
            phase, index = event["environment"], event["step_index"]
            self.counts[phase] = self.counts.get(phase, 0) + 1
            if index != self.last.get(phase, -1) + 1:
                self.gaps += 1
            self.last[phase] = index
            if phase in self.timed:
                emitted = datetime.fromisoformat(event["at"]).timestamp()
                self.latencies.setdefault(phase, []).append(now - emitted)

    async def run(self, http: Any, url: str, headers: dict[str, str]) -> None:
        params = {"types": "deploy_progress"}
        async with http.stream("GET", url, params=params, headers=headers) as response:
            if response.status_code != 200:
                raise RuntimeError(f"SSE refused: {response.status_code}")
            self.connected.set()
            buffer = b""
            async for chunk in response.aiter_raw():
                now = time.time()
                buffer += chunk
                *blocks, buffer = buffer.split(b"\n\n")
                for block in blocks:
                    self.receive(block, now)
                    if self.mode == "slow":
                        await asyncio.sleep(SLOW_READ_S)

    async def stall(self, port: int, key: str) -> None:
        """Open the stream on a socket with a 2 KiB receive buffer, read the answer's head,
        then never read again: the TCP window closes at once, and the server's queue for
        this client is what fills (httpx sets socket options only after connecting).

        The segment size is an Ethernet-like 1,460 bytes: on loopback (64 KiB segments)
        Linux sizes the server's send buffer at megabytes, which would hold the whole test
        and leave the queue empty; across a real network it holds some tens of KiB."""
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1460)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, ("127.0.0.1", port))
            request = (
                "GET /api/v1/events?types=deploy_progress HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
                "Accept: text/event-stream\r\n\r\n"
            )
            await loop.sock_sendall(sock, request.encode())
            head = await loop.sock_recv(sock, 512)
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                raise RuntimeError(f"SSE refused: {head[:80]!r}")
            self.connected.set()
            await asyncio.Event().wait()  # never read again: cancelled at the end
        finally:
            sock.close()


async def wait_for(clients: list[Client], phase: str, count: int, timeout: float) -> bool:
    """Until every client reached ``count`` events of ``phase`` (False on timeout)."""
    deadline = time.monotonic() + timeout
    while any(c.counts.get(phase, 0) < count for c in clients):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def dropped_total(http: Any, url: str) -> float:
    text = (await http.get(f"{url}/metrics")).text
    found = re.search(r'^devfactory_events_dropped_total\{bus="memory"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def run_clients(dash: Dashboard, clients: int, events: int) -> dict[str, Any]:
    """Every client-side phase, against one dashboard process."""
    import httpx

    url = f"{dash.url}/api/v1/events"
    headers = {"Authorization": f"Bearer {dash.key}"}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    timeout = httpx.Timeout(30, read=None)
    results: dict[str, Any] = {}
    latency_events = min(LATENCY_EVENTS, events)
    async with (
        httpx.AsyncClient(limits=limits, timeout=timeout) as http,
    ):
        await http.get(f"{dash.url}/health")
        results["rss_start"] = dash.rss()

        log(f"baseline: 1 client, {latency_events} events {LATENCY_SPACING_MS:g} ms apart")
        one = Client("read", {"baseline"})
        task = asyncio.create_task(one.run(http, url, headers))
        await one.connected.wait()
        await asyncio.sleep(0.2)  # the subscription is made as the response starts
        await asyncio.to_thread(dash.publish_events, latency_events, LATENCY_SPACING_MS, "baseline")
        await wait_for([one], "baseline", latency_events, 30)
        task.cancel()
        results["baseline"] = one.latencies.get("baseline", [])
        results["baseline_received"] = one.counts.get("baseline", 0)
        await asyncio.sleep(0.5)
        results["rss_before"] = dash.rss()

        stalled = clients // 4
        slow = clients // 4
        log(f"{clients} clients: {clients - slow - stalled} read, {slow} slow, {stalled} never")
        modes = ["stalled"] * stalled + ["slow"] * slow + ["read"] * (clients - slow - stalled)
        held = [Client(mode, {"fanout"}) for mode in modes]
        tasks = [
            asyncio.create_task(
                c.stall(dash.port, dash.key) if c.mode == "stalled" else c.run(http, url, headers)
            )
            for c in held
        ]
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in held)), 60)
        await asyncio.sleep(1.0)
        results["rss_connected"] = dash.rss()

        log(f"fan-out: {latency_events} events {LATENCY_SPACING_MS:g} ms apart to {clients}")
        cpu_server, cpu_clients, wall = dash.cpu(), time.process_time(), time.monotonic()
        await asyncio.to_thread(dash.publish_events, latency_events, LATENCY_SPACING_MS, "fanout")
        readers = [c for c in held if c.mode == "read"]
        readers_and_slow = [c for c in held if c.mode != "stalled"]
        await wait_for(readers_and_slow, "fanout", latency_events, 60)
        wall = time.monotonic() - wall
        results["fanout_cpu"] = {
            "server": round((dash.cpu() - cpu_server) / wall, 2),
            "clients": round((time.process_time() - cpu_clients) / wall, 2),
        }
        results["fanout"] = [x for c in readers for x in c.latencies.get("fanout", [])]
        results["fanout_slow"] = [
            x for c in held if c.mode == "slow" for x in c.latencies.get("fanout", [])
        ]
        results["rss_after_fanout"] = dash.rss()
        dropped_before = await dropped_total(http, dash.url)

        log(f"load: {events} events {LOAD_SPACING_MS:g} ms apart, {PAD}-byte padding")
        await asyncio.to_thread(dash.publish_events, events, LOAD_SPACING_MS, "load", PAD)
        results["load_complete"] = await wait_for(readers, "load", events, 120)
        await asyncio.sleep(1.0)
        results["rss_after_load"] = dash.rss()
        results["dropped"] = await dropped_total(http, dash.url) - dropped_before
        results["received"] = {
            mode: sum(c.counts.get("load", 0) for c in held if c.mode == mode)
            for mode in ("read", "slow", "stalled")
        }
        results["reader_gaps"] = sum(c.gaps for c in readers)
        results["modes"] = {mode: modes.count(mode) for mode in ("read", "slow", "stalled")}
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return results


def browser_latency() -> dict[str, Any]:
    """The numbers of the Chromium test, or why there are none."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "browser.json"
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/browser/test_event_latency.py", "-q",
             "-p", "no:randomly", "-p", "no:cacheprovider"],
            cwd=REPO, capture_output=True, text=True, timeout=300,
            env={**os.environ, "DEVFACTORY_BENCH_OUT": str(out)},
        )  # fmt: skip
        if out.exists():
            return dict(json.loads(out.read_text()))
        lines = (run.stdout + run.stderr).strip().splitlines()
        return {"skipped": lines[-1] if lines else f"exit {run.returncode}"}


# --------------------------------------------------------------------------- the report


def ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 2) if values else float("nan")


def mib(n: float) -> float:
    return round(n / MIB, 1)


def measure(clients: int, events: int, browser: bool) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "clients": clients, "events": events}
    results["load_average"] = round(os.getloadavg()[0], 2)  # other work on the machine
    with tempfile.TemporaryDirectory() as home:
        dash = Dashboard(home)
        try:
            results.update(asyncio.run(run_clients(dash, clients, events)))
        finally:
            results["server_tracebacks"] = dash.stop()
    if browser:
        log("in the browser: tests/browser/test_event_latency.py")
        results["browser"] = browser_latency()
    return results


def report(results: dict[str, Any], quick: bool, command: str) -> tuple[str, dict[str, Any]]:
    clients, events = results["clients"], results["events"]
    base, fan, slow = results["baseline"], results["fanout"], results["fanout_slow"]
    start, before = results["rss_start"], results["rss_before"]
    connected, fanned, loaded = (
        results["rss_connected"],
        results["rss_after_fanout"],
        results["rss_after_load"],
    )
    per_client_kib = round((connected - before) / clients / 1024, 1)
    growth = mib(loaded - fanned)
    modes, received = results["modes"], results["received"]
    numbers: dict[str, Any] = {
        "machine": results["machine"],
        "clients": clients,
        "events": events,
        "modes": modes,
        "baseline": {"p50_ms": ms(base, 0.5), "p95_ms": ms(base, 0.95), "n": len(base)},
        "fanout": {"p50_ms": ms(fan, 0.5), "p95_ms": ms(fan, 0.95), "n": len(fan)},
        "fanout_slow": {"p50_ms": ms(slow, 0.5), "p95_ms": ms(slow, 0.95), "n": len(slow)},
        "rss_mib": {
            "start": mib(start),
            "before_clients": mib(before),
            "connected": mib(connected),
            "after_fanout": mib(fanned),
            "after_load": mib(loaded),
        },
        "rss_per_client_kib": per_client_kib,
        "growth_after_load_mib": growth,
        "dropped": results["dropped"],
        "received": received,
        "reader_gaps": results["reader_gaps"],
        "load_complete": results["load_complete"],
        "browser": results.get("browser"),
        "load_average": results["load_average"],
        "fanout_cpu": results["fanout_cpu"],
        "server_tracebacks": results["server_tracebacks"],
    }
    n_lat = min(LATENCY_EVENTS, events)
    rows = [
        f"| emit → receive, 1 client (baseline) | {n_lat} events {LATENCY_SPACING_MS:g} ms apart "
        f"| **p50 {ms(base, 0.5)} ms, p95 {ms(base, 0.95)} ms** | | |",
        f"| emit → receive, {clients} clients | the same {n_lat} events to all; {len(fan):,} "
        f"receipts by the {modes['read']} reading clients | **p50 {ms(fan, 0.5)} ms, p95 "
        f"{ms(fan, 0.95)} ms** | p95 ≤ {TARGET_P95_MS:g} ms | "
        f"{verdict(bool(fan) and ms(fan, 0.95) <= TARGET_P95_MS)} |",
        f"| server RSS, {clients} idle clients | {mib(before)} MiB before → {mib(connected)} MiB "
        f"connected | **{per_client_kib} KiB per client** | | |",
        f"| server RSS growth under load | {events:,} events of ~{PAD + 100} bytes, "
        f"{modes['slow']} slow and {modes['stalled']} stalled clients: {mib(fanned)} MiB after "
        f"{n_lat} events → {mib(loaded)} MiB | **{growth:+} MiB** | ≤ {TARGET_GROWTH_MIB:g} MiB "
        f"| {verdict(growth <= TARGET_GROWTH_MIB)} |",
        f"| slow clients' queues | events dropped (oldest first) for the slow and stalled "
        f"clients; reading clients got every event | **{int(results['dropped']):,} dropped**, "
        f"readers {received['read']:,}/{modes['read'] * events:,} with "
        f"{results['reader_gaps']} gaps | readers complete | "
        f"{verdict(results['load_complete'] and results['reader_gaps'] == 0)} |",
    ]
    browser = results.get("browser")
    if browser and "skipped" not in browser:
        ok = browser["p95_ms"] <= TARGET_P95_MS
        rows.append(
            f"| emit → browser, {browser['browser']} | `tests/browser/test_event_latency.py`: "
            f"{browser['events']} events {browser['spacing_ms']:g} ms apart to an EventSource "
            f"| **p50 {browser['p50_ms']} ms, p95 {browser['p95_ms']} ms** | "
            f"p95 ≤ {TARGET_P95_MS:g} ms | {verdict(ok)} |"
        )
    elif browser:
        rows.append(f"| emit → browser | not measured: {browser['skipped']} | | | |")
    head = "\n".join(
        preamble(
            "Dashboard live events",
            f"Run {stamp()}: {clients} SSE clients on one `/api/v1/events` each, {events:,} "
            f"events under load; {source_state()}.",
            command,
        )
    )
    table = "\n".join(
        ["| measure | how | result | target | |", "| --- | --- | --- | --- | --- |", *rows]
    )
    machine_line = ", ".join(f"{k} {v}" for k, v in results["machine"].items())
    notes = (
        "The dashboard is one uvicorn process configured as `devfactory web` (MemoryBus, "
        "SQLite store, logs to files and the log store); events are published on its bus "
        "from a thread of that process. The clients are httpx streaming clients on one "
        "asyncio loop in the benchmark's own process; latency is the event's `at` (set "
        "when it is made) to the moment its bytes reach a client, on the same clock. Every "
        "subscriber has a queue of 1,000 events that drops its oldest when full, so a "
        "client that stops reading costs a bounded amount of memory. RSS is the server "
        f"process's (psutil). Clients and server share the machine ({machine_line}; "
        f"1-minute load average {results['load_average']} as the run began)."
    )
    if results["server_tracebacks"]:
        notes += (
            f" At the end the server printed {results['server_tracebacks']} tracebacks "
            "(`anyio.BrokenResourceError`) as the clients that never read were cut off "
            "while a send to them waited on flow control."
        )
    return f"{head}\n{table}\n\n{notes}\n", numbers


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve()
        return
    parser: argparse.ArgumentParser = command_line(
        __doc__, "20 clients and 200 events instead of 200 and 2,000; no browser"
    )
    parser.add_argument("--clients", type=int, help=f"SSE clients [{CLIENTS}]")
    parser.add_argument("--events", type=int, help=f"events under load [{EVENTS}]")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium test")
    args = parser.parse_args()
    clients = args.clients or (20 if args.quick else CLIENTS)
    events = args.events or (200 if args.quick else EVENTS)
    sized = args.quick or args.clients or args.events
    note = f" --clients {clients} --events {events}" if sized and not args.quick else ""
    browser = not (args.quick or args.no_browser)
    results = measure(clients, events, browser)
    text, numbers = report(results, args.quick, rerun("web_sse.py", args.quick, note))
    publish(text, numbers, section="web-sse", write=args.write, json_path=args.json)


if __name__ == "__main__":
    main()
