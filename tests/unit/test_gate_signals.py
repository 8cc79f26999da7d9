"""Signals: each a pure function of the call and the policy's assessment."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

from devfactory.gate.policy import Assessment, Policy, ToolCall
from devfactory.gate.signals import (
    BUILTIN_SIGNALS,
    Signal,
    ambiguity,
    blast_radius,
    destructiveness,
    discover_signals,
    drift,
    error_streak,
    hedging,
    irreversibility,
    run_signal,
    validation,
)

WRITE = {"destructiveHint": False, "openWorldHint": False}


def view(call: ToolCall) -> Assessment:
    return Policy().assess(call)


def call(annotations: dict[str, Any] | None = None, **kw: Any) -> ToolCall:
    return ToolCall("s", "s__t", kw.pop("arguments", {}), annotations or {}, kw.pop("meta", {}), kw)


def plugin_signal(call: ToolCall, view: Assessment) -> Signal:
    """A plugin signal for the entry-point test."""
    return Signal("plugin", 0.9 if call.context.get("tainted") else 0.0, "tainted input")


def broken_signal(call: ToolCall, view: Assessment) -> Signal:
    """A plugin signal with a bug."""
    raise RuntimeError("boom")


def test_destructiveness_grades_risk_classes() -> None:
    """read 0, write 0.4, annotated destructive 0.8, unknown 1.0."""
    for hints, score in [
        ({"readOnlyHint": True}, 0.0),
        (WRITE, 0.4),
        ({"destructiveHint": True}, 0.8),
        ({}, 1.0),
    ]:
        c = call(hints)
        assert score == destructiveness(c, view(c)).score


@pytest.mark.parametrize(
    ("affected", "raised"), [(None, False), (1, False), (15, False), (20, True), (500, True)]
)
def test_blast_radius_raises_at_the_threshold(affected: int | None, raised: bool) -> None:
    """The default threshold is 20 objects; at twice that the score is 1."""
    c = call({"destructiveHint": True}, affected=affected) if affected is not None else call()
    sig = blast_radius(c, view(c))
    assert raised == sig.raised
    if affected == 500:
        assert 1.0 == sig.score and "500" in str(sig.reason)


def test_recursive_destructive_call_without_a_count_is_a_big_blast() -> None:
    """``recursive: true`` on a destructive call with no count counts as high."""
    c = call({"destructiveHint": True}, arguments={"recursive": True})
    assert blast_radius(c, view(c)).raised


def test_irreversibility_depends_on_backup_and_reversibility() -> None:
    """Destructive without a backup is irreversible; with one, not."""
    bare = call({"destructiveHint": True})
    assert irreversibility(bare, view(bare)).raised
    backed = call({"destructiveHint": True}, has_backup=True)
    assert not irreversibility(backed, view(backed)).raised
    write = call(WRITE)
    assert not irreversibility(write, view(write)).raised


@pytest.mark.parametrize(
    ("context", "score"),
    [
        ({}, 0.0),
        ({"matches": 1}, 0.0),
        ({"matches": 0}, 0.6),
        ({"matches": 3}, 0.9),
        ({"candidates": ["a", "b"]}, 0.9),
    ],
)
def test_ambiguity_counts_candidate_targets(context: dict[str, Any], score: float) -> None:
    """More than one candidate is strong doubt; none is a missing target."""
    c = call(**context)
    assert score == ambiguity(c, view(c)).score


def test_validation_reports_the_first_error() -> None:
    """Validation errors raise the signal and the reason quotes the first."""
    c = call(validation_errors=["Due: not a date", "Owner: unknown user"])
    sig = validation(c, view(c))
    assert (1.0, "failed validation: Due: not a date (+1 more)") == (sig.score, sig.reason)


@pytest.mark.parametrize(
    ("rationale", "raised"),
    [
        ("I think this is the duplicate.", True),
        ("Maybe the right one.", True),
        ("Not sure it is used.", True),
        ("It's probably unused", True),
        ("Hopefully this fixes it", True),
        ("The user asked to remove it.", False),
        ("Set the Probability field to 0.8", False),
        ("Add the guest list", False),
        ("Make sure the box is ticked", False),
        ("Update the Mighty Ducks page", False),
        ('Archive "Maybe later" as asked', False),
        ("The user wrote 'I think we can drop it' and confirmed", False),
    ],
)
def test_hedging_lexicon_ignores_look_alikes_and_quotes(rationale: str, raised: bool) -> None:
    """Hedges are whole words outside quotes: "probably" halts, "Probability" does not."""
    c = call(meta={"rationale": rationale})
    assert raised == hedging(c, view(c)).raised


@pytest.mark.parametrize(
    ("confidence", "raised"),
    [
        (0.9, False),
        (0.5, True),
        (85, False),
        (40, True),
        ("low", True),
        ("high", False),
        ("35%", True),
        ("n/a", False),
    ],
)
def test_stated_confidence_on_either_scale(confidence: object, raised: bool) -> None:
    """Confidence below 0.7 raises hedging; 0-1, 0-100, percentages and words are read."""
    c = call(meta={"confidence": confidence})
    assert raised == hedging(c, view(c)).raised


def test_error_streak_is_a_circuit_breaker() -> None:
    """Three consecutive errors trip it (a list of errors counts by length)."""
    two, three = call(recent_errors=2), call(recent_errors=["e1", "e2", "e3"])
    assert not error_streak(two, view(two)).raised
    assert error_streak(three, view(three)).raised


def test_drift_raises_when_the_target_changed() -> None:
    """``context.drift`` true (or a description) raises the signal."""
    c = call(drift="Status options changed")
    assert "Status options changed" in str(drift(c, view(c)).reason)


def test_a_failing_signal_is_reported_as_uncertainty() -> None:
    """run_signal turns an exception into a raised uncertainty signal with the error."""
    c = call()
    sig = run_signal(broken_signal, c, view(c))
    assert sig.raised and "uncertainty" == sig.kind
    assert "signal broken_signal failed: RuntimeError: boom" == sig.reason


def test_discover_signals_loads_entry_points_and_reports_broken_ones() -> None:
    """Entry points add plugin signals after the built-ins; unloadable ones are named."""
    group = "devfactory.gate_signals"
    points = [
        EntryPoint("plugin", f"{__name__}:plugin_signal", group),
        EntryPoint("hedging", "devfactory.gate.signals:hedging", group),
        EntryPoint("missing", "no_such_module_xyz:signal", group),
    ]
    found, problems = discover_signals(points)
    assert (*BUILTIN_SIGNALS, plugin_signal) == found
    assert 1 == len(problems) and "missing" in problems[0]
