"""Signals: small pure functions that each score one reason to stop a call.

A signal is ``(call, assessment) -> Signal`` with a ``score`` in [0, 1]; a score of
:data:`RAISED` or more *raises* it. Risk signals (``kind="risk"``) say how much harm the call
could do; uncertainty signals (``kind="uncertainty"``) say how likely it is to be the wrong
call. :func:`devfactory.gate.decide.decide` reads them through a decision table.

Built-ins: ``destructiveness``, ``blast_radius``, ``irreversibility`` (risk) and
``ambiguity``, ``validation``, ``hedging``, ``error_streak``, ``drift`` (uncertainty). More come
from the ``devfactory.gate_signals`` entry-point group (:func:`discover_signals`); a plugin
that raises is reported as a raised uncertainty signal instead of crashing the gate.

Example::

    sig = hedging(ToolCall("notion", "notion__trash_page", meta={"rationale": "I think it's old"}), view)
    sig.score, sig.reason   # (0.6, 'the rationale hedges: "I think"')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal

from devfactory.gate.policy import Assessment, ToolCall

__all__ = [
    "BUILTIN_SIGNALS",
    "ENTRY_POINT_GROUP",
    "HEDGES",
    "RAISED",
    "Signal",
    "SignalFunc",
    "ambiguity",
    "blast_radius",
    "destructiveness",
    "discover_signals",
    "drift",
    "error_streak",
    "hedging",
    "irreversibility",
    "run_signal",
    "validation",
]

RAISED = 0.5
"""A signal with at least this score counts against the call."""
ENTRY_POINT_GROUP = "devfactory.gate_signals"

SignalKind = Literal["risk", "uncertainty"]


@dataclass(frozen=True, slots=True)
class Signal:
    """One signal's verdict on a call: ``score`` in [0, 1] and, when it says something, why."""

    name: str
    score: float
    reason: str | None = None
    kind: SignalKind = "uncertainty"

    @property
    def raised(self) -> bool:
        """Whether the score reaches :data:`RAISED`."""
        return self.score >= RAISED

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {"name": self.name, "score": self.score, "reason": self.reason, "kind": self.kind}


SignalFunc = Callable[[ToolCall, Assessment], Signal]


def destructiveness(call: ToolCall, view: Assessment) -> Signal:
    """How much the tool's class can change: read 0, write 0.4, destructive 0.8, unknown 1."""
    if view.risk == "read":
        return Signal("destructiveness", 0.0, None, "risk")
    if view.risk == "write":
        return Signal("destructiveness", 0.4, None, "risk")
    if view.risk_source == "unknown":
        return Signal(
            "destructiveness", 1.0, f"unknown tool {call.tool!r}: counted as destructive", "risk"
        )
    return Signal("destructiveness", 0.8, f"{call.tool} is destructive", "risk")


def blast_radius(call: ToolCall, view: Assessment) -> Signal:
    """How many objects the call touches: ``context.affected`` (rows, pages, files).

    Half score at the ``blast_radius`` threshold, full at twice it; without a count, a
    ``recursive: true`` argument on a destructive call counts as high.
    """
    high = view.defaults.blast_radius
    affected = _number(call.context.get("affected"))
    if affected is None:
        args = view.arguments or {}
        if view.risk == "destructive" and args.get("recursive") is True:
            return Signal(
                "blast_radius", 0.6, "recursive, with no count of what it touches", "risk"
            )
        return Signal("blast_radius", 0.0, None, "risk")
    if affected <= 1:
        return Signal("blast_radius", 0.0, None, "risk")
    score = min(1.0, 0.5 * affected / high)
    reason = f"touches {affected:g} objects (high from {high})" if score >= RAISED else None
    return Signal("blast_radius", round(score, 3), reason, "risk")


def irreversibility(call: ToolCall, view: Assessment) -> Signal:
    """No way back: destructive with no backup and not reversible (trash, undo)."""
    if view.risk == "read":
        return Signal("irreversibility", 0.0, None, "risk")
    backed_up = bool(call.context.get("has_backup")) or view.reversible is True
    if view.risk == "destructive":
        if backed_up:
            return Signal("irreversibility", 0.2, None, "risk")
        return Signal("irreversibility", 1.0, "cannot be undone: no backup, no trash", "risk")
    idempotent = call.annotations.get("idempotentHint") is True
    return Signal("irreversibility", 0.0 if idempotent or backed_up else 0.3, None, "risk")


def ambiguity(call: ToolCall, view: Assessment) -> Signal:
    """The target is not one thing: ``context.matches`` (or ``candidates``) is not exactly 1."""
    matches = _number(call.context.get("matches"))
    candidates = call.context.get("candidates")
    if matches is None and isinstance(candidates, Sequence) and not isinstance(candidates, str):
        matches = float(len(candidates))
    if matches is None or matches == 1:
        return Signal("ambiguity", 0.0)
    if matches == 0:
        return Signal("ambiguity", 0.6, "no object matches the target")
    return Signal("ambiguity", 0.9, f"the target matches {matches:g} objects, not one")


def validation(call: ToolCall, view: Assessment) -> Signal:
    """The caller found the call invalid: ``context.validation_errors`` is not empty."""
    errors = call.context.get("validation_errors")
    if not errors:
        return Signal("validation", 0.0)
    items = [errors] if isinstance(errors, str) else list(errors)
    more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
    return Signal("validation", 1.0, f"failed validation: {str(items[0])[:120]}{more}")


HEDGES: tuple[str, ...] = (
    r"i think",
    r"i believe",
    r"i guess",
    r"guessing",
    r"my guess",
    r"maybe",
    r"perhaps",
    r"probably",
    r"possibly",
    r"might",
    r"may be",
    r"not (?:entirely |completely |100% )?(?:sure|certain|clear)",
    r"unsure",
    r"uncertain",
    r"unclear",
    r"i assume",
    r"assuming",
    r"presumably",
    r"hopefully",
    r"seems? (?:like|to)",
    r"looks like",
    r"i suppose",
    r"if i'?m not mistaken",
    r"let'?s (?:try|see)",
    r"should (?:probably )?(?:be fine|work)",
    r"could be",
    r"no idea",
    r"don'?t know",
)
"""Hedging phrases (regular expressions, matched as whole words, case-insensitively)."""

_HEDGE_RE = re.compile(r"\b(?:" + "|".join(HEDGES) + r")\b", re.IGNORECASE)
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|`[^`]*`|(?<!\w)'[^']*'(?!\w)")
_CONFIDENCE_WORDS = {"low": 0.3, "medium": 0.6, "high": 0.9, "certain": 1.0}


def hedging(call: ToolCall, view: Assessment) -> Signal:
    """The agent is unsure: hedges in ``_meta.rationale`` or ``_meta.confidence`` too low.

    Quoted text (a page called "Maybe later") is skipped; confidence may be 0-1, 0-100,
    ``"85%"`` or low/medium/high. Absence of hedges is weak evidence, presence a red flag.
    """
    reasons: list[str] = []
    score = 0.0
    rationale = call.meta.get("rationale")
    if isinstance(rationale, str) and rationale:
        found = _HEDGE_RE.findall(_QUOTED.sub(" ", rationale))
        if found:
            score = min(0.95, 0.5 + 0.1 * len(found))
            shown = ", ".join(f'"{h.lower()}"' for h in dict.fromkeys(found))
            reasons.append(f"the rationale hedges: {shown}")
    confidence = _confidence(call.meta.get("confidence"))
    threshold = view.defaults.confidence
    if confidence is not None:
        if confidence < threshold:
            low = 0.5 + 0.5 * (threshold - confidence) / threshold
            score = max(score, low)
            reasons.append(f"stated confidence {confidence:.2f} is below {threshold:g}")
        else:
            score = max(score, round(0.4 * (1 - confidence), 3))
    return Signal("hedging", round(score, 3), "; ".join(reasons) or None)


def error_streak(call: ToolCall, view: Assessment) -> Signal:
    """Circuit breaker: ``context.recent_errors`` consecutive failures reach the threshold."""
    value = call.context.get("recent_errors")
    if isinstance(value, Sequence) and not isinstance(value, str):
        count: float | None = float(len(value))
    else:
        count = _number(value)
    limit = view.defaults.error_streak
    if not count:
        return Signal("error_streak", 0.0)
    if count >= limit:
        return Signal("error_streak", 1.0, f"{count:g} errors in a row (breaker at {limit})")
    return Signal("error_streak", round(0.4 * count / limit, 3))


def drift(call: ToolCall, view: Assessment) -> Signal:
    """The target changed since it was observed (``context.drift``)."""
    value = call.context.get("drift")
    if not value:
        return Signal("drift", 0.0)
    detail = f": {str(value)[:120]}" if not isinstance(value, bool) else ""
    return Signal("drift", 1.0, f"the target changed since it was observed{detail}")


BUILTIN_SIGNALS: tuple[SignalFunc, ...] = (
    destructiveness,
    blast_radius,
    irreversibility,
    ambiguity,
    validation,
    hedging,
    error_streak,
    drift,
)
"""The signals every gate runs, in the order they are reported."""


def run_signal(func: SignalFunc, call: ToolCall, view: Assessment) -> Signal:
    """Run one signal; an exception or a bad result becomes a raised uncertainty signal."""
    name = getattr(func, "__name__", type(func).__name__)
    try:
        result = func(call, view)
    except Exception as exc:  # a plugin's bug must not open or crash the gate
        return Signal(name, RAISED, f"signal {name} failed: {type(exc).__name__}: {exc}")
    if not isinstance(result, Signal) or not 0.0 <= result.score <= 1.0:
        return Signal(name, RAISED, f"signal {name} returned {result!r}, not a Signal in [0, 1]")
    return result


def discover_signals(
    points: Iterable[EntryPoint] | None = None,
) -> tuple[tuple[SignalFunc, ...], tuple[str, ...]]:
    """The built-ins plus every signal of the ``devfactory.gate_signals`` entry points.

    Returns the signals and the problems met loading them (an entry point that cannot be
    imported is skipped and named there). Duplicates of a built-in are dropped.
    """
    found: list[SignalFunc] = list(BUILTIN_SIGNALS)
    problems: list[str] = []
    selected = entry_points(group=ENTRY_POINT_GROUP) if points is None else points
    for point in selected:
        try:
            func = point.load()
        except Exception as exc:
            problems.append(f"signal plugin {point.name} ({point.value}) failed to load: {exc}")
            continue
        if not callable(func):
            problems.append(f"signal plugin {point.name} ({point.value}) is not callable")
        elif func not in found:
            found.append(func)
    return tuple(found), tuple(problems)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _confidence(value: Any) -> float | None:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _CONFIDENCE_WORDS:
            return _CONFIDENCE_WORDS[text]
        try:
            parsed = float(text.rstrip("%"))
        except ValueError:
            return None
        if text.endswith("%"):
            return max(0.0, min(1.0, parsed / 100))
        value = parsed
    number = _number(value)
    if number is None or number != number or number < 0:
        return None
    return min(1.0, number / 100 if number > 1 else number)
