"""Benchmark the deploy engine: plan time on a big workspace, calls against the lower bound,
and wall time under Notion's rate limit.

    python bench/deploy.py [--quick] [--write docs/benchmarks.md] [--json out.json]

1. **Plan time** for a generated spec of 200 databases x 40 properties, against the local
   server running in its own process: the steady-state plan (after an apply: it observes
   every data source) and the plan from empty. Baseline in the same run: the same reads made
   with a bare httpx client, i.e. what observing costs before any planning. Target ≤ 2 s.
2. **API calls** for examples/consulting (dev) from an empty workspace, against the lower
   bound of :mod:`devfactory.deploy.bound`. Target: equal.
3. **Wall time** of that apply with the server limited to 3 requests/s (and devfactory
   pacing itself at 3/s): target ≤ 1.15 x calls / 3 s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from bench.harness import command_line, log, machine, publish, rerun, verdict
from bench.sections import REPO, preamble, source_state, stamp
from devfactory.config import Settings
from devfactory.deploy.bound import minimum_calls
from devfactory.deploy.desired import desired_workspace
from devfactory.deploy.engine import ApplyOptions, apply_workspace, load_workspace, plan_workspace
from devfactory.deploy.state import StateFile
from devfactory.notion.api import NotionAPI
from devfactory.notion.target import NotionSession, resolve_target
from devfactory.spec.model import Spec

EXAMPLE = REPO / "examples" / "consulting" / "workspace.yaml"
TOKEN = "ntn_devfactory_deploy_benchmark_token_0123456789"
TYPES = ["rich_text", "date", "checkbox", "url", "email", "phone_number", "people", "files"]


def generated_spec(databases: int, properties: int) -> dict[str, Any]:
    """A spec of ``databases`` databases with ``properties`` properties each, of every kind:
    plain types, numbers, selects, a status, formulas, and a two-way relation to the previous
    database with a rollup over it."""
    dbs: dict[str, Any] = {}
    for i in range(databases):
        props: dict[str, Any] = {"Name": "title"}
        if i:
            props["Previous"] = {
                "type": "relation",
                "to": f"db{i - 1:03d}",
                "synced_as": f"Next {i}",
            }
            props["Previous count"] = {
                "type": "rollup",
                "relation": "Previous",
                "property": "Amount 0",
                "function": "sum",
            }
        n = 0
        while len(props) < properties:
            kind = n % 6
            if kind == 0:
                props[f"Amount {n}"] = {"type": "number", "format": "dollar" if n % 2 else "number"}
            elif kind == 1:
                props[f"Choice {n}"] = {
                    "type": "select",
                    "options": [f"Option {k}" for k in range(5)],
                }
            elif kind == 2:
                props[f"Tags {n}"] = {"type": "multi_select", "options": ["red", "green", "blue"]}
            elif kind == 3:
                props[f"Double {n}"] = {"type": "formula", "expression": 'prop("Amount 0") * 2'}
            else:
                props[f"Field {n}"] = TYPES[n % len(TYPES)]
            n += 1
        if "Amount 0" not in props:
            props["Amount 0"] = "number"
        dbs[f"db{i:03d}"] = {"title": f"Database {i:03d}", "properties": props}
    return {"apiVersion": "devfactory/v1", "workspace": "bench", "databases": dbs}


class Server:
    """`devfactory notion serve` in its own process."""

    def __init__(self, directory: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devfactory",
                "notion",
                "serve",
                "--db",
                str(directory / "notion.db"),
                "--port",
                "0",
                "--token",
                TOKEN,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                return
        raise RuntimeError("the local server did not start")

    def stop(self) -> None:
        """Terminate the server and wait for it, so its port and file are free again."""
        self.proc.terminate()
        self.proc.communicate(timeout=30)


def target_for(url: str, rate: float | None) -> Any:
    """The deploy target for the local server at ``url``, paced at ``rate`` requests/s."""
    target = resolve_target(Settings(home=Path(), emulator_token=TOKEN), url)  # type: ignore[arg-type]
    return dataclasses.replace(target, rate=rate)


async def timed_plan(ws: Any, target: Any, home: Path) -> tuple[float, int, int]:
    """Seconds to plan ``ws`` against the state in ``home``, reads made, and calls planned."""
    state = StateFile(home, ws.workspace, ws.environment).load(target.label)
    async with NotionSession(target) as session:
        started = time.perf_counter()
        plan = await plan_workspace(ws, state, session, NotionAPI())
        return time.perf_counter() - started, plan.observe_reads, len(plan.steps)


async def baseline_reads(url: str, ids: list[str]) -> float:
    """Seconds for the plan's reads with a bare httpx client: observing without planning."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Notion-Version": "2025-09-03"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as client:
        await client.get(f"/v1/data_sources/{ids[0]}")
        started = time.perf_counter()
        for data_source_id in ids:
            (await client.get(f"/v1/data_sources/{data_source_id}")).raise_for_status()
        return time.perf_counter() - started


def plan_benchmark(work: Path, databases: int, properties: int, runs: int) -> dict[str, Any]:
    """Measure 1: median plan time from empty and after an apply, and the baseline reads."""
    log(f"plan: generating {databases} × {properties}")
    ws = desired_workspace(Spec.model_validate(generated_spec(databases, properties)), "default")
    server = Server(work)
    try:
        target = target_for(server.url, None)
        empty_home = work / "empty"
        from_empty = [asyncio.run(timed_plan(ws, target, empty_home)) for _ in range(runs)]
        home = work / "home"
        log("plan: applying the generated spec (setup)")
        started = time.perf_counter()
        report = asyncio.run(
            apply_workspace(ws, target, home, ApplyOptions(auto_approve=True, verify=False))
        )
        setup = time.perf_counter() - started
        steady = [asyncio.run(timed_plan(ws, target, home)) for _ in range(runs)]
        state = StateFile(home, ws.workspace, ws.environment).load(target.label)
        ids = [db.data_source_id for db in state.databases.values()]
        baseline = [asyncio.run(baseline_reads(server.url, ids)) for _ in range(runs)]
    finally:
        server.stop()
    return {
        "databases": databases,
        "properties": properties,
        "setup_apply_seconds": round(setup, 2),
        "setup_calls": report.calls_made,
        "steady_seconds": round(statistics.median(t for t, _, _ in steady), 3),
        "steady_reads": steady[0][1],
        "steady_steps": steady[0][2],
        "empty_seconds": round(statistics.median(t for t, _, _ in from_empty), 3),
        "empty_reads": from_empty[0][1],
        "empty_steps": from_empty[0][2],
        "baseline_reads_seconds": round(statistics.median(baseline), 3),
    }


def example_benchmark(work: Path, rate: float | None) -> dict[str, Any]:
    """Measures 2 and 3: apply examples/consulting (dev) from empty, at ``rate`` requests/s
    when given, and count its calls against the lower bound."""
    _, ws = load_workspace(EXAMPLE, "dev")
    bound = minimum_calls(ws)
    extra = ("--rate-limit", str(rate), "--rate-burst", str(int(rate))) if rate else ()
    server = Server(work, *extra)
    try:
        target = target_for(server.url, rate)
        home = work / "home"
        started = time.perf_counter()
        report = asyncio.run(
            apply_workspace(ws, target, home, ApplyOptions(auto_approve=True, verify=True))
        )
        wall = time.perf_counter() - started
    finally:
        server.stop()
    calls = report.observe_reads + report.calls_made + report.verify_reads
    return {
        "rate": rate,
        "wall_seconds": round(wall, 2),
        "observe_reads": report.observe_reads,
        "steps_planned": report.calls_planned,
        "steps_made": report.calls_made,
        "retries": report.retries,
        "verify_reads": report.verify_reads,
        "calls_total": calls,
        "verified": report.verified,
        "bound": dataclasses.asdict(bound) | {"writes": bound.writes, "total": bound.total},
    }


def render(results: dict[str, Any], command: str) -> str:
    """The deploy section of docs/benchmarks.md."""
    plan, calls, limited = results["plan"], results["calls"], results["rate_limited"]
    bound = calls["bound"]
    limit = 1.15 * limited["calls_total"] / 3
    run = (
        f"Run {stamp()} on {results['machine']['cpu']}, {results['machine']['cores']} cores, "
        f"Python {results['machine']['python']}, source {results['source']}."
    )
    lines = [
        *preamble("Benchmarks: the deploy engine", run, command),
        "| measure | devfactory | baseline / bound | target | result |",
        "| --- | ---: | ---: | --- | --- |",
        f"| plan, {plan['databases']} databases × {plan['properties']} properties, after apply ({plan['steady_reads']} reads) "
        f"| {plan['steady_seconds']:.2f} s | {plan['baseline_reads_seconds']:.2f} s (the same reads, bare httpx) | ≤ 2 s | {verdict(plan['steady_seconds'] <= 2)} |",
        f"| plan, same spec, from empty ({plan['empty_reads']} read, {plan['empty_steps']} calls planned) "
        f"| {plan['empty_seconds']:.2f} s | — | ≤ 2 s | {verdict(plan['empty_seconds'] <= 2)} |",
        f"| calls, examples/consulting (dev) from empty | {calls['observe_reads']} read + {calls['steps_made']} writes "
        f"| {bound['discovery_reads']} read + {bound['writes']} writes (lower bound) | equal | "
        f"{verdict(calls['steps_made'] == bound['writes'] and calls['observe_reads'] == bound['discovery_reads'])} |",
        f"| apply at 3 requests/s, examples/consulting (dev): wall time for {limited['calls_total']} calls "
        f"| {limited['wall_seconds']:.1f} s | {limited['calls_total'] / 3:.1f} s (calls / 3) | ≤ {limit:.1f} s (1.15 × calls / 3) | "
        f"{verdict(limited['wall_seconds'] <= limit)} |",
        "",
        "### Details",
        "",
        f"- Generated spec: {plan['databases']} databases, {plan['properties']} properties each (numbers, selects, multi-selects, "
        "formulas, eight plain types, a two-way relation to the previous database and a rollup over it). Setting it up "
        f"(apply from empty, no pacing) took {plan['setup_apply_seconds']} s for {plan['setup_calls']} calls.",
        f"- The steady-state plan reads the root page and every data source ({plan['steady_reads']} reads) and diffs "
        f"{plan['databases'] * plan['properties']} properties; it plans {plan['steady_steps']} calls (nothing to do).",
        f"- Lower bound for the example (docs/deploy.md, `devfactory.deploy.bound`): {bound['discovery_reads']} discovery read, "
        f"{bound['root_page']} root page, {bound['databases']} databases, {bound['schema_updates']} schema updates no creation "
        f"order avoids (all {bound['orders_tried']} orders tried), {bound['rows']} seed rows, {bound['row_links']} row links.",
        f"- Rate-limited apply: the server at `--rate-limit 3 --rate-burst 3`, devfactory pacing itself at 3/s; "
        f"{limited['observe_reads']} reads to observe, {limited['steps_made']} writes, {limited['verify_reads']} reads to verify, "
        f"{limited['retries']} retries; verified: {limited['verified']}.",
        "- Server and client run in separate processes; the server is `devfactory notion serve` on a SQLite file.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run the three measures and report; exit 0 (the targets are verdicts in the report)."""
    args = command_line(__doc__, "small sizes, no rate-limited run").parse_args()
    databases, properties, runs = (20, 10, 2) if args.quick else (200, 40, 5)
    work = Path(tempfile.mkdtemp(prefix="devfactory-deploy-bench-"))
    try:
        results: dict[str, Any] = {"machine": machine(), "source": source_state()}
        results["plan"] = plan_benchmark(work / "plan", databases, properties, runs)
        log(f"plan: {results['plan']['steady_seconds']} s")
        results["calls"] = example_benchmark(work / "calls", None)
        log(
            f"calls: {results['calls']['steps_made']} writes, bound {results['calls']['bound']['writes']}"
        )
        results["rate_limited"] = (
            results["calls"] if args.quick else example_benchmark(work / "limited", 3.0)
        )
        log(f"rate-limited: {results['rate_limited']['wall_seconds']} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = render(results, rerun("deploy.py", args.quick, "   # = make bench"))
    publish(report, results, section="deploy", write=args.write, json_path=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
