"""The issue's in-page scenarios, through a real gateway next to the dashboard:

- a tool call through the gateway appears on the overview and in the log tail within a second;
- a destructive call halts, a person approves it in the approvals page, and the agent's
  identical retry succeeds once (a third identical call halts again).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import save_screenshot
from tests.browser.gateway import LiveGateway, call_tool, text_of
from tests.browser.test_pages import sign_in

LIVE_MS = 1_000  # the issue: "within a second"


def test_a_gateway_call_shows_on_the_overview_and_in_the_tail_within_a_second(
    page: Page, gateway: LiveGateway, tmp_path: Path
) -> None:
    (gateway.root / "notes.md").write_text("hello\n")
    sign_in(page, gateway.web, "/")
    total = page.get_by_test_id("calls-total")
    expect(total).to_have_text("0")

    result = call_tool(
        gateway.url, gateway.token, "filesystem__read_text_file",
        {"path": str(gateway.root / "notes.md")},
    )  # fmt: skip
    answered = time.monotonic()
    assert "hello" in text_of(result)
    expect(total).to_have_text("1", timeout=LIVE_MS)
    assert time.monotonic() - answered <= LIVE_MS / 1000 + 0.25  # the wait above, plus slack
    save_screenshot(page, tmp_path, "overview-live.png")

    page.goto(f"{gateway.web.url}/logs")
    expect(page.locator('[data-testid="log-row"][data-event="mcp.call"]')).to_have_count(1)
    listed = call_tool(
        gateway.url, gateway.token, "filesystem__list_directory", {"path": str(gateway.root)}
    )
    assert "notes.md" in text_of(listed)
    rows = page.locator('[data-testid="log-row"][data-event="mcp.call"]')
    expect(rows).to_have_count(2, timeout=LIVE_MS)
    expect(rows.filter(has_text="filesystem__list_directory")).to_have_count(1)


def test_a_halted_call_is_approved_in_the_page_and_the_retry_runs_once(
    page: Page, gateway: LiveGateway, tmp_path: Path
) -> None:
    source, target = gateway.root / "draft.md", gateway.root / "final.md"
    source.write_text("draft\n")
    args = {"source": str(source), "destination": str(target)}

    halted = call_tool(gateway.url, gateway.token, "filesystem__move_file", args)
    assert halted.is_error
    found = re.search(r"apr_[0-9a-f]+", text_of(halted))
    assert found, text_of(halted)
    approval = found.group(0)
    assert source.exists() and not target.exists()

    sign_in(page, gateway.web, "/approvals")
    row = page.locator(f'[data-testid="approval-row"][data-approval-id="{approval}"]')
    expect(row).to_contain_text("filesystem__move_file")
    save_screenshot(page, tmp_path, "approvals-halted.png")
    row.get_by_label("Note (optional)").fill("the draft is final")
    row.get_by_test_id("approve").click()
    expect(row.get_by_test_id("approval-status")).to_have_text("approved")

    done = call_tool(gateway.url, gateway.token, "filesystem__move_file", args)
    assert not done.is_error, text_of(done)
    assert not source.exists() and target.read_text() == "draft\n"

    again = call_tool(gateway.url, gateway.token, "filesystem__move_file", args)
    assert again.is_error and approval not in text_of(again)  # a new halt, nothing ran
    assert target.read_text() == "draft\n"
    page.reload()
    reviewed = page.get_by_role("region", name="Recently reviewed").get_by_role("row")
    expect(reviewed.filter(has_text=approval)).to_contain_text("consumed")
    pending = page.locator('[data-testid="approval-row"]')
    expect(pending).to_have_count(1)
    assert pending.get_attribute("data-approval-id") != approval
