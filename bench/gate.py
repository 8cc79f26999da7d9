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

import fnmatch
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

# Run as a script from anywhere: the repository root replaces bench/ on the path, so the
# package ``bench`` imports and no module in bench/ can shadow the standard library.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import command_line, log, machine, percentile, publish, rerun, verdict
from bench.sections import REPO, block, preamble, source_state, splice, stamp
from devfactory.gate.decide import Gate, decide
from devfactory.gate.policy import Policy, ToolCall, load_policy
from devfactory.gate.signals import BUILTIN_SIGNALS

CASES = REPO / "tests" / "data" / "gate_cases.yaml"
POLICY = REPO / "examples" / "policy.yaml"
TARGET_P50_US = 50.0


def load_cases() -> list[dict[str, Any]]:
    """The labelled cases the gate is timed on and evaluated against."""
    cases: list[dict[str, Any]] = yaml.safe_load(CASES.read_text())["cases"]
    return cases


def time_each(
    check: Callable[[ToolCall], object], calls: list[ToolCall], total: int
) -> dict[str, float]:
    """p50, p95 and mean µs of ``check(call)`` over ``calls``, repeated in whole rounds to
    at least ``total`` timings; each call is timed alone, so the figures are per decision."""
    clock = time.perf_counter_ns
    samples: list[int] = []
    for _ in range(max(1, -(-total // len(calls)))):
        for call in calls:
            start = clock()
            check(call)
            samples.append(clock() - start)
    return {
        "p50_us": percentile(samples, 0.5) / 1000,
        "p95_us": percentile(samples, 0.95) / 1000,
        "mean_us": statistics.fmean(samples) / 1000,
        "n": len(samples),
    }


def time_decisions(calls: list[ToolCall], policy: Policy, total: int) -> dict[str, float]:
    """The gate's decision function alone: policy, signals and decision table."""
    return time_each(lambda call: decide(call, policy), calls, total)


def time_gate_check(calls: list[ToolCall], policy: Policy, total: int) -> dict[str, float]:
    """``Gate.check`` as a caller meets it: the decision plus metrics and the log call."""
    gate = Gate(policy, signals=BUILTIN_SIGNALS)  # no store, logs unconfigured
    return time_each(gate.check, calls, total)


def time_baseline(calls: list[ToolCall], policy: Policy, total: int) -> dict[str, float]:
    """The naive matcher: fnmatch every glob of every rule against the tool name."""
    globs = [(rule, pattern) for rule in policy.rules for pattern in rule.tools]

    def naive(call: ToolCall) -> object:
        return [rule for rule, pattern in globs if fnmatch.fnmatchcase(call.tool, pattern)]

    return time_each(naive, calls, total)


def evaluate(cases: list[dict[str, Any]], policy: Policy) -> dict[str, Any]:
    """Recall on must-halt cases, false halts on allow-labelled ones, accuracy, and the
    confusion by category: how well the gate's decisions match the labels."""
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
    """The evaluation as markdown, for docs/gate.md."""
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
    """The gate section of docs/benchmarks.md."""
    d, g, b, ev = results["decide"], results["gate_check"], results["baseline"], results["eval"]
    ok = verdict(d["p50_us"] <= TARGET_P50_US)
    run = (
        f"Run {stamp()} on {results['machine']['cpu']}, Python {results['machine']['python']}, "
        f"source {results['source']}."
    )
    lines = [
        *preamble("Gate decision", run, command),
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
    """Replace the gate-eval block of ``path`` (or add it under an 'Evaluation' heading)."""
    text = path.read_text() if path.exists() else ""
    spliced = splice(text, "gate-eval", markdown)
    if spliced is None:
        spliced = text.rstrip("\n") + "\n\n## Evaluation\n\n" + block("gate-eval", markdown)
    path.write_text(spliced)


def main() -> int:
    """Evaluate, time, and report; exit 0 (the targets are verdicts in the report)."""
    parser = command_line(__doc__, "10,000 decisions instead of 100,000")
    parser.add_argument(
        "--eval-doc", type=Path, help="write the evaluation into this markdown file"
    )
    args = parser.parse_args()
    cases = load_cases()
    policy = load_policy(POLICY)
    ev = evaluate(cases, policy)
    if args.eval_doc:
        write_eval_doc(args.eval_doc, render_eval(ev))
        log(f"wrote the evaluation to {args.eval_doc}")
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
    report = render(results, rerun("gate.py", args.quick))
    publish(report, results, section="gate", write=args.write, json_path=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
