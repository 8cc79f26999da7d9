"""bench/web_sse.py runs end to end with a handful of clients; its real numbers (200
clients, 2,000 events) live in docs/benchmarks.md. Nothing here is timed: this catches a
benchmark that no longer runs against the current dashboard, not a slow one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_web_sse_benchmark_small_run(tmp_path: Path) -> None:
    """5 clients and 20 events: every phase reports, the readers got every event in order,
    and the section is written between its markers with a verdict on each target."""
    out, doc = tmp_path / "web_sse.json", tmp_path / "benchmarks.md"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "web_sse.py"), "--clients", "5", "--events",
         "20", "--no-browser", "--json", str(out), "--write", str(doc)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert 0 == run.returncode, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads(out.read_text())
    assert (5, 20) == (report["clients"], report["events"])
    assert {"read": 3, "slow": 1, "stalled": 1} == report["modes"]
    assert 20 == report["baseline"]["n"] and 3 * 20 == report["fanout"]["n"]
    assert report["baseline"]["p95_ms"] >= report["baseline"]["p50_ms"] > 0
    assert report["load_complete"] and 0 == report["reader_gaps"]
    assert 3 * 20 == report["received"]["read"]
    assert report["rss_mib"]["connected"] > 0
    text = doc.read_text()
    assert "<!-- web-sse:start -->" in text and "<!-- web-sse:end -->" in text
    assert "--clients 5 --events 20" in text
    assert 3 == text.count("| **PASS** |") + text.count("| **MISS** |")
