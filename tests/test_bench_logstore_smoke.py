"""bench/logstore.py runs end to end on small data; its real numbers live in docs/benchmarks.md.

The quick run stores 10,000 lines per engine (SQLite always, PostgreSQL when it answers), so
this catches a benchmark that no longer runs against the current log store, not a slow one:
nothing here is timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

QUERIES = 5  # rare word, common word + filters, operation id, prefix, operation tree


def check_engine(result: dict[str, Any]) -> None:
    """An engine's report: every line stored, positive rates, a latency for every query."""
    ingest = result["ingest"]
    assert ingest["stored"] == ingest["lines"] > 0
    assert 0 == ingest["dropped"]
    assert ingest["lines_per_s"] > 0
    assert result["baseline"]["lines_per_s"] > 0
    assert result["corpus"]["lines"] > 0
    assert QUERIES == len(result["search"])
    for name, latency in result["search"].items():
        assert latency["p50_ms"] > 0, name
        assert latency["p95_ms"] >= latency["p50_ms"], name


def test_logstore_benchmark_quick_run(tmp_path: Path) -> None:
    """``bench/logstore.py --quick`` exits 0, reports ingest and search for SQLite (and for
    PostgreSQL, unless it is unreachable and not required), and writes its section between
    its markers."""
    out, doc = tmp_path / "logstore.json", tmp_path / "benchmarks.md"
    script = str(ROOT / "bench" / "logstore.py")
    run = subprocess.run(
        [sys.executable, script, "--quick", "--json", str(out), "--write", str(doc)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert 0 == run.returncode, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads(out.read_text())
    check_engine(report["sqlite"])
    postgres = report["postgresql"]
    if "skipped" in postgres:
        assert os.environ.get("DEVFACTORY_REQUIRE_SERVICES") != "1", postgres["skipped"]
    else:
        check_engine(postgres)
    text = doc.read_text()
    assert "<!-- logstore:start -->" in text and "<!-- logstore:end -->" in text
    tables = 2 if "skipped" not in postgres else 1
    assert tables * (1 + QUERIES) == text.count("| **PASS** |") + text.count("| **MISS** |")
