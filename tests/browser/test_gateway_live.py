"""A real gateway reports to the dashboard: its audit lines reach the log tail within a
second, and a halted call is reviewed through the dashboard's API and then runs once.

These are the API-level checks of :mod:`tests.browser.gateway`; the pages' tests use the
same fixture."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.gateway import LiveGateway, call_tool, text_of

TAIL_DEADLINE_S = 1.0  # the issue: a call is in the dashboard's log tail within 1 s


@pytest.fixture
def api(gateway: LiveGateway) -> Iterator[httpx.Client]:
    """The dashboard's API as the admin (a sync client: no event loop in this thread)."""
    headers = {"Authorization": f"Bearer {gateway.web.admin_key}"}
    with httpx.Client(base_url=gateway.web.url, headers=headers, timeout=10) as client:
        yield client


def mcp_calls(lines: list[dict[str, Any]], tool: str) -> list[dict[str, Any]]:
    return [x for x in lines if x.get("event") == "mcp.call" and x.get("tool") == tool]


def halted_id(result: Any) -> str:
    """The approval id of a halted call's result (fails if the call was not halted)."""
    assert result.is_error, text_of(result)
    details = result.structured_content or {}
    assert "halted" == details.get("error"), details
    return str(details["approval_id"])


class TestAuditLines:
    """Every call through the gateway is a line in the dashboard's log store."""

    def test_a_read_call_is_in_the_log_tail_within_a_second(
        self, gateway: LiveGateway, api: httpx.Client
    ) -> None:
        """A read runs, and its ``mcp.call`` line is in ``GET /api/v1/logs/tail`` within 1 s
        of the answer (and in the store the dashboard reads)."""
        (gateway.root / "notes.txt").write_text("hello from the agent\n")
        before = api.get("/api/v1/logs/tail", params={"limit": 1}).json()["last_id"] or 0

        result = call_tool(
            gateway.url, gateway.token, "filesystem__read_text_file",
            {"path": str(gateway.root / "notes.txt")},
        )  # fmt: skip
        answered = time.monotonic()

        assert not result.is_error, text_of(result)
        assert "hello from the agent" in text_of(result)
        found: list[dict[str, Any]] = []
        while not found and time.monotonic() - answered < TAIL_DEADLINE_S:
            tail = api.get("/api/v1/logs/tail", params={"after": before, "limit": 1000})
            assert 200 == tail.status_code, tail.text
            found = mcp_calls(tail.json()["lines"], "filesystem__read_text_file")
            if not found:
                time.sleep(0.02)
        waited = time.monotonic() - answered
        assert found, f"no mcp.call line in the log tail {waited:.2f} s after the call"
        line = found[0]
        assert ("ok", "browser-agent", "filesystem", "audit") == (
            line["outcome"], line["client"], line["server"], line["stream"]
        )  # fmt: skip
        assert ["path"] == line["argument_keys"]  # keys only: no argument values in logs
        stored = mcp_calls(gateway.web.ctx.logs.tail(before, 1000), "filesystem__read_text_file")
        assert [line["_id"]] == [x["_id"] for x in stored]


class TestHaltedCall:
    """A destructive call waits for a person, who approves it on the dashboard."""

    def test_approved_on_the_dashboard_the_retry_runs_once_and_the_next_halts(
        self, gateway: LiveGateway, api: httpx.Client
    ) -> None:
        """The move halts (nothing moves), is pending in ``/api/v1/approvals`` and on the
        event stream, the admin approves it, the identical retry moves the file, and a third
        identical call halts again under a new approval."""
        source, target = gateway.root / "draft.md", gateway.root / "final.md"
        source.write_text("draft\n")
        args = {"source": str(source), "destination": str(target)}

        halted = call_tool(gateway.url, gateway.token, "filesystem__move_file", args)
        approval = halted_id(halted)
        assert source.exists() and not target.exists()

        pending = api.get("/api/v1/approvals", params={"status": "pending"}).json()["approvals"]
        assert [approval] == [a["id"] for a in pending]
        assert ("filesystem", "filesystem__move_file") == (
            pending[0]["call"]["server"], pending[0]["call"]["tool"]
        )  # fmt: skip
        halts = sse_events(api, "gate_halted", 1)
        assert (approval, "filesystem__move_file") == (halts[0]["approval_id"], halts[0]["tool"])

        approved = api.post(f"/api/v1/approvals/{approval}/approve", json={"note": "ok"})
        assert 200 == approved.status_code, approved.text
        assert "approved" == approved.json()["status"]

        done = call_tool(gateway.url, gateway.token, "filesystem__move_file", args)
        assert not done.is_error, text_of(done)
        assert not source.exists() and "draft\n" == target.read_text()
        assert "consumed" == api.get(f"/api/v1/approvals/{approval}").json()["status"]

        again = call_tool(gateway.url, gateway.token, "filesystem__move_file", args)
        assert approval != halted_id(again)
        assert not source.exists() and "draft\n" == target.read_text()  # nothing ran
        gateway.sink.flush()
        outcomes = [
            x["outcome"]
            for x in mcp_calls(gateway.web.ctx.logs.tail(None, 1000), "filesystem__move_file")
        ]
        assert ["halted", "ok", "halted"] == outcomes


def sse_events(api: httpx.Client, kind: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` events of type ``kind`` from the bus's history, over the
    dashboard's SSE endpoint."""
    params: dict[str, Any] = {"types": kind, "after": 0, "max_events": count}
    found = []
    with api.stream("GET", "/api/v1/events", params=params) as stream:
        assert 200 == stream.status_code
        for line in stream.iter_lines():
            if line.startswith("data:"):
                found.append(json.loads(line.removeprefix("data:")))
    return found
