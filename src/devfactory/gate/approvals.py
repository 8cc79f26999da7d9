"""Approvals: halted calls waiting for a person, and the once-only use of a yes.

Lifecycle::

    halt ──create──▶ pending ──approve──▶ approved ──consume (same call, once)──▶ consumed
                        │  └────deny────▶ denied
                        └──(expires_at passes; also an unused approval)──▶ expired

Ids are short and typeable (``apr_7f3a9c``). :meth:`Approvals.consume` flips
``approved → consumed`` in one ``UPDATE … WHERE status = 'approved' AND fingerprint = …``, so
of any number of concurrent consumers exactly one gets ``True``; a replay, a different call
under the same id, or an expired approval gets ``False``. Works on SQLite and PostgreSQL
(:class:`devfactory.db.Database`). Reviews are logged on the ``gate`` stream, counted in
``devfactory_gate_decisions_total`` and the ``devfactory_gate_pending_approvals`` gauge is
kept in step.
"""

from __future__ import annotations

import builtins
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from devfactory.db import Database
from devfactory.errors import ApprovalError
from devfactory.gate.policy import ToolCall
from devfactory.obs.log import get_logger
from devfactory.obs.metrics import GATE_DECISIONS, PENDING_APPROVALS

if TYPE_CHECKING:
    from devfactory.gate.decide import Decision

__all__ = ["STATUSES", "Approval", "Approvals", "Status"]

Status = Literal["pending", "approved", "denied", "expired", "consumed"]
STATUSES: tuple[Status, ...] = ("pending", "approved", "denied", "expired", "consumed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    server TEXT NOT NULL,
    tool TEXT NOT NULL,
    call_json TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    decision_json TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    reviewer TEXT,
    note TEXT,
    reviewed_at DOUBLE PRECISION,
    consumed_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS approvals_status ON approvals (status, created_at)
"""
_COLUMNS = (
    "id, created_at, expires_at, status, call_json, fingerprint, decision_json, score, "
    "reviewer, note, reviewed_at, consumed_at"
)


@dataclass(frozen=True, slots=True)
class Approval:
    """One approval record; ``decision`` holds the gate's decision, score, reasons, signals."""

    id: str
    created_at: float
    expires_at: float
    status: Status
    call: ToolCall
    fingerprint: str
    decision: dict[str, Any]
    score: float
    reviewer: str | None = None
    note: str | None = None
    reviewed_at: float | None = None
    consumed_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (times as Unix seconds)."""
        return {
            "id": self.id,
            "status": self.status,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "call": self.call.to_dict(),
            "fingerprint": self.fingerprint,
            "decision": self.decision,
            "score": self.score,
            "reviewer": self.reviewer,
            "note": self.note,
            "reviewed_at": self.reviewed_at,
            "consumed_at": self.consumed_at,
        }


class Approvals:
    """The ``approvals`` table of the store; ``clock`` is injectable for tests."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[str, Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.on_event = on_event
        self._log = get_logger("gate", stream="gate")
        db.script(_SCHEMA)

    def create(self, call: ToolCall, decision: Decision, ttl: float = 3600.0) -> Approval:
        """Record a halted call as pending for ``ttl`` seconds; the new record."""
        now = self.clock()
        data = decision.to_dict()
        data.pop("approval_id", None)
        fingerprint = call.fingerprint()
        with self.db.transaction():
            while True:
                ident = f"apr_{secrets.token_hex(3)}"
                if not self.db.execute("SELECT 1 FROM approvals WHERE id = ?", (ident,)):
                    break
            self.db.execute(
                "INSERT INTO approvals (id, created_at, expires_at, status, server, tool, "
                "call_json, fingerprint, decision_json, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ident,
                    now,
                    now + ttl,
                    "pending",
                    call.server,
                    call.tool,
                    call.to_json(),
                    fingerprint,
                    json.dumps(data, default=str),
                    decision.score,
                ),
            )
        self._sync_gauge()
        return Approval(ident, now, now + ttl, "pending", call, fingerprint, data, decision.score)

    def get(self, ident: str) -> Approval:
        """The approval ``ident`` (``apr_`` may be left out); :class:`ApprovalError` if unknown."""
        self.expire()
        found = self._get(_normal(ident))
        if found is None:
            raise ApprovalError(f"no approval {_normal(ident)}")
        return found

    def list(self, status: Status | None = None, *, limit: int = 200) -> builtins.list[Approval]:
        """Approvals, newest first; only those in ``status`` when given."""
        self.expire()
        if status is None:
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM approvals ORDER BY created_at DESC LIMIT ?", (limit,)
            )
        else:
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM approvals WHERE status = ? ORDER BY created_at DESC LIMIT ?",
                (status, limit),
            )
        return [_row(r) for r in rows]

    def find(self, fingerprint: str, status: Status) -> Approval | None:
        """The newest live record in ``status`` for the call with ``fingerprint``, if any."""
        self.expire()
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM approvals WHERE fingerprint = ? AND status = ? "
            "ORDER BY created_at DESC LIMIT 1",
            (fingerprint, status),
        )
        return _row(rows[0]) if rows else None

    def approve(self, ident: str, reviewer: str, note: str | None = None) -> Approval:
        """Approve a pending call; :class:`ApprovalError` if unknown, reviewed or expired."""
        return self._review(_normal(ident), "approved", reviewer, note)

    def deny(self, ident: str, reviewer: str, note: str | None = None) -> Approval:
        """Deny a pending call; :class:`ApprovalError` if unknown, reviewed or expired."""
        return self._review(_normal(ident), "denied", reviewer, note)

    def expire(self, now: float | None = None) -> int:
        """Mark pending and unused approved records past their deadline expired; how many."""
        moment = self.clock() if now is None else now
        rows = self.db.execute(
            "UPDATE approvals SET status = 'expired' "
            "WHERE status IN ('pending', 'approved') AND expires_at <= ? RETURNING id, tool",
            (moment,),
        )
        if rows:
            GATE_DECISIONS.labels("expired").inc(len(rows))
            for ident, tool in rows:
                self._log.info("gate.review", approval_id=ident, tool=tool, decision="expired")
                self._emit("expired", {"approval_id": ident, "tool": tool})
            self._sync_gauge()
        return len(rows)

    def consume(self, ident: str, call: ToolCall) -> bool:
        """Use an approval for ``call``: true exactly once, and only for the approved call."""
        ident = _normal(ident)
        now = self.clock()
        rows = self.db.execute(
            "UPDATE approvals SET status = 'consumed', consumed_at = ? "
            "WHERE id = ? AND status = 'approved' AND fingerprint = ? AND expires_at > ? "
            "RETURNING id",
            (now, ident, call.fingerprint(), now),
        )
        used = bool(rows)
        self._log.info(
            "gate.consume",
            approval_id=ident,
            server=call.server,
            tool=call.tool,
            allowed=used,
        )
        if used:
            self._emit("consumed", {"approval_id": ident, "server": call.server, "tool": call.tool})
        return used

    def _review(self, ident: str, status: Status, reviewer: str, note: str | None) -> Approval:
        now = self.clock()
        self.expire(now)
        rows = self.db.execute(
            "UPDATE approvals SET status = ?, reviewer = ?, note = ?, reviewed_at = ? "
            "WHERE id = ? AND status = 'pending' AND expires_at > ? RETURNING id",
            (status, reviewer, note, now, ident, now),
        )
        found = self._get(ident)
        if not rows or found is None:
            if found is None:
                raise ApprovalError(f"no approval {ident}")
            if found.status == "expired":
                raise ApprovalError(f"{ident} expired: it can no longer be reviewed")
            raise ApprovalError(f"{ident} is already {found.status} (by {found.reviewer or '?'})")
        self._sync_gauge()
        GATE_DECISIONS.labels(status).inc()
        self._log.info(
            "gate.review",
            approval_id=ident,
            server=found.call.server,
            tool=found.call.tool,
            decision=status,
            reviewer=reviewer,
            note=note,
            waited_seconds=round(now - found.created_at, 3),
        )
        self._emit(
            status,
            {
                "approval_id": ident,
                "server": found.call.server,
                "tool": found.call.tool,
                "reviewer": reviewer,
                "note": note,
            },
        )
        return found

    def _get(self, ident: str) -> Approval | None:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM approvals WHERE id = ?", (ident,))
        return _row(rows[0]) if rows else None

    def _sync_gauge(self) -> None:
        rows = self.db.execute("SELECT COUNT(*) FROM approvals WHERE status = 'pending'")
        PENDING_APPROVALS.set(rows[0][0])

    def _emit(self, kind: str, payload: Mapping[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(kind, payload)


def _normal(ident: str) -> str:
    ident = ident.strip()
    return ident if ident.startswith("apr_") else f"apr_{ident}"


def _row(row: tuple[Any, ...]) -> Approval:
    return Approval(
        id=row[0],
        created_at=float(row[1]),
        expires_at=float(row[2]),
        status=row[3],
        call=ToolCall.from_json(row[4]),
        fingerprint=row[5],
        decision=json.loads(row[6]),
        score=float(row[7]),
        reviewer=row[8],
        note=row[9],
        reviewed_at=None if row[10] is None else float(row[10]),
        consumed_at=None if row[11] is None else float(row[11]),
    )
