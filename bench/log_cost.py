"""Benchmark the cost of one log call: devfactory's pipeline against bare structlog.

    python bench/log_cost.py [--quick] [--write docs/benchmarks.md] [--json out.json]

Each measure makes 50,000 calls of ``log.info("tool call", tool=..., target=...)`` with an
operation id in the context and reports the best of 5 runs, in µs per call:

a. **bare structlog**, the documented fast configuration: ``make_filtering_bound_logger``,
   ``merge_contextvars``, ``add_log_level``, ``TimeStamper(fmt="iso", utc=True)``,
   ``JSONRenderer(serializer=orjson.dumps)``, ``BytesLogger`` to the null device, the
   operation id bound with ``bind_contextvars``;
b. **devfactory**, ``devfactory.obs.log`` inside an ``operation()`` with the production
   :class:`FileSink` (a temporary directory) and redaction on (a registered secret too);
c. b plus an extra no-op sink (the seam the log store plugs into).

Target: b / a ≤ 1.5. Also reported: a call filtered out by level.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the stdlib module: drop its directory from the path before
# anything imports ``logging``.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))  # run as a script from anywhere

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Mapping  # noqa: E402
from typing import Any  # noqa: E402

import orjson  # noqa: E402
import structlog  # noqa: E402

from bench.sections import source_state, write_section  # noqa: E402
from devfactory.obs import log as dflog  # noqa: E402
from devfactory.obs import redact  # noqa: E402

TARGET = 1.5


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class NullSink:
    """A sink that does nothing: the cost of one more sink in the fan-out."""

    def emit(self, stream: str, line: bytes, record: Mapping[str, Any]) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def best_of(runs: int, calls: int, call: Callable[[], None], after: Callable[[], None]) -> float:
    """Best µs per call over ``runs`` runs of ``calls`` calls (``after`` is inside the timing)."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        after()
        best = min(best, time.perf_counter() - started)
    return best / calls * 1e6


def bare_structlog(runs: int, calls: int) -> dict[str, float]:
    with open(os.devnull, "wb") as devnull:  # noqa: PTH123 - a binary file object for BytesLogger
        logger = structlog.wrap_logger(
            structlog.BytesLogger(devnull),
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(serializer=orjson.dumps),
            ],
            wrapper_class=structlog.make_filtering_bound_logger("info"),
        )
        tokens = structlog.contextvars.bind_contextvars(operation_id="op_0123456789abcdef")
        try:

            def call() -> None:
                logger.info("tool call", tool="notion.pages.create", target="page 1234")

            def debug() -> None:
                logger.debug("tool call", tool="notion.pages.create", target="page 1234")

            return {
                "call_us": best_of(runs, calls, call, devnull.flush),
                "filtered_us": best_of(runs, calls, debug, lambda: None),
            }
        finally:
            structlog.contextvars.reset_contextvars(**tokens)


def devfactory(runs: int, calls: int, work: Path, extra_sink: bool) -> dict[str, float]:
    file_sink = dflog.FileSink(work / "logs")
    sinks = (file_sink, NullSink()) if extra_sink else (file_sink,)
    redact.register_secret("ntn_bench_secret_0123456789")
    dflog.configure(logs_dir=None, level="info", sinks=sinks)
    logger = dflog.get_logger("bench")
    try:
        with dflog.operation("bench.run"):

            def call() -> None:
                logger.info("tool call", tool="notion.pages.create", target="page 1234")

            def debug() -> None:
                logger.debug("tool call", tool="notion.pages.create", target="page 1234")

            flush = file_sink.flush
            result = {
                "call_us": best_of(runs, calls, call, flush),
                "filtered_us": best_of(runs, calls, debug, lambda: None),
            }
        sample = (work / "logs" / "operations.jsonl").read_bytes().splitlines()[-2]
        result["sample"] = sample.decode()  # type: ignore[assignment]
        return result
    finally:
        dflog.shutdown()
        redact.reset()


def render(results: dict[str, Any], command: str) -> str:
    bare, ours, extra = results["bare"], results["devfactory"], results["extra_sink"]
    ratio = ours["call_us"] / bare["call_us"]
    verdict = "**PASS**" if ratio <= TARGET else "**MISS**"
    lines = [
        "# Log call cost",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python "
        f"{sys.version.split()[0]}, structlog {structlog.__version__}, orjson {orjson.__version__}, "
        f"source {results['source']}; {results['calls']:,} calls, best of {results['runs']} runs.",
        "",
        "## Reproduce",
        "",
        "```sh",
        command,
        "```",
        "",
        "## Results",
        "",
        "| pipeline | µs per call | µs per filtered call | ratio to bare structlog |",
        "| --- | ---: | ---: | ---: |",
        f"| a. bare structlog (orjson, BytesLogger to /dev/null, op id via contextvars) "
        f"| {bare['call_us']:.2f} | {bare['filtered_us']:.2f} | 1.00 |",
        f"| b. devfactory: operation ids + trace ids, redaction, counter, FileSink "
        f"| {ours['call_us']:.2f} | {ours['filtered_us']:.2f} | {ratio:.2f} |",
        f"| c. b + one more (no-op) sink | {extra['call_us']:.2f} | {extra['filtered_us']:.2f} "
        f"| {extra['call_us'] / bare['call_us']:.2f} |",
        "",
        f"Target: b / a ≤ {TARGET} — {verdict} ({ratio:.2f}).",
        "",
        'The call: `log.info("tool call", tool="notion.pages.create", target="page 1234")`. '
        "A devfactory line as written:",
        "",
        "```json",
        ours["sample"],
        "```",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="5,000 calls, one run")
    parser.add_argument(
        "--write", type=Path, help="write the report section into this markdown file"
    )
    parser.add_argument("--json", type=Path, help="write the numbers as JSON")
    args = parser.parse_args()
    calls, runs = (5_000, 1) if args.quick else (50_000, 5)
    work = Path(tempfile.mkdtemp(prefix="devfactory-log-bench-"))
    try:
        results: dict[str, Any] = {"source": source_state(), "calls": calls, "runs": runs}
        results["bare"] = bare_structlog(runs, calls)
        log(f"bare structlog: {results['bare']['call_us']:.2f} µs")
        results["devfactory"] = devfactory(runs, calls, work / "b", extra_sink=False)
        log(f"devfactory: {results['devfactory']['call_us']:.2f} µs")
        results["extra_sink"] = devfactory(runs, calls, work / "c", extra_sink=True)
        log(f"devfactory + no-op sink: {results['extra_sink']['call_us']:.2f} µs")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["ratio"] = results["devfactory"]["call_us"] / results["bare"]["call_us"]
    results["target"] = TARGET
    command = ".venv/bin/python bench/log_cost.py --write docs/benchmarks.md"
    report = render(results, command)
    if args.write:
        write_section(args.write, "logging", report)
        log(f"wrote {args.write}")
    else:
        print(report)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
