"""The REST API: logs, operations, approvals, metrics, deployments, and the served extras."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from devfactory.gate.approvals import Approvals
from devfactory.gate.decide import decide
from devfactory.gate.policy import Policy, ToolCall
from tests.web.conftest import Dashboard

CALL = ToolCall("docker", "docker__remove", {"container": "old-job"})


def line(n: int, **fields: Any) -> dict[str, Any]:
    record = {
        "timestamp": f"2026-01-02T03:04:{n:02d}.000000Z",
        "level": "info",
        "stream": "operations",
        "component": "deploy",
        "event": f"step.{n}",
    }
    record.update(fields)
    return record


class TestLogs:
    def test_search_filters_and_pages_with_a_cursor(self, dashboard: Dashboard) -> None:
        """Filters narrow the lines; the cursor walks every match once, newest first."""
        dashboard.write_logs(
            *(line(n) for n in range(7)),
            line(10, level="error", event="apply.failed", error="duplicate title"),
            line(11, stream="gate", component="gate", event="gate.review"),
        )
        with dashboard.client("viewer") as http:
            assert ["apply.failed"] == [
                r["event"]
                for r in http.get("/api/v1/logs", params={"q": "duplicate"}).json()["lines"]
            ]
            assert ["apply.failed"] == [
                r["event"]
                for r in http.get("/api/v1/logs", params={"level": "error"}).json()["lines"]
            ]
            gate = http.get("/api/v1/logs", params={"stream": "gate"}).json()["lines"]
            assert ["gate.review"] == [r["event"] for r in gate]
            seen: list[str] = []
            params: dict[str, Any] = {"component": "deploy", "limit": 3}
            while True:
                page = http.get("/api/v1/logs", params=params).json()
                seen += [r["event"] for r in page["lines"]]
                if page["next_cursor"] is None:
                    break
                params["cursor"] = page["next_cursor"]
        assert ["apply.failed", *(f"step.{n}" for n in range(6, -1, -1))] == seen

    def test_time_range_and_bad_parameters(self, dashboard: Dashboard) -> None:
        """since/until bound the time; a bad level or cursor is a clear 4xx JSON error."""
        dashboard.write_logs(*(line(n) for n in range(5)))
        with dashboard.client("viewer") as http:
            found = http.get(
                "/api/v1/logs",
                params={"since": "2026-01-02T03:04:01Z", "until": "2026-01-02T03:04:03Z"},
            ).json()["lines"]
            assert ["step.2", "step.1"] == [r["event"] for r in found]
            bad = http.get("/api/v1/logs", params={"level": "loud"})
            assert 422 == bad.status_code and "level" in bad.json()["error"]
            assert 400 == http.get("/api/v1/logs", params={"cursor": "!!"}).status_code

    def test_tail_continues_after_an_id(self, dashboard: Dashboard) -> None:
        """tail?after=ID returns only the lines stored later, oldest first."""
        dashboard.write_logs(line(1), line(2))
        with dashboard.client("viewer") as http:
            first = http.get("/api/v1/logs/tail").json()
            dashboard.write_logs(line(3))
            later = http.get("/api/v1/logs/tail", params={"after": first["last_id"]}).json()
        assert ["step.3"] == [r["event"] for r in later["lines"]]

    def test_operation_tree(self, dashboard: Dashboard) -> None:
        """An operation's lines include its children's; an unknown id is 404."""
        dashboard.write_logs(
            line(1, operation_id="op-a", event="deploy.start"),
            line(2, operation_id="op-b", parent_operation_id="op-a", event="step.run"),
            line(3, operation_id="op-z", event="other"),
        )
        with dashboard.client("viewer") as http:
            tree = http.get("/api/v1/operations/op-a").json()
            missing = http.get("/api/v1/operations/op-nope")
        assert ["deploy.start", "step.run"] == [r["event"] for r in tree["lines"]]
        assert 404 == missing.status_code and "op-nope" in missing.json()["error"]


class TestApprovals:
    def test_approve_records_the_reviewer_and_audits(self, dashboard: Dashboard) -> None:
        """An operator's approve moves pending → approved with its name, note and an audit line."""
        ident = Approvals(dashboard.store).create(CALL, decide(CALL, Policy()), ttl=600).id
        with dashboard.client("operator") as http:
            assert [ident] == [
                a["id"] for a in http.get("/api/v1/approvals?status=pending").json()["approvals"]
            ]
            answer = http.post(f"/api/v1/approvals/{ident}/approve", json={"note": "looks fine"})
            again = http.post(f"/api/v1/approvals/{ident}/deny", json={})
            shown = http.get(f"/api/v1/approvals/{ident}").json()
        assert 200 == answer.status_code
        assert ("approved", "operator-1", "looks fine") == (
            shown["status"],
            shown["reviewer"],
            shown["note"],
        )
        assert 409 == again.status_code and "already approved" in again.json()["error"]
        reviews = [r for r in dashboard.audit() if r["event"] == "web.review"]
        assert [(ident, "approved", "operator-1")] == [
            (r["approval_id"], r["decision"], r["reviewer"]) for r in reviews
        ]

    def test_deny_and_unknown(self, dashboard: Dashboard) -> None:
        """An admin may deny (no body needed); an unknown id is 404."""
        ident = Approvals(dashboard.store).create(CALL, decide(CALL, Policy()), ttl=600).id
        with dashboard.client("admin") as http:
            denied = http.post(f"/api/v1/approvals/{ident}/deny")
            missing = http.post("/api/v1/approvals/apr_000000/approve", json={})
        assert ("denied", "admin-1") == (denied.json()["status"], denied.json()["reviewer"])
        assert 404 == missing.status_code


class TestOverview:
    def test_metrics_summary(self, dashboard: Dashboard) -> None:
        """The summary counts the call lines of the shared log store in its window: calls,
        success rate, percentiles, retries, 429s, the rate budget; approvals; the process."""
        Approvals(dashboard.store).create(CALL, decide(CALL, Policy()), ttl=600)
        now = datetime.now(UTC)

        def at(seconds_ago: float) -> str:
            return (now - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        gateway = {"level": "info", "stream": "audit", "component": "gateway", "event": "mcp.call"}
        notion = {"level": "info", "stream": "performance", "component": "notion"}
        dashboard.write_logs(
            {**gateway, "timestamp": at(5), "outcome": "ok", "duration_s": 0.010},
            {**gateway, "timestamp": at(6), "outcome": "halted", "duration_s": 0.030},
            {**gateway, "timestamp": at(20 * 60), "outcome": "ok", "duration_s": 9.0},  # too old
            {
                **notion,
                "event": "notion call",
                "timestamp": at(7),
                "status": 200,
                "duration_s": 0.020,
                "attempt": 1,
                "rate_limit_wait_s": 0.5,
            },
            {
                **notion,
                "event": "notion call",
                "timestamp": at(120),
                "status": 429,
                "duration_s": 0.040,
                "attempt": 2,
                "rate_limit_wait_s": 0.0,
            },
            {**gateway, "event": "web.access", "timestamp": at(1)},  # not a call
        )
        with dashboard.client("viewer") as http:
            body = http.get("/api/v1/metrics/summary").json()
        calls = body["calls"]
        assert (4, 3) == (calls["total"], calls["per_minute"])
        assert {"mcp": 2, "notion": 2} == calls["by_kind"]
        assert {"ok": 2, "halted": 1, "client_error": 1} == calls["by_outcome"]
        assert 0.5 == calls["success_rate"]
        assert {"p50": 0.025, "p95": 0.0385} == body["latency_seconds"]
        assert (1, 1) == (body["retries"], body["rate_limited"])
        budget = body["rate_limit"]
        assert (3.0, round(1 / 60, 4)) == (budget["allowed_per_second"], budget["used_per_second"])
        assert 0.5 == budget["wait_seconds"]
        series = body["series"]
        assert 15 == len(series["calls"]) and 4 == sum(series["calls"])
        assert 2 == sum(series["errors"])
        assert 1 == body["pending_approvals"]
        assert body["process"]["resident_memory_bytes"] > 0

    def test_deployments_backups_databases(self, dashboard: Dashboard) -> None:
        """Reports, backups (with their restore command) and states are listed from home."""
        (dashboard.home / "reports").mkdir(parents=True)
        (dashboard.home / "reports" / "acme.dev.20260102T030405.yaml").write_text(
            "workspace: acme\nenvironment: dev\nresult: applied\nchanges: [a, b]\n"
            "verification: {clean: true}\n"
        )
        (dashboard.home / "backups").mkdir()
        (dashboard.home / "backups" / "acme.dev.20260102T030405Z.dfbak").write_bytes(b"x" * 9)
        with dashboard.client("viewer") as http:
            reports = http.get("/api/v1/deployments").json()["deployments"]
            backups = http.get("/api/v1/backups").json()["backups"]
            databases = http.get("/api/v1/databases").json()["databases"]
        assert [("acme", "applied", 2, True)] == [
            (r["workspace"], r["result"], r["changes"], r["verified"]) for r in reports
        ]
        assert "2026-01-02T03:04:05Z" == backups[0]["created"]
        assert backups[0]["restore_command"].startswith("devfactory restore ")
        assert [] == databases

    def test_metrics_docs_health_and_json_404(self, dashboard: Dashboard) -> None:
        """/metrics, /docs, /openapi.json and /health are served; unknown paths are JSON 404s."""
        with dashboard.client() as http:
            metrics = http.get("/metrics")
            assert 200 == metrics.status_code and "devfactory_calls_total" in metrics.text
            assert 200 == http.get("/docs").status_code
            paths = http.get("/openapi.json").json()["paths"]
            assert {"/api/v1/logs", "/api/v1/approvals/{approval_id}/approve"} <= paths.keys()
            assert http.get("/health").json()["ok"] is True
            missing = http.get("/api/v1/nothing")
        assert (404, False) == (missing.status_code, missing.json()["ok"])
