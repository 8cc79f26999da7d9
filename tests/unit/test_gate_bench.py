"""bench/gate.py runs end to end and writes its benchmark section and the evaluation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gate_benchmark_quick_run(tmp_path: Path) -> None:
    """--quick times decisions and the baseline, writes the section and the eval block."""
    out, bench_doc, eval_doc = (
        tmp_path / "gate.json",
        tmp_path / "benchmarks.md",
        tmp_path / "gate.md",
    )
    eval_doc.write_text(
        "# Gate\n\n<!-- gate-eval:start -->\nold\n<!-- gate-eval:end -->\n\nafter\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gate.py"),
            "--quick",
            "--json",
            str(out),
            "--write",
            str(bench_doc),
            "--eval-doc",
            str(eval_doc),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert 0 == result.returncode, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["decide"]["n"] >= 10_000 and report["decide"]["p50_us"] > 0
    assert 1.0 == report["eval"]["recall"]
    assert "<!-- gate:start -->" in bench_doc.read_text()
    assert 1 == bench_doc.read_text().count("| **PASS** |") + bench_doc.read_text().count(
        "| **MISS** |"
    )
    text = eval_doc.read_text()
    assert "old" not in text and "recall on must-halt cases" in text and text.endswith("after\n")
