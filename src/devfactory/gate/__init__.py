"""The confidence gate: policy, signals, decisions and approvals for actions that act.

Example::

    from devfactory.gate import Gate, ToolCall, load_policy

    gate = Gate(load_policy(Path("examples/policy.yaml")))
    decision = gate.check(ToolCall("notion", "notion__trash_page", {"page_id": "..."}))
    decision.decision, decision.reasons
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devfactory.gate.approvals import Approval, Approvals
from devfactory.gate.decide import Decision, Gate, decide
from devfactory.gate.policy import Assessment, Defaults, Policy, Rule, ToolCall, load_policy
from devfactory.gate.signals import BUILTIN_SIGNALS, Signal, discover_signals

if TYPE_CHECKING:
    from devfactory.config import Settings
    from devfactory.db import Database

__all__ = [
    "BUILTIN_SIGNALS",
    "Approval",
    "Approvals",
    "Assessment",
    "Decision",
    "Defaults",
    "Gate",
    "Policy",
    "Rule",
    "Signal",
    "ToolCall",
    "decide",
    "discover_signals",
    "gate_for",
    "load_policy",
]


def gate_for(settings: Settings, db: Database) -> Gate:
    """The gate of this process: ``settings.policy`` (or the defaults), approvals in ``db``."""
    policy = load_policy(settings.policy) if settings.policy is not None else Policy()
    return Gate(policy, approvals=Approvals(db))
