"""Destructive plan steps pass the confidence gate: halt with an approval, run once approved,
or be allowed or denied by the policy; ``--allow-destroy`` still bypasses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devfactory.db import Database
from devfactory.deploy.guard import GateHalted, destroy_call
from devfactory.errors import PlanError
from devfactory.gate import Approvals, Gate, load_policy
from devfactory.notion.target import Target
from tests.integration.deploy_helpers import apply, desired, embedded, plan, spec_data
from tests.integration.test_backup import backing_up, settings


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(store_url: str) -> Iterator[Database]:
    """The approvals store, on SQLite and on PostgreSQL."""
    with Database(store_url) as db:
        yield db


def drop_notes(data: dict[str, Any]) -> None:
    del data["databases"]["clients"]["properties"]["Notes"]


def drop_stage(data: dict[str, Any]) -> None:
    drop_notes(data)
    del data["databases"]["projects"]["properties"]["Stage"]


def deployed(home: Path) -> Target:
    target = embedded(home)
    apply(desired(spec_data()), target, home)
    return target


def policy(tmp_path: Path, decision: str) -> Gate:
    path = tmp_path / "policy.yaml"
    path.write_text(
        f"version: 1\nrules:\n  - match: deploy.destroy\n    decision: {decision}\n"
        "    reason: the test says so\n"
    )
    return Gate(load_policy(path))


class TestHaltAndApprove:
    def test_halt_records_one_pending_approval_and_changes_nothing(
        self, home: Path, store: Database
    ) -> None:
        """Without --allow-destroy the default policy halts; asking again reuses the record."""
        target = deployed(home)
        gate = Gate(approvals=Approvals(store))
        ws = desired(spec_data(drop_notes))
        with pytest.raises(GateHalted) as first:
            apply(ws, target, home, gate=gate, backup=None)
        assert f"devfactory approvals approve {first.value.approval_id}" in str(first.value)
        assert "Notes" in str(first.value)
        with pytest.raises(GateHalted) as second:
            apply(ws, target, home, gate=gate, backup=None)
        assert first.value.approval_id == second.value.approval_id
        assert 1 == len(gate.approvals.list("pending"))  # type: ignore[union-attr]
        assert plan(ws, target, home).destructive  # nothing was removed

    def test_approved_plan_runs_exactly_once(self, home: Path, store: Database) -> None:
        """Once approved the same changes apply and consume the approval; the next destructive
        plan halts again."""
        target = deployed(home)
        approvals = Approvals(store)
        gate = Gate(approvals=approvals)
        ws = desired(spec_data(drop_notes))
        with pytest.raises(GateHalted) as halted:
            apply(ws, target, home, gate=gate, backup=None)
        approvals.approve(halted.value.approval_id, "alice", "cleanup agreed")
        report = apply(ws, target, home, gate=gate, backup=None)
        assert report.verified is True and report.plan is not None and report.plan.destructive
        record = approvals.get(halted.value.approval_id)
        assert "consumed" == record.status and record.consumed_at is not None
        assert plan(ws, target, home).empty
        with pytest.raises(GateHalted) as again:
            apply(desired(spec_data(drop_stage)), target, home, gate=gate, backup=None)
        assert again.value.approval_id != halted.value.approval_id

    def test_approval_covers_only_the_changes_it_named(self, home: Path, store: Database) -> None:
        """An approval for dropping Notes does not let a plan that also drops Stage through."""
        target = deployed(home)
        approvals = Approvals(store)
        gate = Gate(approvals=approvals)
        with pytest.raises(GateHalted) as halted:
            apply(desired(spec_data(drop_notes)), target, home, gate=gate, backup=None)
        approvals.approve(halted.value.approval_id, "alice")
        with pytest.raises(GateHalted) as other:
            apply(desired(spec_data(drop_stage)), target, home, gate=gate, backup=None)
        assert other.value.approval_id != halted.value.approval_id
        assert "approved" == approvals.get(halted.value.approval_id).status

    def test_denied_approval_never_runs(self, home: Path, store: Database) -> None:
        """A denied record is not reused: the next apply asks again with a new pending one."""
        target = deployed(home)
        approvals = Approvals(store)
        gate = Gate(approvals=approvals)
        ws = desired(spec_data(drop_notes))
        with pytest.raises(GateHalted) as halted:
            apply(ws, target, home, gate=gate, backup=None)
        approvals.deny(halted.value.approval_id, "bob", "keep the notes")
        with pytest.raises(GateHalted) as again:
            apply(ws, target, home, gate=gate, backup=None)
        assert again.value.approval_id != halted.value.approval_id
        assert plan(ws, target, home).destructive

    def test_allow_destroy_bypasses_the_gate(self, home: Path, store: Database) -> None:
        """--allow-destroy applies without recording anything."""
        target = deployed(home)
        gate = Gate(approvals=Approvals(store))
        report = apply(
            desired(spec_data(drop_notes)),
            target,
            home,
            gate=gate,
            backup=None,
            allow_destroy=True,
        )
        assert report.verified is True
        assert [] == gate.approvals.list()  # type: ignore[union-attr]


class TestPolicy:
    def test_policy_may_allow_what_a_backup_makes_reversible(
        self, home: Path, tmp_path: Path
    ) -> None:
        """A rule allowing deploy.destroy lets the plan run once a backup is taken first;
        without one the loss is irreversible and the gate still halts."""
        target = deployed(home)
        ws = desired(spec_data(drop_notes))
        gate = policy(tmp_path, "allow")
        with pytest.raises(PlanError, match="halted"):
            apply(ws, target, home, gate=gate, backup=None)
        conf = settings(home)
        report = apply(ws, target, home, gate=gate, backup=backing_up(conf))
        assert report.verified is True and 1 == len(report.backups)

    def test_policy_may_deny(self, home: Path, tmp_path: Path) -> None:
        """A deny rule refuses with its reason, and no approval can be asked for."""
        target = deployed(home)
        with pytest.raises(PlanError, match=r"denies.*the test says so"):
            apply(
                desired(spec_data(drop_notes)),
                target,
                home,
                gate=policy(tmp_path, "deny"),
                backup=None,
            )

    def test_no_approval_store_means_no_way_but_the_flag(self, home: Path) -> None:
        """A gate without a store cannot record a halt: the error says to use the flag."""
        target = deployed(home)
        with pytest.raises(PlanError, match=r"no approval store.*--allow-destroy"):
            apply(desired(spec_data(drop_notes)), target, home, gate=Gate(), backup=None)


def test_destroy_call_is_order_free_and_names_every_change(home: Path) -> None:
    """The gated call's fingerprint does not depend on the order of the changes, and its
    context tells the signals how many objects and whether a backup exists."""
    target = deployed(home)
    planned = plan(desired(spec_data(drop_stage)), target, home)
    call = destroy_call(planned, target.label, has_backup=True)
    planned.changes.reverse()
    again = destroy_call(planned, target.label, has_backup=True)
    assert call.fingerprint() == again.fingerprint()
    assert 2 == call.context["affected"] and call.context["has_backup"] is True
    changes = " ".join(call.arguments["changes"])
    assert "Notes" in changes and "Stage" in changes
