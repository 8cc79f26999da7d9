"""The decision: a table over the policy's verdict and the signals, and the :class:`Gate`.

:func:`decide` is pure and fast (no I/O; tens of microseconds). It reads, in order:

1. a policy ``deny`` → **deny**; a policy ``halt`` → **halt**;
2. arguments that cannot be parsed or do not fit the tool's schema → **halt** (fail closed);
3. a **read** → the ``read`` default (allow): a read changes nothing, and reading is how an
   agent resolves its own uncertainty, so uncertainty signals do not stop reads;
4. a write whose blast radius is high is treated as destructive ("bulk write");
5. destructive and (blast radius high or irreversible) → **halt** (critical);
6. a write or destructive call with any raised uncertainty signal (ambiguity, hedging or low
   confidence, validation, error streak, drift, a failing plugin) → **halt**;
7. otherwise a policy ``allow``, or the default for the risk class (``write: allow``,
   ``destructive: halt`` unless the policy says ``allow``).

``score`` = risk * (0.5 + 0.5 * uncertainty), in [0, 1], for display and ranking only.

:class:`Gate` ties the policy, the signals, the approvals store, the ``gate`` log stream and
the metrics together: ``gate.check(call)`` decides, records a pending approval for a halt
(its id in ``decision.approval_id``), logs one line and counts the decision;
``gate.authorize(call, approval_id)`` lets an approved call run exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from devfactory.gate.approvals import Approvals
from devfactory.gate.policy import Policy, Risk, ToolCall, Verdict
from devfactory.gate.signals import (
    BUILTIN_SIGNALS,
    Signal,
    SignalFunc,
    discover_signals,
    run_signal,
)
from devfactory.obs.log import get_logger
from devfactory.obs.metrics import GATE_DECISIONS

__all__ = ["Decision", "EventCallback", "Gate", "decide"]

EventCallback = Callable[[str, Mapping[str, Any]], None]
"""``on_event(kind, payload)``: kind is a ``GATE_DECISIONS`` label (allow, halt, deny,
approved, denied, expired) or ``consumed``; payload is JSON-ready."""

_BUILTINS = frozenset(BUILTIN_SIGNALS)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the gate decided about one call, and why, in words a person can read."""

    decision: Verdict
    score: float
    reasons: list[str]
    signals: tuple[Signal, ...]
    risk: Risk
    approval_id: str | None = None
    argument_keys: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "decision": self.decision,
            "score": self.score,
            "reasons": list(self.reasons),
            "signals": [s.to_dict() for s in self.signals],
            "risk": self.risk,
            "approval_id": self.approval_id,
        }


def decide(
    call: ToolCall, policy: Policy, signals: Sequence[SignalFunc] = BUILTIN_SIGNALS
) -> Decision:
    """Decide on ``call`` by the table in this module's docstring (pure; never raises)."""
    view = policy.assess(call)
    results = tuple(
        func(call, view) if func in _BUILTINS else run_signal(func, call, view) for func in signals
    )
    risk_score = 0.0
    uncertainty = 1.0 if view.argument_problem else 0.0
    doubts: list[str] = []
    blast = irreversible = False
    for sig in results:
        if sig.kind == "risk":
            risk_score = max(risk_score, sig.score)
            if sig.raised:
                blast = blast or sig.name == "blast_radius"
                irreversible = irreversible or sig.name == "irreversibility"
        else:
            uncertainty = max(uncertainty, sig.score)
            if sig.raised:
                doubts.append(f"{sig.name}: {sig.reason or 'raised'}")
    score = round(risk_score * (0.5 + 0.5 * uncertainty), 3)
    risk: Risk = view.risk
    keys = tuple(sorted(view.arguments)) if view.arguments is not None else ()
    reasons = list(view.reasons)

    def done(verdict: Verdict, *why: str) -> Decision:
        return Decision(verdict, score, [*reasons, *why], results, risk, None, keys)

    if view.decision == "deny":
        return done("deny")
    if view.decision == "halt":
        return done("halt")
    if view.argument_problem is not None:
        return done("halt", f"malformed call: {view.argument_problem}")
    if risk == "read":
        verdict = view.decision or view.defaults.read
        return done(verdict, "read-only" + (" (by policy default)" if verdict != "allow" else ""))
    if risk == "write" and blast:
        risk = "destructive"
        reasons.append("bulk write: treated as destructive")
    if risk == "destructive" and (blast or irreversible):
        why = [s.reason for s in results if s.kind == "risk" and s.raised and s.reason]
        return done("halt", f"critical: {'; '.join(why)}", *doubts)
    if doubts:
        return done("halt", f"{risk} call with uncertainty", *doubts)
    if view.decision == "allow":
        return done("allow", f"{risk}, allowed by policy")
    verdict = view.defaults.verdict_for(risk)
    return done(verdict, f"{risk}: {verdict} by default")


class Gate:
    """Policy + signals + approvals + the gate log stream + metrics, for one process.

    Example::

        gate = Gate(load_policy(path), approvals=Approvals(Database(url)))
        decision = gate.check(call)
        if decision.decision == "halt":
            ...  # later, once a person approved decision.approval_id:
            if gate.authorize(call, decision.approval_id):
                run(call)
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        signals: Sequence[SignalFunc] | None = None,
        approvals: Approvals | None = None,
        on_event: EventCallback | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.policy = policy or Policy()
        self.approvals = approvals
        self.on_event = on_event
        self._clock = clock
        self._log = get_logger("gate", stream="gate")
        if signals is None:
            found, problems = discover_signals()
            for problem in problems:
                self._log.warning("gate.signal_plugin_failed", problem=problem)
            signals = found
        self.signals = tuple(signals)
        if approvals is not None and approvals.on_event is None:
            approvals.on_event = on_event

    def assess(self, call: ToolCall) -> Decision:
        """What the gate would decide on ``call``: pure, nothing recorded or logged."""
        return decide(call, self.policy, self.signals)

    def check(self, call: ToolCall, decision: Decision | None = None) -> Decision:
        """Decide on ``call`` (or take ``decision`` from :meth:`assess`); a halt is recorded
        as a pending approval when a store is set.

        Logs one line on the ``gate`` stream (argument *keys* only, never their values) and
        counts the decision in ``devfactory_gate_decisions_total``.
        """
        started = self._clock()
        if decision is None:
            decision = decide(call, self.policy, self.signals)
        if decision.decision == "halt" and self.approvals is not None:
            record = self.approvals.create(call, decision, ttl=self.policy.defaults.approval_ttl)
            decision = replace(decision, approval_id=record.id)
        elapsed_us = round((self._clock() - started) * 1e6, 1)
        GATE_DECISIONS.labels(decision.decision).inc()
        log = self._log.warning if decision.decision != "allow" else self._log.info
        log(
            "gate.decision",
            server=call.server,
            tool=call.tool,
            decision=decision.decision,
            risk=decision.risk,
            score=decision.score,
            reasons=decision.reasons,
            signals={s.name: s.score for s in decision.signals},
            argument_keys=list(decision.argument_keys),
            approval_id=decision.approval_id,
            latency_us=elapsed_us,
        )
        if self.on_event is not None:
            self.on_event(
                decision.decision, {"server": call.server, "tool": call.tool, **decision.to_dict()}
            )
        return decision

    def authorize(self, call: ToolCall, approval_id: str) -> bool:
        """Whether ``call`` may run now under ``approval_id``: true once, for the same call.

        Without an approvals store nothing is ever authorised.
        """
        if self.approvals is None:
            return False
        return self.approvals.consume(approval_id, call)
