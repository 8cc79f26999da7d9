"""The dashboard's pages in a real browser: sign in through the form, then every page shows
what the store holds, live where it should be, with a screenshot of each.

Log lines are emitted through :mod:`devfactory.obs.log` into the dashboard's own log store
(a :class:`~devfactory.obs.logstore.BatchWriter`, as ``devfactory web`` and the gateway
do), so the pages read them back exactly as they would another process's lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from devfactory.gate.approvals import Approvals
from devfactory.gate.decide import decide
from devfactory.gate.policy import Policy, ToolCall
from devfactory.obs import log
from devfactory.obs.logstore import BatchWriter
from tests.browser.conftest import WebServer, save_screenshot

CALL = ToolCall("docker", "docker__remove", {"container": "old-job"})
LIVE = 1_000  # ms: a new line must show within a second


@dataclass
class Seeded:
    """The dashboard with lines in its log store and a pending approval."""

    server: WebServer
    writer: BatchWriter
    operation_id: str
    approval_id: str

    def emit_call(self, tool: str, outcome: str = "ok", duration: float = 0.012) -> None:
        """One gateway audit line, as the gateway writes it for a tool call."""
        log.get_logger("gateway", stream="audit").info(
            "mcp.call", tool=tool, server="fs", outcome=outcome, duration_s=duration
        )


@pytest.fixture
def seeded(web_server: WebServer) -> Iterator[Seeded]:
    writer = BatchWriter(web_server.ctx.logs)
    log.configure(logs_dir=None, sinks=[writer], level="debug")
    home = web_server.ctx.settings.home
    gateway = log.get_logger("gateway", stream="audit")
    for n, tool in enumerate(("fs__read_file", "fs__list_directory", "fs__write_file")):
        gateway.info("mcp.call", tool=tool, server="fs", outcome="ok", duration_s=0.01 * (n + 1))
    deploy = log.get_logger("deploy")
    with log.operation("deploy.apply", component="deploy", workspace="acme") as op:
        deploy.info("plan.made", steps=2)
        with log.operation("notion.sync", component="notion"):
            log.get_logger("notion").info("page.created", title="Clients")
        deploy.error("apply.failed", error="duplicate title")
    gate = log.get_logger("gate", stream="gate")
    gate.warning(
        "gate.decision",
        server="docker",
        tool="docker__remove",
        decision="halt",
        reasons=["destructive tool"],
        score=0.8,
    )
    gate.info("gate.decision", server="fs", tool="fs__read_file", decision="allow", reasons=[])
    approval = Approvals(web_server.store).create(CALL, decide(CALL, Policy()), ttl=600)
    (home / "reports").mkdir(parents=True, exist_ok=True)
    (home / "reports" / "acme.dev.20260102T030405.yaml").write_text(
        "workspace: acme\nenvironment: dev\nresult: applied\nstarted: '2026-01-02T03:04:05Z'\n"
        "changes: [a, b]\nverification: {clean: true}\n"
    )
    (home / "backups").mkdir(exist_ok=True)
    (home / "backups" / "acme.dev.20260102T030405Z.dfbak").write_bytes(b"x" * 64)
    (home / "state").mkdir(exist_ok=True)
    state = {
        "workspace": "acme",
        "environment": "dev",
        "target": "local",
        "databases": {"clients": {"database_id": "d1"}, "tasks": {"database_id": "d2"}},
    }
    (home / "state" / "acme.dev.json").write_text(json.dumps(state))
    (home / "verification").mkdir()
    suite = {
        "suite": "ndb", "workspace": "acme", "environment": "dev", "target": "local",
        "started": "2026-01-02T03:05:00Z", "seconds": 4.2, "result": "fail",
        "summary": {"pass": 1, "fail": 1},
        "checks": [
            {"id": "NDB-IP1.2", "description": "schema and data", "result": "pass"},
            {"id": "NDB-IP1.7", "description": "deployment", "result": "fail",
             "detail": "no backup; run devfactory backup"},
        ],
    }  # fmt: skip
    (home / "verification" / "ndb.acme.dev.20260102T030500Z.yaml").write_text(json.dumps(suite))
    writer.flush()
    yield Seeded(web_server, writer, op.id, approval.id)


def sign_in(page: Page, server: WebServer, path: str = "/", key: str | None = None) -> None:
    """Open ``path`` signed out, get sent to the form, sign in, land on ``path``."""
    page.goto(f"{server.url}{path}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#key", key or server.admin_key)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.url}{path}")
    # The URL changes when the page starts to load; its scripts (the buttons' handlers) have
    # run only once it has loaded, as after page.goto.
    page.wait_for_load_state("load")


def test_overview_numbers_charts_and_live_calls(page: Page, seeded: Seeded, tmp_path: Path) -> None:
    """The overview counts the calls in the store, draws its charts, and a new call shows
    within a second."""
    sign_in(page, seeded.server)
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    expect(page.get_by_test_id("calls-total")).to_have_text("3")
    expect(page.get_by_test_id("success-rate")).to_have_text("100 %")
    expect(page.get_by_test_id("latency-p50")).to_have_text("20 ms")
    expect(page.get_by_test_id("pending-approvals")).to_have_text("1")
    expect(page.get_by_test_id("process-memory")).to_contain_text("MiB")
    expect(page.locator("#chart-calls canvas")).to_have_count(1)
    expect(page.locator("#chart-latency canvas")).to_have_count(1)
    expect(page.get_by_test_id("signed-in-as")).to_have_text(seeded.server.admin_name)
    seeded.emit_call("fs__search_files", outcome="tool_error")
    expect(page.get_by_test_id("calls-total")).to_have_text("4", timeout=LIVE)
    expect(page.get_by_test_id("success-rate")).to_have_text("75.0 %")
    save_screenshot(page, tmp_path, "overview.png")


def test_logs_search_filters_click_to_filter_and_tail(
    page: Page, seeded: Seeded, tmp_path: Path
) -> None:
    """Lines logged before show; the level filter narrows them; clicking a field filters by
    it; the histogram draws; a new line arrives live, and pausing holds the view."""
    sign_in(page, seeded.server, "/logs")
    rows = page.get_by_test_id("log-row")
    expect(page.locator('[data-testid="log-row"][data-event="plan.made"]')).to_have_count(1)
    expect(page.locator('[data-testid="log-row"][data-event="mcp.call"]')).to_have_count(3)
    expect(page.locator("#histogram canvas")).to_have_count(1)
    expect(page.get_by_test_id("volume-total")).to_contain_text("lines")

    page.select_option("#f-level", "error")
    page.get_by_test_id("search").click()
    # An error line is also copied to the errors stream: both copies, nothing else.
    expect(rows).to_have_count(2)
    assert ["apply.failed"] * 2 == rows.evaluate_all("rs => rs.map(r => r.dataset.event)")
    expect(page).to_have_url(re.compile(r"level=error"))

    page.get_by_test_id("clear-filters").click()
    expect(page.locator('[data-testid="log-row"][data-event="page.created"]')).to_have_count(1)
    page.locator('[data-event="page.created"] button.field-component').click()
    expect(page.locator("#f-component")).to_have_value("notion")
    # The child operation's lines: started, page.created, finished.
    expect(rows).to_have_count(3)
    assert {"notion"} == set(
        rows.evaluate_all("rs => rs.map(r => r.querySelector('.field-component').textContent)")
    )
    expect(page.get_by_test_id("volume-total")).to_contain_text("(3 lines")

    page.get_by_test_id("clear-filters").click()
    expect(page.locator('[data-testid="log-row"][data-event="plan.made"]')).to_have_count(1)
    seeded.emit_call("fs__tail_probe")
    expect(page.locator('[data-testid="log-row"] >> text=fs__tail_probe')).to_have_count(
        1, timeout=LIVE
    )
    expect(rows.first).to_contain_text("fs__tail_probe")

    page.get_by_test_id("pause").click()
    expect(page.get_by_test_id("tail-state")).to_have_text("paused")
    seeded.emit_call("fs__while_paused")
    seeded.writer.flush()
    save_screenshot(page, tmp_path, "logs.png")
    expect(page.locator("text=fs__while_paused")).to_have_count(0)
    page.get_by_test_id("pause").click()
    expect(page.locator('[data-testid="log-row"] >> text=fs__while_paused')).to_have_count(
        1, timeout=LIVE
    )


def test_operation_timeline(page: Page, seeded: Seeded, tmp_path: Path) -> None:
    """The operation page lists its lines and its child operation's, in time order."""
    sign_in(page, seeded.server, f"/operations/{seeded.operation_id}")
    timeline = page.get_by_test_id("timeline-row")
    expect(page.get_by_test_id("operation-id")).to_have_text(seeded.operation_id)
    events = timeline.evaluate_all("rows => rows.map(r => r.dataset.event)")
    assert events.index("plan.made") < events.index("page.created") < events.index("apply.failed")
    expect(page.locator('[data-testid="timeline-row"][data-component="notion"]')).to_have_count(
        3  # the child's started / page.created / finished lines
    )
    save_screenshot(page, tmp_path, "operation.png")


def test_approvals_review_in_the_page(page: Page, seeded: Seeded, tmp_path: Path) -> None:
    """An admin approves the halted call with a note; the row shows the new status and
    the store has the review."""
    sign_in(page, seeded.server, "/approvals")
    row = page.locator(f'[data-testid="approval-row"][data-approval-id="{seeded.approval_id}"]')
    expect(row).to_contain_text("docker__remove")
    expect(row.get_by_test_id("approval-reasons")).not_to_be_empty()
    save_screenshot(page, tmp_path, "approvals.png")
    row.get_by_label("Note (optional)").fill("old job, fine")
    row.get_by_test_id("approve").click()
    expect(row.get_by_test_id("approval-status")).to_have_text("approved")
    expect(row.get_by_test_id("approve")).to_have_count(0)
    reviewed = Approvals(seeded.server.store).get(seeded.approval_id)
    assert ("approved", seeded.server.admin_name, "old job, fine") == (
        reviewed.status,
        reviewed.reviewer,
        reviewed.note,
    )


def test_viewers_see_approvals_without_buttons(page: Page, seeded: Seeded) -> None:
    """A viewer's approvals page shows the call but no way to review it."""
    key = seeded.server.ctx.keys.create("viewer-browser", "viewer")
    sign_in(page, seeded.server, "/approvals", key=key)
    expect(page.get_by_test_id("approval-row")).to_have_count(1)
    expect(page.get_by_test_id("approve")).to_have_count(0)
    expect(page.get_by_test_id("deny")).to_have_count(0)
    expect(page.get_by_test_id("signed-in-role")).to_have_text("viewer")


def test_a_new_halt_appears_without_a_reload(page: Page, seeded: Seeded) -> None:
    """A call halted while the page is open is added to the list, ready to deny."""
    sign_in(page, seeded.server, "/approvals")
    expect(page.get_by_test_id("approval-row")).to_have_count(1)
    other = ToolCall("docker", "docker__remove", {"container": "another"})
    ident = Approvals(seeded.server.store).create(other, decide(other, Policy()), ttl=600).id
    row = page.locator(f'[data-approval-id="{ident}"]')
    expect(row).to_have_count(1)
    row.get_by_test_id("deny").click()
    expect(row.get_by_test_id("approval-status")).to_have_text("denied")
    expect(page.get_by_test_id("pending-count")).to_have_text("1")


def test_deployments_workspaces_and_gate(page: Page, seeded: Seeded, tmp_path: Path) -> None:
    """Reports, backups and drift; the workspaces table; the gate's decisions and chart."""
    sign_in(page, seeded.server, "/deployments")
    expect(page.get_by_test_id("report-row")).to_contain_text("applied")
    expect(page.get_by_test_id("restore-command")).to_contain_text("devfactory restore ")
    drift = page.locator(
        '[data-testid="drift-unavailable"], [data-testid="drift-entry"], [data-testid="drift-none"]'
    )
    expect(drift.first).to_be_visible()
    checks = page.get_by_test_id("ndb-check")
    expect(checks).to_have_count(2)
    failed = page.locator('[data-testid="ndb-check"][data-check-id="NDB-IP1.7"]')
    expect(failed).to_have_attribute("data-result", "fail")
    expect(failed).to_contain_text("no backup")
    save_screenshot(page, tmp_path, "deployments.png")

    page.get_by_test_id("nav-workspaces").click()
    row = page.locator('[data-testid="workspace-row"][data-workspace="acme"][data-env="dev"]')
    expect(row.get_by_test_id("workspace-databases")).to_have_text("2")
    expect(row).to_contain_text("2026-01-02 03:04:05")
    save_screenshot(page, tmp_path, "workspaces.png")

    page.get_by_test_id("nav-gate").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Gate decisions")
    expect(
        page.locator('[data-testid="gate-by-tool"] tr[data-tool="docker__remove"]')
    ).to_contain_text("1")
    expect(page.get_by_test_id("gate-by-reason")).to_contain_text("destructive tool")
    expect(page.locator("#gate-chart canvas")).to_have_count(1)
    save_screenshot(page, tmp_path, "gate.png")


def test_sign_out_ends_the_session(page: Page, seeded: Seeded) -> None:
    """The nav's sign-out clears the session: pages send the browser to sign in again."""
    sign_in(page, seeded.server, "/workspaces")
    page.get_by_test_id("sign-out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(f"{seeded.server.url}/gate")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fgate"))
