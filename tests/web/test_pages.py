"""The HTML pages, the panel registry and the chart endpoints, through FastAPI's TestClient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from fastapi.testclient import TestClient

from devfactory.config import Settings
from devfactory.db import Database
from devfactory.gate.approvals import Approvals
from devfactory.gate.decide import decide
from devfactory.gate.policy import Policy, ToolCall
from devfactory.obs import log
from devfactory.obs.events import MemoryBus
from devfactory.web import create_app
from devfactory.web.context import WebContext
from devfactory.web.panels import BUILTIN, REGISTRY, Panel, PanelRegistry

CALL = ToolCall("docker", "docker__remove", {"container": "old-job"})
PAGES = {
    "/": "Overview",
    "/logs": "Logs",
    "/operations/op-root": "Operation",
    "/approvals": "Approvals",
    "/deployments": "Deployments",
    "/gate": "Gate decisions",
    "/workspaces": "Workspaces",
}


class Site:
    """A dashboard app on a tmp store, and a way in for each role."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.store = Database(f"sqlite:///{home / 'devfactory.db'}")
        self.sink = log.MemorySink()
        log.configure(logs_dir=None, sinks=[self.sink], level="debug")
        self.app = create_app(Settings(home=home), store=self.store, bus=MemoryBus())
        self.ctx: WebContext = self.app.state.web
        self.keys = {r: self.ctx.keys.create(f"{r}-1", r) for r in ("admin", "operator", "viewer")}

    def client(self, role: str | None = None) -> TestClient:
        """A client signed in through the form as ``role`` (none: signed out)."""
        client = TestClient(self.app, follow_redirects=False)
        if role is not None:
            answer = client.post("/login", data={"key": self.keys[role], "next": "/"})
            assert 303 == answer.status_code
        return client

    def write(self, *records: dict[str, Any]) -> None:
        """Store log lines as the log writer would."""
        self.ctx.logs.write([(orjson.dumps(r), r) for r in records])


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = Site(tmp_path / "home")
    try:
        yield made
    finally:
        log.shutdown()
        made.store.close()


def stamp(seconds_ago: float = 0.0) -> str:
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def line(event: str, seconds_ago: float = 0.0, **fields: Any) -> dict[str, Any]:
    base = {"level": "info", "stream": "operations", "component": "deploy"}
    return {"timestamp": stamp(seconds_ago), **base, "event": event, **fields}


class TestSignIn:
    @pytest.mark.parametrize("path", sorted(PAGES))
    def test_signed_out_goes_to_the_sign_in_page(self, site: Site, path: str) -> None:
        """Without a session every page answers 303 to /login with the page as ``next``."""
        answer = site.client().get(path)
        assert 303 == answer.status_code
        assert f"/login?next={quote(path, safe='')}" == answer.headers["location"]

    def test_the_query_string_survives_the_detour(self, site: Site) -> None:
        """``next`` keeps the filters of the page asked for."""
        answer = site.client().get("/logs?level=error&q=boom")
        assert "/login?next=%2Flogs%3Flevel%3Derror%26q%3Dboom" == answer.headers["location"]

    @pytest.mark.parametrize(("path", "heading"), sorted(PAGES.items()))
    def test_signed_in_shows_the_page(self, site: Site, path: str, heading: str) -> None:
        """With a session each page renders its heading, the nav and who is signed in."""
        answer = site.client("viewer").get(path)
        assert 200 == answer.status_code
        assert f"<h1>{heading}" in answer.text
        assert 'data-testid="signed-in-as">viewer-1<' in answer.text
        assert 'data-testid="sign-out"' in answer.text

    def test_a_revoked_key_ends_the_page_session(self, site: Site) -> None:
        """Revoking the key sends its session back to sign in."""
        client = site.client("viewer")
        site.ctx.keys.revoke("viewer-1")
        assert 303 == client.get("/").status_code

    def test_assets_are_served_locally(self, site: Site) -> None:
        """The pages' scripts, styles and the vendored chart library come from /static."""
        client = site.client()
        for path in (
            "/static/vendor/uplot/uPlot.iife.min.js",
            "/static/vendor/uplot/LICENSE",
            "/static/js/common.js",
            "/static/js/logs.js",
            "/static/css/dashboard.css",
        ):
            assert 200 == client.get(path).status_code, path
        page = site.client("viewer").get("/").text
        assert "http://" not in page.replace("http://testserver", "")
        assert "https://" not in page


class TestApprovalsPage:
    def test_viewers_see_the_call_but_no_buttons(self, site: Site) -> None:
        """A viewer reads the pending call with its reasons and signals, and cannot review."""
        ident = Approvals(site.store).create(CALL, decide(CALL, Policy()), ttl=600).id
        text = site.client("viewer").get("/approvals").text
        assert f'data-approval-id="{ident}"' in text
        assert "docker__remove" in text and "destructiveness" in text
        assert 'data-testid="approve"' not in text and "<textarea" not in text

    @pytest.mark.parametrize("role", ["operator", "admin"])
    def test_reviewers_get_a_note_and_both_buttons(self, site: Site, role: str) -> None:
        """Operators and admins get the note field and approve / deny for each row."""
        ident = Approvals(site.store).create(CALL, decide(CALL, Policy()), ttl=600).id
        rows = site.client(role).get("/approvals/rows").text
        assert rows.count('data-testid="approval-row"') == 1
        assert f'data-approval-id="{ident}"' in rows
        assert 'data-testid="approve"' in rows and 'data-testid="deny"' in rows
        assert f'id="note-{ident}"' in rows

    def test_reviewed_calls_leave_the_pending_list(self, site: Site) -> None:
        """Once denied, a call is listed under the recent reviews with the note."""
        approvals = Approvals(site.store)
        ident = approvals.create(CALL, decide(CALL, Policy()), ttl=600).id
        approvals.deny(ident, "admin-1", "not today")
        text = site.client("operator").get("/approvals").text
        assert 'data-testid="approval-row"' not in text
        assert "not today" in text and 'data-testid="pending-count">0<' in text


class TestOtherPages:
    def test_operation_timeline_spans_child_operations(self, site: Site) -> None:
        """The timeline lists the operation's lines and its children's, in time order."""
        site.write(
            line("apply.started", 3, operation_id="op-root"),
            line(
                "notion call",
                2,
                component="notion",
                operation_id="op-child",
                parent_operation_id="op-root",
            ),
            line("apply.finished", 1, operation_id="op-root"),
            line("elsewhere", 1, operation_id="op-other"),
        )
        text = site.client("viewer").get("/operations/op-root").text
        events = [e for e in ("apply.started", "notion call", "apply.finished") if e in text]
        assert 3 == text.count('data-testid="timeline-row"') == len(events)
        assert (
            text.index("apply.started") < text.index("notion call") < text.index("apply.finished")
        )
        assert "elsewhere" not in text
        assert 'href="/operations/op-child"' in text

    def test_an_unknown_operation_says_so(self, site: Site) -> None:
        text = site.client("viewer").get("/operations/op-none").text
        assert 'data-testid="operation-missing"' in text

    def test_deployments_list_reports_and_backups(self, site: Site) -> None:
        """Reports and backups come from home, each backup with its restore command."""
        (site.home / "reports").mkdir(parents=True)
        (site.home / "reports" / "acme.dev.20260102T030405.yaml").write_text(
            "workspace: acme\nenvironment: dev\nresult: applied\nchanges: [a]\n"
        )
        (site.home / "backups").mkdir()
        (site.home / "backups" / "acme.dev.20260102T030405Z.dfbak").write_bytes(b"x")
        text = site.client("viewer").get("/deployments").text
        assert 1 == text.count('data-testid="report-row"')
        assert "devfactory restore " in text and 'id="drift"' in text

    def test_workspaces_count_databases_and_show_the_last_apply(self, site: Site) -> None:
        """One row per workspace and environment, from the states and the reports."""
        (site.home / "state").mkdir(parents=True)
        state = {
            "workspace": "acme",
            "environment": "prod",
            "target": "notion",
            "databases": {"clients": {"database_id": "d1"}, "tasks": {"database_id": "d2"}},
        }
        (site.home / "state" / "acme.prod.json").write_text(json.dumps(state))
        (site.home / "reports").mkdir()
        (site.home / "reports" / "acme.prod.20260102T030405.yaml").write_text(
            "workspace: acme\nenvironment: prod\nresult: applied\nstarted: '2026-01-02T03:04:05Z'\n"
        )
        text = site.client("viewer").get("/workspaces").text
        assert 1 == text.count('data-testid="workspace-row"')
        assert 'data-testid="workspace-databases">2<' in text
        assert "2026-01-02 03:04:05" in text and "applied" in text

    def test_gate_page_counts_decisions_by_tool_and_reason(self, site: Site) -> None:
        """The gate page tabulates the gate.decision lines of the last day."""
        site.write(
            line(
                "gate.decision",
                5,
                stream="gate",
                component="gate",
                tool="fs__move",
                decision="halt",
                reasons=["destructive"],
            ),
            line(
                "gate.decision",
                4,
                stream="gate",
                component="gate",
                tool="fs__read",
                decision="allow",
                reasons=[],
            ),
        )
        text = site.client("viewer").get("/gate").text
        assert 'data-tool="fs__move"' in text and "destructive" in text
        assert '"halt"' in text  # the embedded chart data


class TestPanels:
    def test_every_overview_widget_is_a_builtin_panel(self, site: Site) -> None:
        """The overview renders the built-in panels in order, with their live hooks."""
        text = site.client("viewer").get("/").text
        positions = [text.index(f'data-panel="{p.name}"') for p in BUILTIN]
        assert positions == sorted(positions)
        for hook in ("calls-total", "latency-p95", "rate-budget", "process-memory", "chart-calls"):
            assert f'data-testid="{hook}"' in text

    def test_the_approvals_panel_counts_on_the_server(self, site: Site) -> None:
        """A built-in panel's data function fills its template."""
        Approvals(site.store).create(CALL, decide(CALL, Policy()), ttl=600)
        text = site.client("viewer").get("/").text
        assert 'data-testid="pending-approvals">1<' in text

    def test_a_panel_registered_at_runtime_appears(self, site: Site) -> None:
        """A panel added to the registry shows on the next render with its data."""
        seen: list[str] = []

        def data(ctx: WebContext, principal: Any) -> dict[str, Any]:
            seen.append(principal.name)
            return {"value": 42, "caption": "answers"}

        REGISTRY.register(Panel("answers", "The answer", "panels/stat.html", data, order=1))
        try:
            text = site.client("viewer").get("/").text
        finally:
            REGISTRY.unregister("answers")
        assert ["viewer-1"] == seen
        assert 'id="panel-answers"' in text and ">42<" in text
        assert text.index('data-panel="answers"') < text.index('data-panel="calls"')
        assert 'id="panel-answers"' not in site.client("viewer").get("/").text

    def test_a_failing_panel_shows_an_error_and_the_rest_renders(self, site: Site) -> None:
        """A data function that raises becomes an error box in its place."""

        def broken(ctx: WebContext, principal: Any) -> dict[str, Any]:
            raise RuntimeError("no backend")

        REGISTRY.register(Panel("broken", "Broken", "panels/stat.html", broken))
        try:
            answer = site.client("viewer").get("/")
        finally:
            REGISTRY.unregister("broken")
        assert 200 == answer.status_code
        assert 'data-testid="panel-failed"' in answer.text and "no backend" in answer.text
        assert 'data-testid="calls-total"' in answer.text
        assert ["broken"] == [
            r["panel"] for r in site.sink.records() if r["event"] == "web.panel_failed"
        ]

    def test_registry_orders_filters_and_refuses_duplicates(self) -> None:
        """Panels come by order then name, per page; a name is registered once."""
        registry = PanelRegistry(group=None)
        nothing = BUILTIN[0].data
        b = registry.register(Panel("b", "B", "panels/stat.html", nothing, order=5))
        a = registry.register(Panel("a", "A", "panels/stat.html", nothing, order=5))
        first = registry.register(Panel("z", "Z", "panels/stat.html", nothing, order=1))
        registry.register(Panel("g", "G", "panels/stat.html", nothing, page="gate"))
        assert [first, a, b] == registry.panels_for("overview")
        assert ["g"] == [p.name for p in registry.panels_for("gate")]
        with pytest.raises(ValueError, match="already registered"):
            registry.register(replace(a, title="again"))
        with pytest.raises(TypeError):
            registry.register("not a panel")  # type: ignore[arg-type]


PLUGIN = """
from devfactory.web.panels import Panel

def data(ctx, principal):
    return {"depth": 7}

queue = Panel("queue", "Queue depth", "df_test_panels:templates/queue.html", data, order=2)
not_a_panel = {"name": "nope"}
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PanelRegistry]:
    """An installed distribution with three ``devfactory.web_panels`` entry points: a good
    panel (its template inside its own package), a module that does not import, and an
    object that is not a Panel. Yields a registry with the built-ins that reads them."""
    site_dir = tmp_path / "site"
    package = site_dir / "df_test_panels"
    (package / "templates").mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN)
    (package / "templates" / "queue.html").write_text(
        '<p data-testid="queue-depth">{{ data.depth }} jobs for {{ principal.name }}</p>'
    )
    dist = site_dir / "df_test_panels-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: df-test-panels\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[devfactory.web_panels]\n"
        "queue = df_test_panels:queue\n"
        "missing = df_no_such_module:panel\n"
        "odd = df_test_panels:not_a_panel\n"
    )
    monkeypatch.syspath_prepend(str(site_dir))
    registry = PanelRegistry()
    for panel in BUILTIN:
        registry.register(panel)
    yield registry


class TestPanelPlugins:
    def test_entry_points_load_and_broken_ones_are_skipped(
        self, site: Site, plugins: PanelRegistry
    ) -> None:
        """The good entry point's panel is found; the two broken ones are warnings."""
        assert ["queue"] == [p.name for p in plugins.discover()]
        failed = [r for r in site.sink.records() if r["event"] == "web.panel_failed"]
        assert {"missing", "odd"} == {r["entry_point"] for r in failed}
        assert all(r["level"] == "warning" for r in failed)

    def test_a_plugin_panel_renders_on_the_overview(
        self, site: Site, plugins: PanelRegistry
    ) -> None:
        """With broken entry points installed the overview still renders, plugin included."""
        site.app.state.panels = plugins
        answer = site.client("admin").get("/")
        assert 200 == answer.status_code
        assert 'data-testid="queue-depth">7 jobs for admin-1<' in answer.text
        assert 'data-testid="calls-total"' in answer.text


class TestCharts:
    def test_histogram_counts_the_filtered_lines(self, site: Site) -> None:
        """Per-slice counts of the lines matching the /logs filters in the range."""
        now = datetime.now(UTC)
        site.write(
            line("a", 50, level="error"),
            line("b", 40),
            line("c", 5, level="error"),
            line("old", 3600, level="error"),
        )
        params: dict[str, Any] = {
            "since": (now - timedelta(seconds=60)).isoformat(),
            "until": now.isoformat(),
            "buckets": 6,
        }
        with site.client("viewer") as http:
            every = http.get("/api/v1/logs/histogram", params=params).json()
            errors = http.get("/api/v1/logs/histogram", params={**params, "level": "error"}).json()
            default = http.get("/api/v1/logs/histogram", params={"level": "error"}).json()
        assert [0, 1, 1, 0, 0, 1] == every["counts"] and 3 == every["total"]
        assert [0, 1, 0, 0, 0, 1] == errors["counts"]
        assert 6 == len(every["starts"]) and 10.0 == every["step_seconds"]
        assert 2 == default["total"] and 60 == len(default["counts"])  # the last 15 minutes

    def test_histogram_refuses_an_empty_range_and_needs_a_caller(self, site: Site) -> None:
        now = datetime.now(UTC).isoformat()
        with site.client("viewer") as http:
            bad = http.get("/api/v1/logs/histogram", params={"since": now, "until": now})
        assert 400 == bad.status_code
        assert 401 == site.client().get("/api/v1/logs/histogram").status_code

    def test_gate_decisions_by_decision_tool_and_reason(self, site: Site) -> None:
        """Only gate.decision lines count: per slice, per tool, per reason, latest first."""
        gate = {"stream": "gate", "component": "gate"}
        site.write(
            line(
                "gate.decision",
                30,
                tool="fs__move",
                decision="halt",
                reasons=["destructive", "outside root"],
                **gate,
            ),
            line(
                "gate.decision",
                20,
                tool="fs__move",
                decision="deny",
                reasons=["destructive"],
                **gate,
            ),
            line("gate.decision", 10, tool="fs__read", decision="allow", reasons=[], **gate),
            line("gate.review", 5, tool="fs__move", decision="approved", **gate),
        )
        with site.client("viewer") as http:
            body = http.get("/api/v1/gate/decisions", params={"buckets": 4}).json()
        assert 3 == body["total"]
        assert [("fs__move", 0, 1, 1, 2), ("fs__read", 1, 0, 0, 1)] == [
            (r["tool"], r["allow"], r["halt"], r["deny"], r["total"]) for r in body["by_tool"]
        ]
        assert {"destructive": 2, "outside root": 1} == {
            r["reason"]: r["count"] for r in body["by_reason"]
        }
        assert {"allow": 1, "halt": 1, "deny": 1} == {k: sum(v) for k, v in body["series"].items()}
        assert "fs__read" == body["recent"][0]["tool"]
