"""Running a benchmark script: the options every script takes, progress on stderr, the
machine it ran on, percentiles of timed samples, a PASS/MISS verdict, and where the report
goes (its section of a markdown file or stdout, and the numbers as JSON). One copy here keeps
the scripts' command lines and reports alike."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.sections import write_section


def command_line(doc: str | None, quick: str) -> argparse.ArgumentParser:
    """A parser described by the first line of ``doc`` with the options of every bench
    script: ``--quick`` (``quick`` says what it shrinks), ``--write`` and ``--json``. A script
    adds its own options to it."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument(
        "--write",
        type=Path,
        metavar="PATH",
        help="write the report section into this markdown file",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the numbers as JSON")
    return parser


def rerun(script: str, quick: bool = False, note: str = "") -> str:
    """The command that regenerates the section of ``bench/<script>`` in docs/benchmarks.md;
    ``--quick`` stays in it so that a smoke run's section does not pass for a full one."""
    command = f".venv/bin/python bench/{script} --write docs/benchmarks.md"
    return command + (" --quick" if quick else "") + note


def log(message: str) -> None:
    """A progress line on stderr, so stdout holds only the report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ('unknown' where there is none)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def machine() -> dict[str, str]:
    """What a figure depends on beyond the code: CPU, core count, Python and OS."""
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 to 1) of ``values``, by rank: the value below which a fraction
    ``q`` of them lie (no interpolation, so it is always a measured value)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def verdict(passed: bool) -> str:
    """The result cell of a row with a target."""
    return "**PASS**" if passed else "**MISS**"


def publish(
    report: str, numbers: Any, *, section: str, write: Path | None, json_path: Path | None
) -> None:
    """Put a finished run where its command line asked: the markdown ``report`` as the
    section ``section`` of ``write`` (else on stdout), and ``numbers`` as JSON in
    ``json_path`` when given."""
    if write:
        write_section(write, section, report)
        log(f"wrote {write}")
    else:
        print(report)
    if json_path:
        json_path.write_text(json.dumps(numbers, indent=2))
