"""The benchmark runs end to end (small data); its numbers live in docs/benchmarks.md."""

from __future__ import annotations

import json
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
