"""The decision table and the Gate: logging, metrics and events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devfactory.gate.decide import Gate, decide
from devfactory.gate.policy import Assessment, Policy, ToolCall, load_policy
from devfactory.gate.signals import BUILTIN_SIGNALS, Signal
from devfactory.obs import log
from devfactory.obs.metrics import GATE_DECISIONS

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy(ROOT / "examples" / "policy.yaml")
DESTRUCTIVE = {"destructiveHint": True}
WRITE = {"destructiveHint": False, "openWorldHint": False}


@pytest.fixture
def sink() -> Iterator[log.MemorySink]:
    """Log lines of this test, in memory."""
    memory = log.MemorySink()
    log.configure(logs_dir=None, sinks=[memory])
    yield memory
    log.configure(logs_dir=None)


def verdict(call: ToolCall, policy: Policy | None = None) -> str:
    return decide(call, policy or Policy()).decision


def test_reads_are_allowed_even_when_uncertain() -> None:
    """A read runs despite ambiguity, hedging and an error streak: reading resolves doubt."""
    call = ToolCall(
        "s",
        "t",
        {},
        {"readOnlyHint": True},
        {"rationale": "maybe?"},
        {"matches": 4, "recent_errors": 9},
    )
    assert "allow" == verdict(call)


def test_unknown_tool_halts_as_critical() -> None:
    """No rule and no annotations: destructive and irreversible, so halt."""
    decision = decide(ToolCall("s", "mystery"), Policy())
    assert ("halt", "destructive") == (decision.decision, decision.risk)
    assert any(r.startswith("critical:") for r in decision.reasons)


def test_unparseable_arguments_halt_even_a_read() -> None:
    """Fail closed: text that is not a JSON object halts whatever the tool."""
    decision = decide(ToolCall("s", "t", "{oops", {"readOnlyHint": True}), Policy())
    assert "halt" == decision.decision
    assert decision.reasons[0].startswith("malformed call: arguments are not JSON")


def test_writes_halt_on_any_uncertainty_and_pass_without() -> None:
    """A plain write is allowed; with ambiguity, validation errors or drift it halts."""
    assert "allow" == verdict(ToolCall("s", "t", {}, WRITE))
    for context in (
        {"matches": 2},
        {"validation_errors": ["x"]},
        {"drift": True},
        {"recent_errors": 3},
    ):
        assert "halt" == verdict(ToolCall("s", "t", {}, WRITE, context=context)), context


def test_a_bulk_write_is_treated_as_destructive() -> None:
    """A write touching many objects escalates to destructive and halts."""
    decision = decide(ToolCall("s", "t", {}, WRITE, context={"affected": 100}), Policy())
    assert ("halt", "destructive") == (decision.decision, decision.risk)
    assert "bulk write: treated as destructive" in decision.reasons


def test_destructive_with_backup_follows_the_default() -> None:
    """Reversible, small and confident: the ``destructive`` default decides (halt here)."""
    call = ToolCall("s", "t", {}, DESTRUCTIVE, context={"has_backup": True, "affected": 2})
    assert "halt" == verdict(call)
    assert "allow" == verdict(call, Policy(defaults=POLICY.defaults.__class__(destructive="allow")))


def test_policy_allow_does_not_override_critical_or_uncertain() -> None:
    """An allow rule covers the default only: no backup, or a hedge, still halts."""
    base = {"database": "tasks", "property": "Due"}
    assert "allow" == verdict(
        ToolCall("deploy", "deploy.remove_property", base, context={"has_backup": True}), POLICY
    )
    assert "halt" == verdict(ToolCall("deploy", "deploy.remove_property", base), POLICY)
    hedged = ToolCall(
        "deploy",
        "deploy.remove_property",
        base,
        meta={"rationale": "probably unused"},
        context={"has_backup": True},
    )
    assert "halt" == verdict(hedged, POLICY)


def test_policy_deny_wins_over_everything() -> None:
    """A confident, well-formed read of a secret is still denied, with the rule's reason."""
    call = ToolCall(
        "filesystem",
        "filesystem__read_text_file",
        {"path": "/home/a/.ssh/id_rsa"},
        meta={"confidence": 1.0},
    )
    decision = decide(call, POLICY)
    assert ("deny", ["policy deny: the path holds credentials"]) == (
        decision.decision,
        decision.reasons,
    )


def test_score_ranks_risk_times_uncertainty() -> None:
    """Score is in [0, 1]; a hedged destructive call outranks a confident one."""
    calm = decide(ToolCall("s", "t", {}, DESTRUCTIVE, context={"has_backup": True}), Policy())
    unsure = decide(
        ToolCall("s", "t", {}, DESTRUCTIVE, {"confidence": 0.1}, {"has_backup": True}), Policy()
    )
    assert 0.0 <= calm.score < unsure.score <= 1.0


def failing(call: ToolCall, view: Assessment) -> Signal:
    """A plugin with a bug."""
    raise ValueError("bad plugin")


def test_a_failing_plugin_signal_halts_writes_but_not_reads() -> None:
    """The gate survives a broken plugin; the failure is a reason and counts as doubt."""
    signals = (*BUILTIN_SIGNALS, failing)
    write = decide(ToolCall("s", "t", {}, WRITE), Policy(), signals)
    assert "halt" == write.decision
    assert any("signal failing failed: ValueError: bad plugin" in r for r in write.reasons)
    assert (
        "allow"
        == decide(ToolCall("s", "t", {}, {"readOnlyHint": True}), Policy(), signals).decision
    )


def test_gate_check_logs_keys_not_values_and_counts(sink: log.MemorySink) -> None:
    """One gate-stream line per decision with argument keys only; the counter moves."""
    events: list[tuple[str, Any]] = []
    gate = Gate(
        POLICY, signals=BUILTIN_SIGNALS, on_event=lambda kind, data: events.append((kind, data))
    )
    before = GATE_DECISIONS.labels("deny")._value.get()
    call = ToolCall(
        "filesystem", "filesystem__write_file", {"path": "/etc/passwd", "content": "hunter2-secret"}
    )
    decision = gate.check(call)
    assert "deny" == decision.decision
    assert before + 1 == GATE_DECISIONS.labels("deny")._value.get()
    [record] = sink.records("gate")
    assert ("gate.decision", "gate", "deny") == (
        record["event"],
        record["component"],
        record["decision"],
    )
    assert ["content", "path"] == record["argument_keys"]
    assert "hunter2-secret" not in sink.lines("gate")[0].decode()
    assert set(record["signals"]) == {f.__name__ for f in BUILTIN_SIGNALS}
    assert [("deny", events[0][1])] == events and "filesystem__write_file" == events[0][1]["tool"]


def test_gate_without_store_halts_without_an_id() -> None:
    """No approvals store: a halt has no approval id and nothing can be authorised."""
    gate = Gate(Policy(), signals=BUILTIN_SIGNALS)
    call = ToolCall("s", "mystery")
    assert gate.check(call).approval_id is None
    assert not gate.authorize(call, "apr_000000")
