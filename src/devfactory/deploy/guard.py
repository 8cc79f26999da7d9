"""The confidence gate in front of a plan's destructive changes.

A plan that removes or replaces anything is one gated call, ``deploy.destroy`` on the
``deploy`` server, whose arguments name the workspace, environment, target and every
destructive change. Its fingerprint therefore pins exactly that set of changes: an approval
given for one plan never lets a different destruction through, and is used once.

Without ``--allow-destroy`` the gate decides. With the default policy a destructive call
halts: the halt is recorded as a pending approval and the apply stops with the command that
approves it. Once approved, the same apply (same changes) runs and consumes the approval; a
policy may also allow or deny the call outright (docs/gate.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from devfactory.deploy.plan import Plan
from devfactory.errors import PlanError
from devfactory.gate.decide import Gate
from devfactory.gate.policy import ToolCall
from devfactory.obs.log import get_logger

__all__ = ["GateHalted", "Pass", "consume", "destroy_call", "refuse_or_listed", "screen"]

_log = get_logger("deploy", stream="gate")


class GateHalted(PlanError):
    """The gate halted the plan's destructive changes; ``approval_id`` names the record."""

    def __init__(self, message: str, approval_id: str) -> None:
        super().__init__(message)
        self.approval_id = approval_id


@dataclass(frozen=True, slots=True)
class Pass:
    """Leave to go on: ``approval_id`` is the approval to consume once confirmed, if any."""

    call: ToolCall | None = None
    approval_id: str | None = None


def refuse_or_listed(plan: Plan) -> str:
    """Raise for refused changes (``protect: true``); else the destructive ones, listed."""
    if plan.refused:
        raise PlanError("refused: " + "; ".join(plan.refused))
    return "\n".join(f"  {c.symbol} {c.address}: {c.summary}" for c in plan.destructive)


def destroy_call(plan: Plan, target: str, *, has_backup: bool) -> ToolCall:
    """The gated call standing for ``plan``'s destructive changes (sorted: order-free)."""
    changes = sorted(f"{c.symbol} {c.address}: {c.summary}" for c in plan.destructive)
    return ToolCall(
        server="deploy",
        tool="deploy.destroy",
        arguments={
            "workspace": plan.workspace,
            "environment": plan.environment,
            "target": target,
            "changes": changes,
        },
        annotations={"destructiveHint": True, "readOnlyHint": False},
        context={"affected": len(changes), "has_backup": has_backup},
    )


def screen(
    plan: Plan, target: str, gate: Gate | None, *, allow_destroy: bool, has_backup: bool
) -> Pass:
    """Decide whether ``plan`` may go on; raise :class:`PlanError` when it may not.

    ``allow_destroy`` passes (the person said so on the command line); an approved record
    for exactly this call passes and is returned for consuming after the confirmation; a
    pending one is reused rather than duplicated. Otherwise the gate decides: allow passes,
    deny raises, halt records a pending approval and raises :class:`GateHalted`.
    """
    listed = refuse_or_listed(plan)
    if not plan.destructive or allow_destroy:
        return Pass()
    n = len(plan.destructive)
    if gate is None:
        raise PlanError(
            f"the plan has {n} destructive change(s); run with --allow-destroy to make them "
            f"(a backup is taken first):\n{listed}"
        )
    call = destroy_call(plan, target, has_backup=has_backup)
    fingerprint = call.fingerprint()
    if gate.approvals is not None:
        approved = gate.approvals.find(fingerprint, "approved")
        if approved is not None:
            _log.info("deploy.approved", approval_id=approved.id, changes=n)
            return Pass(call, approved.id)
        pending = gate.approvals.find(fingerprint, "pending")
        if pending is not None:
            raise _halted(n, listed, pending.id, [])
    decision = gate.check(call)
    if decision.decision == "allow":
        return Pass(call)
    if decision.decision == "deny":
        raise PlanError(
            f"the gate denies the plan's {n} destructive change(s): "
            f"{'; '.join(decision.reasons)}\n{listed}"
        )
    if decision.approval_id is None:
        raise PlanError(
            f"the gate halted the plan's {n} destructive change(s) and there is no approval "
            f"store to record it; run with --allow-destroy to make them:\n{listed}"
        )
    raise _halted(n, listed, decision.approval_id, decision.reasons)


def consume(gate: Gate | None, passed: Pass) -> None:
    """Use the approval ``passed`` holds; a lost race (used or expired since) is an error."""
    if gate is None or passed.call is None or passed.approval_id is None:
        return
    if not gate.authorize(passed.call, passed.approval_id):
        raise PlanError(
            f"approval {passed.approval_id} was used or expired meanwhile; apply again to "
            "ask for a new one"
        )


def _halted(n: int, listed: str, approval_id: str, reasons: list[str]) -> GateHalted:
    why = f" ({'; '.join(reasons)})" if reasons else ""
    return GateHalted(
        f"the plan has {n} destructive change(s); the gate halted them for review{why}.\n"
        f"{listed}\n"
        f"Review with `devfactory approvals show {approval_id}`, approve with "
        f"`devfactory approvals approve {approval_id}`, then apply again (the same changes "
        "run once); or pass --allow-destroy (a backup is taken first).",
        approval_id,
    )
