"""The Deployments page's verification section: ``GET /api/v1/verification`` answers the
latest suite run per workspace and environment from ``$DEVFACTORY_HOME/verification``."""

from __future__ import annotations

import os
from pathlib import Path

from devfactory.suites.report import save_history
from devfactory.suites.result import CheckResult, Outcome, SuiteReport
from devfactory.web.inventory import latest_verification
from tests.web.conftest import Dashboard


def _run(home: Path, env: str, started: float, *outcomes: Outcome) -> Path:
    report = SuiteReport("ndb", "consulting", env, "embedded:x", started=started)
    report.finished = started + 1
    report.checks = [
        CheckResult(f"NDB-IP1.{n}", f"check {n}", o, f"detail {n}")
        for n, o in enumerate(outcomes, start=1)
    ]
    path = save_history(report, home)
    os.utime(path, (started, started))
    return path


class TestLatestVerification:
    def test_newest_run_per_workspace_and_environment(self, tmp_path: Path) -> None:
        """An older run of dev is hidden by the newer; staging has its own; a broken file
        is listed with an error."""
        _run(tmp_path, "dev", 1_764_000_000, Outcome.FAILED, Outcome.PASSED)
        newer = _run(tmp_path, "dev", 1_764_000_600, Outcome.PASSED, Outcome.PASSED)
        staging = _run(tmp_path, "staging", 1_764_000_300, Outcome.PASSED, Outcome.SKIPPED)
        (tmp_path / "verification" / "broken.yaml").write_text("checks: [unclosed\n")
        found = latest_verification(tmp_path)
        files = [item["file"] for item in found]
        assert newer.name in files and staging.name in files and "broken.yaml" in files
        assert 3 == len(found)
        dev = next(item for item in found if item.get("environment") == "dev")
        assert "pass" == dev["result"]
        assert [
            {"id": "NDB-IP1.1", "description": "check 1", "result": "pass", "detail": "detail 1"},
            {"id": "NDB-IP1.2", "description": "check 2", "result": "pass", "detail": "detail 2"},
        ] == dev["checks"]
        assert "unreadable" in next(i for i in found if i["file"] == "broken.yaml")["error"]

    def test_no_runs(self, tmp_path: Path) -> None:
        """No verification folder: an empty list."""
        assert [] == latest_verification(tmp_path)


class TestVerificationApi:
    def test_api_answers_the_latest_results(self, dashboard: Dashboard) -> None:
        """Every role reads the latest runs with each check's id, description and result."""
        _run(dashboard.home, "dev", 1_764_000_000, Outcome.PASSED, Outcome.PASSED)
        _run(dashboard.home, "dev", 1_764_000_600, Outcome.PASSED, Outcome.FAILED)
        with dashboard.client("viewer") as http:
            answer = http.get("/api/v1/verification")
        assert 200 == answer.status_code
        [run] = answer.json()["verification"]
        assert ("ndb", "consulting", "dev", "fail") == (
            run["suite"], run["workspace"], run["environment"], run["result"],
        )  # fmt: skip
        assert [("NDB-IP1.1", "pass"), ("NDB-IP1.2", "fail")] == [
            (c["id"], c["result"]) for c in run["checks"]
        ]

    def test_api_needs_a_caller(self, dashboard: Dashboard) -> None:
        """Without a key or session: 401."""
        with dashboard.client() as http:
            assert 401 == http.get("/api/v1/verification").status_code

    def test_page_has_the_section_and_script(self, dashboard: Dashboard) -> None:
        """The Deployments page holds the section the script fills with ndb-check rows."""
        with dashboard.client("viewer") as http:
            page = http.get("/deployments")
            script = http.get("/static/js/deployments.js")
        assert 200 == page.status_code and 'id="verification"' in page.text
        assert 'data-testid="verification"' in page.text
        assert 200 == script.status_code and "/api/v1/verification" in script.text
        assert '"-check"' in script.text and "checkId" in script.text
