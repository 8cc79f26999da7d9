"""Benchmark the log store: ingest rate through BatchWriter, and search latency on a big store.

    python bench/logstore.py [--quick | --lines N] [--write docs/benchmarks.md] [--json out.json]

1. **Ingest**: realistic generated lines (several components, streams and levels, operation
   ids, page ids, tools, durations, error texts) emitted into a :class:`BatchWriter` in front
   of a fresh store, timed from the first ``emit`` until ``flush`` returns. Baseline in the
   same run: the same rows, a writer batch per transaction, into the same table and indexes but without
   full text (SQLite: plain ``executemany`` INSERTs; PostgreSQL: binary ``COPY``, as its
   store writes), so the difference is the cost of FTS (and of the writer thread). Target
   ≥ 20,000 lines/s.
2. **Search** over a store of ``--lines`` lines (default 1,000,000; logged over 30 days):
   p50/p95 of a mix of queries — a rare word, a common word + level filter + time range
   (newest 100), an operation-id lookup, a prefix query, a whole operation tree. The corpus
   is loaded through ``LogStore.write`` in 10,000-line transactions on both engines (so the
   full-text index is what normal writes build; PostgreSQL's ``write`` is a binary
   ``COPY``). Target p50 ≤ 50 ms for each query.

PostgreSQL runs too when ``DEVFACTORY_TEST_PG_URL`` (default
postgresql://postgres@127.0.0.1:5432/test) answers, in a schema of its own, reported
separately; otherwise its section says why it was skipped.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

# bench/ holds a logging.py: keep this script's directory off the path so the stdlib's wins.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from bench.sections import source_state, write_section  # noqa: E402
from devfactory.db import Database  # noqa: E402
from devfactory.obs.logstore import (  # noqa: E402
    _INDEXES,
    BatchWriter,
    LogQuery,
    LogStore,
    _row,
    open_store,
)

PG_URL = os.environ.get("DEVFACTORY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BATCH: int = inspect.signature(BatchWriter).parameters["batch_size"].default
"""Lines a transaction, in the store's writes and in the baselines alike."""
QUICK = 10_000  # lines ingested and searched by --quick
TARGET_INGEST = 20_000
TARGET_P50_MS = 50.0
DAYS = 30
RARE = ["zeppelin", "quokka", "marzipan", "obsidian", "tangerine"]
COMPONENTS = ["deploy", "gateway", "emulator", "gate", "executor", "notion.api", "backup"]
TOOLS = ["notion.search", "notion.create_page", "notion.update_page", "notion.delete", "fs.read"]
EVENTS = {
    "debug": ["request sent", "response received", "cache hit", "token refreshed"],
    "info": [
        "plan made",
        "page created",
        "database created",
        "tool call",
        "property updated",
        "apply finished",
        "verify passed",
    ],
    "warning": ["rate limited, retrying", "approval asked", "slow response", "retry scheduled"],
    "error": ["create failed", "tool call denied", "verify failed", "request timed out"],
}
ERRORS = [
    "duplicate title",
    "validation_error: body.properties is invalid",
    "conflict_error: the transaction could not be completed",
    "rate_limited after 3 attempts",
    "object_not_found: could not find page",
]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def generate(n: int, *, seed: int = 7, days: int = DAYS) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """``n`` realistic log lines, in time order over the last ``days`` days: operations of
    3 to 12 lines (a fifth of them children of another), levels 20% debug, 62% info, 12%
    warning, 6% error; one line in 100,000 carries a rare word."""
    rng = random.Random(seed)
    start = datetime.now(UTC).timestamp() - days * 86400
    step = days * 86400 / max(n, 1)
    made = 0
    parent: str | None = None
    while made < n:
        op = f"op-{rng.getrandbits(48):012x}"
        child_of = parent if parent and rng.random() < 0.2 else None
        component = rng.choice(COMPONENTS)
        trace = f"{rng.getrandbits(128):032x}"
        for _ in range(rng.randint(3, 12)):
            if made >= n:
                break
            roll = rng.random()
            level = (
                "debug"
                if roll < 0.2
                else "info"
                if roll < 0.82
                else "warning"
                if roll < 0.94
                else "error"
            )
            ts = start + made * step
            record: dict[str, Any] = {
                "timestamp": datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "level": level,
                "stream": "errors"
                if level == "error"
                else rng.choice(["operations", "operations", "audit", "gate", "performance"]),
                "component": component,
                "event": rng.choice(EVENTS[level]),
                "operation_id": op,
                "trace_id": trace,
                "span_id": f"{rng.getrandbits(64):016x}",
            }
            if child_of:
                record["parent_operation_id"] = child_of
            record["tool"] = rng.choice(TOOLS)
            record["page_id"] = str(uuid.UUID(int=rng.getrandbits(128)))
            record["duration_s"] = round(rng.expovariate(8), 4)
            if level == "error":
                record["error"] = rng.choice(ERRORS)
            if rng.random() < 0.00001:
                record["note"] = f"saw a {rng.choice(RARE)} in the output"
            yield orjson.dumps(record), record
            made += 1
        parent = op


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- ingest -----------------------------------------------------------------------------------


def ingest(url: str, lines: list[tuple[bytes, dict[str, Any]]]) -> dict[str, Any]:
    """Lines/s through BatchWriter into a fresh store (queue big enough to drop nothing)."""
    store = open_store(url)
    writer = BatchWriter(store, maxsize=len(lines) + 1)
    started = time.perf_counter()
    for line, record in lines:
        writer.emit(record["stream"], line, record)
    emitted = time.perf_counter() - started
    writer.flush()
    elapsed = time.perf_counter() - started
    writer.close()
    stored = store.count()
    store.close()
    return {
        "lines": len(lines),
        "stored": stored,
        "dropped": writer.dropped_total,
        "seconds": round(elapsed, 3),
        "lines_per_s": round(len(lines) / elapsed),
        "emit_us": round(emitted / len(lines) * 1e6, 2),
    }


def baseline_ingest(url: str, lines: list[tuple[bytes, dict[str, Any]]]) -> dict[str, Any]:
    """SQLite's baseline: the same rows with plain executemany, BATCH per transaction, into a
    table without FTS."""
    db = Database(url)
    db.script(
        """
        CREATE TABLE plain (id INTEGER PRIMARY KEY, ts REAL, level TEXT, stream TEXT,
            component TEXT, operation_id TEXT, parent_operation_id TEXT, trace_id TEXT,
            event TEXT, body TEXT);
        CREATE INDEX plain_ts ON plain (ts);
        CREATE INDEX plain_stream_ts ON plain (stream, ts);
        CREATE INDEX plain_level_ts ON plain (level, ts);
        CREATE INDEX plain_operation ON plain (operation_id);
        """
    )
    started = time.perf_counter()
    for i in range(0, len(lines), BATCH):
        rows = [_row(line, record) for line, record in lines[i : i + BATCH]]
        with db.transaction():
            db.executemany(
                "INSERT INTO plain (ts, level, stream, component, operation_id, "
                "parent_operation_id, trace_id, event, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
    elapsed = time.perf_counter() - started
    db.close()
    return {
        "seconds": round(elapsed, 3),
        "lines_per_s": round(len(lines) / elapsed),
        "what": "plain INSERT, no FTS",
    }


def baseline_copy(url: str, lines: list[tuple[bytes, dict[str, Any]]]) -> dict[str, Any]:
    """PostgreSQL's baseline: the same rows by binary COPY, BATCH per transaction (as
    ``PostgresLogStore.write`` sends them), into the same table and indexes without the
    tsvector column and its GIN index: the difference is what full text costs."""
    db = Database(url)
    db.script(
        f"""
        CREATE TABLE logs (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            ts DOUBLE PRECISION NOT NULL, level TEXT NOT NULL, stream TEXT NOT NULL,
            component TEXT, operation_id TEXT, parent_operation_id TEXT, trace_id TEXT,
            event TEXT NOT NULL, body TEXT NOT NULL);
        {_INDEXES}
        """
    )
    columns = (
        "ts, level, stream, component, operation_id, parent_operation_id, trace_id, event, body"
    )
    started = time.perf_counter()
    for i in range(0, len(lines), BATCH):
        rows = [_row(line, record) for line, record in lines[i : i + BATCH]]
        with (
            db.transaction(),
            db._pg.cursor() as cur,
            cur.copy(f"COPY logs ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(["float8"] + ["text"] * 8)
            for row in rows:
                copy.write_row(row)
    elapsed = time.perf_counter() - started
    db.close()
    return {
        "seconds": round(elapsed, 3),
        "lines_per_s": round(len(lines) / elapsed),
        "what": "COPY, no tsvector or GIN",
    }


# --- corpus and search ------------------------------------------------------------------------


def load(store: LogStore, n: int) -> float:
    """Fill ``store`` with ``n`` generated lines through ``LogStore.write`` in 10,000-line
    transactions (so the full-text index, and on PostgreSQL the id buckets, are what normal
    writes build); the seconds it took."""
    started = time.perf_counter()
    chunk: list[tuple[bytes, dict[str, Any]]] = []
    done = 0
    for item in generate(n):
        chunk.append(item)
        if len(chunk) == 10_000:
            store.write(chunk)
            done += len(chunk)
            chunk = []
            if done % 100_000 == 0:
                log(f"  loaded {done:,} lines")
    store.write(chunk)
    if store.db.dialect == "sqlite":
        store.db.execute("PRAGMA optimize")
    else:
        store.db.execute("ANALYZE logs")
    return time.perf_counter() - started


def queries(store: LogStore, rng: random.Random) -> dict[str, Callable[[], Any]]:
    """The query mix; each call picks fresh parameters."""
    now = datetime.now(UTC)
    ops = [r["operation_id"] for r in store.search(LogQuery(limit=2000))]
    ops += [r["operation_id"] for r in store.tail(0, limit=2000)]
    parents = [
        r["parent_operation_id"]
        for r in store.search(LogQuery(limit=5000))
        if "parent_operation_id" in r
    ]

    def window() -> tuple[datetime, datetime]:
        end = now - timedelta(days=rng.uniform(0, 20))
        return end - timedelta(days=7), end

    def common() -> Any:
        since, until = window()
        word = rng.choice(["notion", "page", "created", "retrying", "failed"])
        return store.search(LogQuery(text=word, level="warning", since=since, until=until))

    return {
        "rare word": lambda: store.search(LogQuery(text=rng.choice(RARE))),
        "common word + level ≥ warning + 7-day range, newest 100": common,
        "operation id lookup": lambda: store.search(LogQuery(operation_id=rng.choice(ops))),
        "prefix query (`dupl*`, `conflic*`, …)": lambda: store.search(
            LogQuery(text=rng.choice(["dupl*", "conflic*", "timed*", "approv*", "valid*"]))
        ),
        "operation tree (parent + children)": lambda: store.operation_tree(rng.choice(parents)),
    }


def search_latency(store: LogStore, runs: int) -> dict[str, Any]:
    rng = random.Random(11)
    results: dict[str, Any] = {}
    for name, run in queries(store, rng).items():
        run()  # warm the cache
        times, sizes = [], []
        for _ in range(runs):
            started = time.perf_counter()
            found = run()
            times.append((time.perf_counter() - started) * 1000)
            sizes.append(len(found))
        results[name] = {
            "p50_ms": round(percentile(times, 0.5), 3),
            "p95_ms": round(percentile(times, 0.95), 3),
            "rows_median": statistics.median(sizes),
        }
    return results


def engine_run(
    name: str, url_for: Callable[[str], str], corpus: int, ingest_n: int, runs: int
) -> dict[str, Any]:
    log(f"{name}: generating {ingest_n:,} lines for ingest")
    lines = list(generate(ingest_n, seed=3))
    log(f"{name}: ingest through BatchWriter")
    result: dict[str, Any] = {"ingest": ingest(url_for("ingest"), lines)}
    log(f"{name}: {result['ingest']['lines_per_s']:,} lines/s")
    baseline = baseline_ingest if name == "SQLite" else baseline_copy
    result["baseline"] = baseline(url_for("baseline"), lines)
    log(f"{name}: baseline {result['baseline']['lines_per_s']:,} lines/s")
    del lines
    store = open_store(url_for("corpus"))
    try:
        log(f"{name}: loading a corpus of {corpus:,} lines")
        result["corpus"] = {"lines": corpus, "load_seconds": round(load(store, corpus), 1)}
        result["corpus"]["lines"] = store.count()
        log(f"{name}: corpus loaded in {result['corpus']['load_seconds']} s; searching")
        result["search"] = search_latency(store, runs)
    finally:
        store.close()
    return result


def sqlite_run(work: Path, corpus: int, ingest_n: int, runs: int) -> dict[str, Any]:
    result = engine_run(
        "SQLite", lambda part: f"sqlite:///{work / (part + '.db')}", corpus, ingest_n, runs
    )
    result["corpus"]["file_mb"] = round((work / "corpus.db").stat().st_size / 1e6)
    return result


def postgres_run(corpus: int, ingest_n: int, runs: int) -> dict[str, Any]:
    try:
        import psycopg

        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:  # any failure to reach it is a reason to skip
        return {"skipped": f"PostgreSQL at {PG_URL} is not reachable ({type(exc).__name__}: {exc})"}
    schemas: list[str] = []

    def url_for(part: str) -> str:
        schema = f"bench_{part}_{uuid.uuid4().hex[:8]}"
        admin.execute(f"CREATE SCHEMA {schema}")
        schemas.append(schema)
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"

    try:
        version = admin.execute("SHOW server_version").fetchone()
        result = engine_run("PostgreSQL", url_for, corpus, ingest_n, runs)
        result["version"] = version[0] if version else "?"
        return result
    finally:
        for schema in schemas:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlite3

    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def ok(cond: bool) -> str:
    return "**PASS**" if cond else "**MISS**"


def engine_tables(name: str, r: dict[str, Any]) -> list[str]:
    if "skipped" in r:
        return [f"### {name}", "", f"Skipped: {r['skipped']}.", ""]
    ing = r["ingest"]
    lines = [f"### {name}" + (f" {r['version']}" if "version" in r else ""), ""]
    lines += [
        "| measure | result | baseline | target | verdict |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    base = r.get("baseline")
    lines.append(
        f"| ingest through BatchWriter ({ing['lines']:,} lines, batches of {BATCH:,}) "
        f"| {ing['lines_per_s']:,} lines/s | "
        + (f"{base['lines_per_s']:,} lines/s ({base.get('what', 'no FTS')})" if base else "—")
        + f" | ≥ {TARGET_INGEST:,} lines/s | {ok(ing['lines_per_s'] >= TARGET_INGEST)} |"
    )
    corpus = r["corpus"]["lines"]
    for query, s in r["search"].items():
        lines.append(
            f"| search over {corpus:,} lines: {query} — p50 / p95 "
            f"| {s['p50_ms']:.1f} / {s['p95_ms']:.1f} ms | — | p50 ≤ {TARGET_P50_MS:.0f} ms "
            f"| {ok(s['p50_ms'] <= TARGET_P50_MS)} |"
        )
    lines += [
        "",
        f"- Ingest: {ing['stored']:,} stored, {ing['dropped']} dropped, emit() {ing['emit_us']} µs a line "
        f"on the caller's thread, {ing['seconds']} s from first emit to flush.",
        f"- Corpus: {corpus:,} lines over {DAYS} days, loaded in {r['corpus']['load_seconds']} s"
        + (f", file {r['corpus']['file_mb']} MB" if "file_mb" in r["corpus"] else "")
        + ". Median rows returned: "
        + ", ".join(f"{q.split(' (')[0]} {s['rows_median']:g}" for q, s in r["search"].items())
        + ".",
        "",
    ]
    return lines


def render(results: dict[str, Any], command: str) -> str:
    m = results["machine"]
    lines = [
        "# Log store",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {m['cpu']}, {m['cores']} cores, "
        f"Python {m['python']}, SQLite {m['sqlite']}, source {results['source']}.",
        "",
        "## Reproduce",
        "",
        "```sh",
        command,
        "```",
        "",
        "## Results",
        "",
        *engine_tables("SQLite (FTS5)", results["sqlite"]),
        *engine_tables("PostgreSQL (tsvector + GIN)", results["postgresql"]),
        "## Method",
        "",
        "- Lines are generated like devfactory's: operations of 3–12 lines (a fifth nested in another), "
        "levels 20% debug / 62% info / 12% warning / 6% error, tool, page id, duration, error text; "
        "one line in 100,000 holds a rare word. About 400 bytes a line.",
        "- Ingest: the lines are made first, then emitted into a BatchWriter (queue large enough that "
        "nothing drops) and timed until flush() returns. The SQLite baseline writes the same rows "
        f"with plain executemany INSERTs, {BATCH:,} a transaction (BatchWriter's batch), into the "
        "same table and indexes without the full-text index; the PostgreSQL one by binary COPY, "
        f"{BATCH:,} a transaction (as the store writes), into the same table and indexes "
        "without the tsvector column and GIN index.",
        "- Corpus: through LogStore.write in 10,000-line transactions on both engines, so the "
        "full-text index is the one normal writes build (SQLite: the FTS triggers run; PostgreSQL: "
        "a binary COPY, the generated tsvector and the GIN index maintained as on insert), then "
        "`PRAGMA optimize` / `ANALYZE`.",
        "- PostgreSQL text search: the newest 10,000 ids of the range first (a common word stops "
        "after a few hundred lines), then, only if that found too few, the GIN matches among the "
        "older ids sorted by id; a time range becomes an id range first (docs/log-search.md).",
        f"- Search: each query {results['runs']} times after one warm-up run, fresh parameters each "
        "time (which rare word, which operation, which 7-day window).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=1_000_000, help="corpus size for search")
    parser.add_argument(
        "--quick", action="store_true", help="10,000 lines, 10 runs a query (a smoke run)"
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--write", type=Path, help="write the report section into this file")
    parser.add_argument("--json", type=Path, help="write the numbers as JSON")
    args = parser.parse_args()
    corpus = QUICK if args.quick else args.lines
    ingest_n = QUICK if args.quick else 200_000
    runs = 10 if args.quick else 40
    work = Path(tempfile.mkdtemp(prefix="devfactory-logstore-bench-"))
    try:
        results: dict[str, Any] = {"machine": machine(), "source": source_state(), "runs": runs}
        results["sqlite"] = sqlite_run(work, corpus, ingest_n, runs)
        results["postgresql"] = (
            {"skipped": "--no-postgres"}
            if args.no_postgres
            else postgres_run(corpus, ingest_n, runs)
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = ".venv/bin/python bench/logstore.py --write docs/benchmarks.md" + (
        " --quick" if args.quick else f" --lines {corpus}" if corpus != 1_000_000 else ""
    )
    report = render(results, command)
    if args.write:
        write_section(args.write, "logstore", report)
        log(f"wrote {args.write}")
    else:
        print(report)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
