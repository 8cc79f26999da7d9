"""The labelled cases of tests/data/gate_cases.yaml against examples/policy.yaml.

Labels say what a careful operator wants. Every must-halt case must be stopped (halt or
deny): recall 100 %. At most 10 % of the calls labelled allow may be stopped.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from devfactory.gate.decide import decide
from devfactory.gate.policy import ToolCall, load_policy

ROOT = Path(__file__).resolve().parents[2]
CASES: list[dict[str, Any]] = yaml.safe_load(
    (ROOT / "tests" / "data" / "gate_cases.yaml").read_text()
)["cases"]
POLICY = load_policy(ROOT / "examples" / "policy.yaml")


def test_the_case_set_is_big_and_spread() -> None:
    """At least 200 cases with unique ids, over every category the brief names."""
    assert len(CASES) >= 200
    assert len({c["id"] for c in CASES}) == len(CASES)
    counts = Counter(c["category"] for c in CASES)
    wanted = {
        "read": 60,
        "write": 45,
        "destructive": 25,
        "bulk": 15,
        "ambiguous": 15,
        "hedged": 15,
        "malformed": 10,
        "unknown": 10,
        "deny": 10,
    }
    assert all(counts[name] >= n for name, n in wanted.items()), counts
    assert all(c["expect"] in ("allow", "halt", "deny") for c in CASES)


@pytest.mark.parametrize("case", [c for c in CASES if c["must_halt"]], ids=lambda c: c["id"])
def test_every_must_halt_case_is_stopped(case: dict[str, Any]) -> None:
    """Recall 100 %: a harmful call is halted or denied."""
    decision = decide(ToolCall.from_dict(case["call"]), POLICY)
    assert decision.decision in ("halt", "deny"), (case["description"], decision.reasons)


def test_policy_denies_are_denies_not_halts() -> None:
    """Every case labelled deny is denied by a policy rule (not merely halted)."""
    wrong = [
        c["id"]
        for c in CASES
        if c["expect"] == "deny"
        and decide(ToolCall.from_dict(c["call"]), POLICY).decision != "deny"
    ]
    assert [] == wrong


def test_false_halt_rate_and_accuracy() -> None:
    """At most 10 % of the allow-labelled calls are stopped; accuracy at least 95 %."""
    allowed = [c for c in CASES if c["expect"] == "allow"]
    got = {c["id"]: decide(ToolCall.from_dict(c["call"]), POLICY).decision for c in CASES}
    false_halts = [c["id"] for c in allowed if got[c["id"]] != "allow"]
    assert len(false_halts) / len(allowed) <= 0.10, false_halts
    accuracy = sum(got[c["id"]] == c["expect"] for c in CASES) / len(CASES)
    assert accuracy >= 0.95
