"""The benchmark runs end to end (small data); its numbers live in docs/benchmarks.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_quick_run(tmp_path: Path) -> None:
    """bench/emulator.py --quick starts both servers, loads them, and reports every measure."""
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "emulator.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert 0 == result.returncode, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(out.read_text())
    for side in ("devfactory", "baseline"):
        assert report[side]["create_rps"] > 0
        assert report[side]["retrieve_rps"] > 0
        assert report[side]["queries"]
