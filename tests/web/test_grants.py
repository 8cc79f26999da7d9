"""Per-database grants bound reviews as they bound the gateway's calls: approving a halted
call needs ``write`` on the database it names, and a deploy needs ``deploy`` on every
database its destructive changes touch; keys without grants reach every database."""

from __future__ import annotations

import pytest

from devfactory.gate.approvals import Approvals
from devfactory.gate.decide import decide
from devfactory.gate.policy import Policy, ToolCall
from devfactory.mcp.access import Principal, review_problem
from tests.web.conftest import Dashboard

TRASH = ToolCall("notion", "notion__trash_page", {"database": "projects", "page": "Acme ERP"})
DESTROY = ToolCall(
    "deploy",
    "deploy.destroy",
    {"workspace": "consulting", "environment": "dev", "target": "local",
     "changes": ["- clients.Website: removed", "- tasks.Due: removed"]},
)  # fmt: skip


@pytest.mark.parametrize(
    ("grants", "call", "allowed"),
    [
        (None, TRASH, True),
        ({"projects": "write"}, TRASH, True),
        ({"projects": "read"}, TRASH, False),
        ({"clients": "deploy"}, TRASH, False),
        ({"clients": "deploy", "tasks": "deploy"}, DESTROY, True),
        ({"clients": "deploy", "tasks": "write"}, DESTROY, False),
        ({"clients": "deploy"}, ToolCall("deploy", "deploy.destroy", {"changes": []}), False),
    ],
)
def test_review_problem(grants: dict[str, str] | None, call: ToolCall, allowed: bool) -> None:
    problem = review_problem(
        Principal("ann", "operator", None, grants), call.server, call.arguments
    )
    assert (problem is None) is allowed, problem


def test_a_reviewer_without_the_grant_is_refused_and_the_call_stays_pending(
    dashboard: Dashboard,
) -> None:
    ident = Approvals(dashboard.store).create(TRASH, decide(TRASH, Policy()), ttl=600).id
    reader = dashboard.ctx.keys.create("reader-op", "operator", {"projects": "read"})
    writer = dashboard.ctx.keys.create("writer-op", "operator", {"projects": "write"})
    with dashboard.client(key=reader) as http:
        refused = http.post(f"/api/v1/approvals/{ident}/approve", json={})
        assert http.get(f"/api/v1/approvals/{ident}").json()["status"] == "pending"
    assert refused.status_code == 403
    assert "may not write database 'projects'" in refused.json()["error"]
    denied = [r for r in dashboard.audit() if r.get("decision") == "denied"]
    assert any(r.get("principal") == "reader-op" and r.get("via") == "review" for r in denied)
    with dashboard.client(key=writer) as http:
        approved = http.post(f"/api/v1/approvals/{ident}/approve", json={"note": "ok"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
