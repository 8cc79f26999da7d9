"""Approvals on both store engines: lifecycle, expiry, and exactly-once consumption."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from devfactory.db import Database
from devfactory.errors import ApprovalError
from devfactory.gate.approvals import Approvals
from devfactory.gate.decide import Gate, decide
from devfactory.gate.policy import Policy, ToolCall
from devfactory.gate.signals import BUILTIN_SIGNALS
from devfactory.obs.metrics import GATE_DECISIONS, PENDING_APPROVALS

CALL = ToolCall("deploy", "deploy.remove_property", {"database": "tasks", "property": "Due"})


class Clock:
    """A hand-moved clock."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(store_url: str) -> Iterator[Database]:
    """The store, on SQLite and on PostgreSQL."""
    with Database(store_url) as database:
        yield database


@pytest.fixture
def clock() -> Clock:
    """The injected time."""
    return Clock()


def pending(approvals: Approvals, call: ToolCall = CALL, ttl: float = 60) -> str:
    return approvals.create(call, decide(call, Policy()), ttl=ttl).id


def test_halt_creates_a_pending_approval_with_the_decision(db: Database, clock: Clock) -> None:
    """Gate.check on a halted call stores it pending, with reasons and signals, and a short id."""
    approvals = Approvals(db, clock=clock)
    decision = Gate(Policy(), signals=BUILTIN_SIGNALS, approvals=approvals).check(CALL)
    assert "halt" == decision.decision and decision.approval_id is not None
    assert decision.approval_id.startswith("apr_") and 10 == len(decision.approval_id)
    stored = approvals.get(decision.approval_id)
    assert ("pending", CALL) == (stored.status, stored.call)
    assert decision.reasons == stored.decision["reasons"]
    assert [stored.id] == [a.id for a in approvals.list("pending")]
    assert 1 == PENDING_APPROVALS._value.get()


def test_approved_call_runs_exactly_once(db: Database, clock: Clock) -> None:
    """approve → consume is true once; a replay is false."""
    approvals = Approvals(db, clock=clock)
    ident = pending(approvals)
    before = GATE_DECISIONS.labels("approved")._value.get()
    approved = approvals.approve(ident, "ann", "looks right")
    assert ("approved", "ann", "looks right") == (approved.status, approved.reviewer, approved.note)
    assert before + 1 == GATE_DECISIONS.labels("approved")._value.get()
    assert approvals.consume(ident, CALL)
    assert not approvals.consume(ident, CALL)
    assert "consumed" == approvals.get(ident).status
    assert 0 == PENDING_APPROVALS._value.get()


def test_a_different_call_cannot_use_the_approval(db: Database, clock: Clock) -> None:
    """The fingerprint binds the approval to server, tool and arguments."""
    approvals = Approvals(db, clock=clock)
    ident = pending(approvals)
    approvals.approve(ident, "ann")
    other = ToolCall("deploy", "deploy.remove_property", {"database": "tasks", "property": "Owner"})
    assert not approvals.consume(ident, other)
    assert approvals.consume(ident, CALL)


def test_pending_and_denied_approvals_cannot_be_consumed(db: Database, clock: Clock) -> None:
    """Only approved records are consumable; a denied one never runs."""
    approvals = Approvals(db, clock=clock)
    ident = pending(approvals)
    assert not approvals.consume(ident, CALL)
    approvals.deny(ident, "bob", "wrong database")
    assert not approvals.consume(ident, CALL)
    with pytest.raises(ApprovalError, match="already denied"):
        approvals.approve(ident, "ann")


def test_expired_approvals_cannot_be_approved_or_consumed(db: Database, clock: Clock) -> None:
    """Past its deadline a pending record expires; so does an approved one not yet used."""
    approvals = Approvals(db, clock=clock)
    first, second = pending(approvals, ttl=60), pending(approvals, ttl=60)
    approvals.approve(second, "ann")
    clock.now += 61
    before = GATE_DECISIONS.labels("expired")._value.get()
    with pytest.raises(ApprovalError, match="expired"):
        approvals.approve(first, "ann")
    assert not approvals.consume(second, CALL)
    assert {"expired"} == {approvals.get(first).status, approvals.get(second).status}
    assert before + 2 == GATE_DECISIONS.labels("expired")._value.get()


def test_unknown_id_is_a_clear_error(db: Database) -> None:
    """An unknown id raises ApprovalError naming it; the apr_ prefix may be left out."""
    approvals = Approvals(db)
    with pytest.raises(ApprovalError, match="no approval apr_abcdef"):
        approvals.get("abcdef")
    ident = pending(approvals)
    assert ident == approvals.get(ident.removeprefix("apr_")).id


def test_concurrent_consumers_get_exactly_one_true(store_url: str) -> None:
    """Eight threads, each with its own connection, race to consume: one wins."""
    with Database(store_url) as setup:
        approvals = Approvals(setup)
        ident = pending(approvals)
        approvals.approve(ident, "ann")
    dbs = [Database(store_url) for _ in range(8)]
    stores = [Approvals(d) for d in dbs]
    barrier = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def consume(store: Approvals) -> None:
        barrier.wait()
        won = store.consume(ident, CALL)
        with lock:
            results.append(won)

    threads = [threading.Thread(target=consume, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for d in dbs:
        d.close()
    assert [False] * 7 + [True] == sorted(results)


def test_gate_authorize_and_review_events(db: Database, clock: Clock) -> None:
    """Gate.authorize consumes the approval; on_event sees halt, approved and consumed."""
    events: list[str] = []
    approvals = Approvals(db, clock=clock)
    gate = Gate(
        Policy(),
        signals=BUILTIN_SIGNALS,
        approvals=approvals,
        on_event=lambda k, _: events.append(k),
    )
    decision = gate.check(CALL)
    assert decision.approval_id is not None
    assert not gate.authorize(CALL, decision.approval_id)
    approvals.approve(decision.approval_id, "ann")
    assert gate.authorize(CALL, decision.approval_id)
    assert ["halt", "approved", "consumed"] == events
