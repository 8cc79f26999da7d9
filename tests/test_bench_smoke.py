"""The benchmark runs end to end (small data); its numbers live in docs/benchmarks.md."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_bench(script: str, *args: str) -> None:
    """Run ``bench/<script>`` the way a user does; it must exit 0."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert 0 == result.returncode, result.stdout[-2000:] + result.stderr[-2000:]


def test_benchmark_quick_run(tmp_path: Path) -> None:
    """bench/emulator.py --quick starts both servers, loads them, and reports every measure."""
    out = tmp_path / "bench.json"
    run_bench("emulator.py", "--quick", "--json", str(out))
    report = json.loads(out.read_text())
    for side in ("devfactory", "baseline"):
        assert report[side]["create_rps"] > 0
        assert report[side]["retrieve_rps"] > 0
        assert report[side]["queries"]


def test_deploy_benchmark_quick_run(tmp_path: Path) -> None:
    """bench/deploy.py --quick plans a generated spec, applies the example and compares the
    calls it made with the lower bound; the markdown section it writes has every row."""
    out, doc = tmp_path / "deploy.json", tmp_path / "benchmarks.md"
    run_bench("deploy.py", "--quick", "--json", str(out), "--write", str(doc))
    report = json.loads(out.read_text())
    assert report["plan"]["steady_seconds"] > 0
    assert report["calls"]["steps_made"] == report["calls"]["bound"]["writes"] == 47
    text = doc.read_text()
    assert "<!-- deploy:start -->" in text and "<!-- deploy:end -->" in text
    assert 4 == text.count("| **PASS** |") + text.count("| **MISS** |")


def section(doc: Path, name: str) -> str:
    """The body of section ``name`` of a markdown file written by a bench script's --write."""
    text = doc.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    assert start in text and end in text, text[-2000:]
    return text.split(start, 1)[1].split(end, 1)[0]


def row_numbers(markdown: str, label: str) -> list[float]:
    """The numbers in the cells after the first of the one table row whose first cell starts
    with ``label`` (thousands separators dropped)."""
    rows = [line for line in markdown.splitlines() if line.startswith(f"| {label}")]
    assert 1 == len(rows), (label, markdown)
    cells = rows[0].split(" | ")[1:]
    return [
        float(n.replace(",", "")) for cell in cells for n in re.findall(r"\d[\d,]*\.?\d*", cell)
    ]


def test_log_cost_benchmark_quick_run(tmp_path: Path) -> None:
    """bench/log_cost.py --quick times the three pipelines; the JSON and the markdown section
    have every pipeline, with positive figures, and a verdict on the target."""
    out, doc = tmp_path / "log_cost.json", tmp_path / "benchmarks.md"
    run_bench("log_cost.py", "--quick", "--json", str(out), "--write", str(doc))
    report = json.loads(out.read_text())
    for pipeline in ("bare", "devfactory", "extra_sink"):
        assert report[pipeline]["call_us"] > 0
        assert report[pipeline]["filtered_us"] > 0
    assert report["ratio"] > 0 and report["calls"] > 0 and report["runs"] > 0
    assert json.loads(report["devfactory"]["sample"])["event"] == "tool call"
    text = section(doc, "logging")
    for label in ("a. bare structlog", "b. devfactory", "c. b + one more"):
        numbers = row_numbers(text, label)
        assert 3 == len(numbers) and all(n > 0 for n in numbers), (label, numbers)
    assert 1 == text.count("— **PASS**") + text.count("— **MISS**")
    assert "bench/log_cost.py --write docs/benchmarks.md --quick" in text


def test_gate_benchmark_quick_run(tmp_path: Path) -> None:
    """bench/gate.py --quick times the decision, Gate.check and the baseline and evaluates
    the labelled cases; the JSON and the markdown section have every row, with positive
    figures, and a verdict on the target."""
    out, doc = tmp_path / "gate.json", tmp_path / "benchmarks.md"
    run_bench("gate.py", "--quick", "--json", str(out), "--write", str(doc))
    report = json.loads(out.read_text())
    for measure in ("decide", "gate_check", "baseline"):
        assert report[measure]["n"] > 0
        assert 0 < report[measure]["p50_us"] <= report[measure]["p95_us"]
    assert report["eval"]["cases"] > 0 and report["eval"]["must_halt"] > 0
    text = section(doc, "gate")
    for label in ("`decide(call, policy)`", "`Gate.check`", "baseline: bare `fnmatch`"):
        numbers = row_numbers(text, label)
        assert len(numbers) >= 3 and all(n > 0 for n in numbers[:3]), (label, numbers)
    assert 1 == text.count("| **PASS** |") + text.count("| **MISS** |")
    assert f"Over the {report['eval']['cases']} labelled cases" in text


def test_gateway_benchmark_quick_run(tmp_path: Path) -> None:
    """bench/gateway.py --quick runs the three servers, measures both wires through the
    gateway and directly, and every answered call left exactly one audit line."""
    out, doc = tmp_path / "gateway.json", tmp_path / "benchmarks.md"
    run_bench("gateway.py", "--quick", "--json", str(out), "--write", str(doc))
    report = json.loads(out.read_text())
    for wire in ("http", "tcp"):
        assert report[wire]["direct_p50_ms"] > 0 and report[wire]["gateway_p50_ms"] > 0
        assert report[f"rps_{wire}"] > 0 and report[f"direct_rps_{wire}"] > 0
    assert report["calls_made"] == report["audit_lines"] > 0
    text = doc.read_text()
    assert "<!-- gateway:start -->" in text
    assert 5 == text.count("| **PASS** |") + text.count("| **MISS** |")
