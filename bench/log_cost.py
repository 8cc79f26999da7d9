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

# Run as a script from anywhere: the repository root replaces bench/ on the path before
# anything imports ``logging``, so the package ``bench`` imports and no module in bench/ can
# shadow the standard library.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import structlog

from bench.harness import command_line, log, publish, rerun, verdict
from bench.sections import preamble, source_state, stamp
from devfactory.obs import log as dflog
from devfactory.obs import redact

TARGET = 1.5


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
    """Pipeline a: structlog in its documented fast configuration, the bar to measure against."""
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
    """Pipelines b and c: devfactory's logging as production runs it (operation, redaction,
    FileSink under ``work``), with one more no-op sink when ``extra_sink``."""
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
    """The logging section of docs/benchmarks.md."""
    bare, ours, extra = results["bare"], results["devfactory"], results["extra_sink"]
    ratio = ours["call_us"] / bare["call_us"]
    run = (
        f"Run {stamp()}, Python {sys.version.split()[0]}, structlog {structlog.__version__}, "
        f"orjson {orjson.__version__}, source {results['source']}; {results['calls']:,} calls, "
        f"best of {results['runs']} runs."
    )
    lines = [
        *preamble("Log call cost", run, command),
        "| pipeline | µs per call | µs per filtered call | ratio to bare structlog |",
        "| --- | ---: | ---: | ---: |",
        f"| a. bare structlog (orjson, BytesLogger to /dev/null, op id via contextvars) "
        f"| {bare['call_us']:.2f} | {bare['filtered_us']:.2f} | 1.00 |",
        f"| b. devfactory: operation ids + trace ids, redaction, counter, FileSink "
        f"| {ours['call_us']:.2f} | {ours['filtered_us']:.2f} | {ratio:.2f} |",
        f"| c. b + one more (no-op) sink | {extra['call_us']:.2f} | {extra['filtered_us']:.2f} "
        f"| {extra['call_us'] / bare['call_us']:.2f} |",
        "",
        f"Target: b / a ≤ {TARGET} — {verdict(ratio <= TARGET)} ({ratio:.2f}).",
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
    """Time the three pipelines and report; exit 0 (the target is a verdict in the report)."""
    args = command_line(__doc__, "5,000 calls, one run").parse_args()
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
    report = render(results, rerun("log_cost.py", args.quick))
    publish(report, results, section="logging", write=args.write, json_path=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
