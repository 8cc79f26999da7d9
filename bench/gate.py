"""Benchmark and evaluate the confidence gate on the labelled cases.

    python bench/gate.py [--quick] [--write docs/benchmarks.md] [--json out.json]
    python bench/gate.py --eval-doc docs/gate.md

1. **Decision time**: ``decide(call, policy)`` over every case of tests/data/gate_cases.yaml
   against examples/policy.yaml, repeated to at least 100,000 decisions; p50 and p95 in
   microseconds. Baseline in the same run: a bare ``fnmatch`` of the tool name over every glob
   of every rule (the naive matcher, no signals, no arguments). Target p50 ≤ 50 µs.
2. **Evaluation**: recall on the must-halt cases, false-halt rate on the allow-labelled
   cases, accuracy, and the confusion matrix by category. ``--eval-doc`` writes it between
   the ``<!-- gate-eval:start -->`` / ``<!-- gate-eval:end -->`` markers of a markdown file.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import platform
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

# Run as a script from anywhere: the repository root replaces bench/ on the path, so the
# package ``bench`` imports and no module in bench/ can shadow the standard library.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.sections import source_state, write_section
from devfactory.gate.decide import Gate, decide
from devfactory.gate.policy import Policy, ToolCall, load_policy
from devfactory.gate.signals import BUILTIN_SIGNALS

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "data" / "gate_cases.yaml"
POLICY = ROOT / "examples" / "policy.yaml"
TARGET_P50_US = 50.0


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "python": platform.python_version()}


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load(CASES.read_text())["cases"]
    return cases


def percentiles(samples: list[int]) -> dict[str, float]:
    samples.sort()
    n = len(samples)
    return {
        "p50_us": samples[n // 2] / 1000,
        "p95_us": samples[int(n * 0.95)] / 1000,
        "mean_us": statistics.fmean(samples) / 1000,
        "n": n,
    }


def time_decisions(calls: list[ToolCall], policy: Policy, total: int) -> dict[str, float]:
    clock = time.perf_counter_ns
    samples: list[int] = []
    rounds = max(1, -(-total // len(calls)))
    for _ in range(rounds):
        for call in calls:
            start = clock()
            decide(call, policy)
            samples.append(clock() - start)
    return percentiles(samples)


def time_gate_check(calls: list[ToolCall], policy: Policy, total: int) -> dict[str, float]:
    gate = Gate(policy, signals=BUILTIN_SIGNALS)  # no store, logs unconfigured
    clock = time.perf_counter_ns
    samples: list[int] = []
    for _ in range(max(1, -(-total // len(calls)))):
        for call in calls:
            start = clock()
            gate.check(call)
            samples.append(clock() - start)
    return percentiles(samples)


def time_baseline(calls: list[ToolCall], policy: Policy, total: int) -> dict[str, float]:
    """The naive matcher: fnmatch every glob of every rule against the tool name."""
    globs = [(rule, pattern) for rule in policy.rules for pattern in rule.tools]
    clock = time.perf_counter_ns
    samples: list[int] = []
    for _ in range(max(1, -(-total // len(calls)))):
        for call in calls:
            start = clock()
            matched = [rule for rule, pattern in globs if fnmatch.fnmatchcase(call.tool, pattern)]
            _ = matched
            samples.append(clock() - start)
    return percentiles(samples)


def evaluate(cases: list[dict[str, Any]], policy: Policy) -> dict[str, Any]:
    matrix: dict[str, Counter[str]] = defaultdict(Counter)
    misses: list[dict[str, str]] = []
    must = stopped = allowed = false_halts = correct = 0
    for case in cases:
        got = decide(ToolCall.from_dict(case["call"]), policy).decision
        matrix[case["category"]][f"{case['expect']}->{got}"] += 1
        correct += got == case["expect"]
        if case["must_halt"]:
            must += 1
            stopped += got in ("halt", "deny")
        if case["expect"] == "allow":
            allowed += 1
            false_halts += got != "allow"
        if got != case["expect"]:
            misses.append(
                {
                    "id": case["id"],
                    "expect": case["expect"],
                    "got": got,
                    "description": case["description"],
                }
            )
    return {
        "cases": len(cases),
        "must_halt": must,
        "recall": stopped / must if must else 1.0,
        "allow_labelled": allowed,
        "false_halts": false_halts,
        "false_halt_rate": false_halts / allowed if allowed else 0.0,
        "accuracy": correct / len(cases),
        "matrix": {k: dict(v) for k, v in sorted(matrix.items())},
        "misses": misses,
    }


def render_eval(ev: dict[str, Any]) -> str:
    lines = [
        f"{ev['cases']} labelled cases (`tests/data/gate_cases.yaml`) against `examples/policy.yaml`; "
        f"regenerate with `.venv/bin/python bench/gate.py --eval-doc docs/gate.md`.",
        "",
        "| measure | value | target |",
        "| --- | ---: | --- |",
        f"| recall on must-halt cases ({ev['must_halt']}) | {ev['recall']:.1%} | 100% |",
        f"| false-halt rate on allow-labelled cases ({ev['allow_labelled']}) | {ev['false_halt_rate']:.1%} "
        f"({ev['false_halts']}) | ≤ 10% |",
        f"| accuracy (decision = label) | {ev['accuracy']:.1%} | — |",
        "",
        "Confusion by category (`label->decision`: count):",
        "",
        "| category | cases | outcomes |",
        "| --- | ---: | --- |",
    ]
    for category, cells in ev["matrix"].items():
        outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(cells.items()))
        lines.append(f"| {category} | {sum(cells.values())} | {outcomes} |")
    if ev["misses"]:
        lines += ["", "Cases where the gate disagrees with the label:", ""]
        lines += [
            f"- `{m['id']}` ({m['expect']} → {m['got']}): {m['description']}" for m in ev["misses"]
        ]
    return "\n".join(lines) + "\n"


def render(results: dict[str, Any], command: str) -> str:
    d, g, b, ev = results["decide"], results["gate_check"], results["baseline"], results["eval"]
    ok = "**PASS**" if d["p50_us"] <= TARGET_P50_US else "**MISS**"
    lines = [
        "# Gate decision",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {results['machine']['cpu']}, "
        f"Python {results['machine']['python']}, source {results['source']}.",
        "",
        "## Reproduce",
        "",
        "```sh",
        command,
        "```",
        "",
        "## Results",
        "",
        "| measure | p50 | p95 | decisions | target | result |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        f"| `decide(call, policy)`: policy + 8 signals + table | {d['p50_us']:.1f} µs | {d['p95_us']:.1f} µs | "
        f"{d['n']:,} | p50 ≤ {TARGET_P50_US:g} µs | {ok} |",
        f"| `Gate.check` (no store, logs off; adds metrics + log call) | {g['p50_us']:.1f} µs | {g['p95_us']:.1f} µs | "
        f"{g['n']:,} | — | — |",
        f"| baseline: bare `fnmatch` of the tool over every rule glob | {b['p50_us']:.1f} µs | {b['p95_us']:.1f} µs | "
        f"{b['n']:,} | — | — |",
        "",
        f"Over the {ev['cases']} labelled cases: recall on must-halt {ev['recall']:.1%}, false-halt rate "
        f"{ev['false_halt_rate']:.1%}, accuracy {ev['accuracy']:.1%} (details in docs/gate.md).",
    ]
    return "\n".join(lines) + "\n"


def write_eval_doc(path: Path, markdown: str) -> None:
    start, end = "<!-- gate-eval:start -->", "<!-- gate-eval:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = path.read_text() if path.exists() else ""
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n## Evaluation\n\n" + block + "\n"
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10,000 decisions instead of 100,000")
    parser.add_argument(
        "--write", type=Path, help="write the report section into this markdown file"
    )
    parser.add_argument("--json", type=Path, help="write the numbers as JSON")
    parser.add_argument(
        "--eval-doc", type=Path, help="write the evaluation into this markdown file"
    )
    args = parser.parse_args()
    cases = load_cases()
    policy = load_policy(POLICY)
    ev = evaluate(cases, policy)
    if args.eval_doc:
        write_eval_doc(args.eval_doc, render_eval(ev))
        print(f"[bench] wrote the evaluation to {args.eval_doc}", file=sys.stderr)
        if not (args.write or args.json):
            return 0
    calls = [ToolCall.from_dict(c["call"]) for c in cases]
    total = 10_000 if args.quick else 100_000
    for call in calls:  # warm the per-tool cache and the regex engine
        decide(call, policy)
    results: dict[str, Any] = {
        "machine": machine(),
        "source": source_state(),
        "decide": time_decisions(calls, policy, total),
        "gate_check": time_gate_check(calls, policy, total // 4),
        "baseline": time_baseline(calls, policy, total),
        "eval": ev,
    }
    command = ".venv/bin/python bench/gate.py --write docs/benchmarks.md"
    report = render(results, command)
    if args.write:
        write_section(args.write, "gate", report)
        print(f"[bench] wrote {args.write}", file=sys.stderr)
    else:
        print(report)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
