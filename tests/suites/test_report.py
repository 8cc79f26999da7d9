"""Suite reports: YAML, JUnit XML (one testcase per check), history files and exit codes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from devfactory.suites.report import junit_xml, save_history, to_data, write_junit
from devfactory.suites.result import CheckResult, Outcome, SuiteReport


def _report(*outcomes: Outcome) -> SuiteReport:
    report = SuiteReport("ndb", "consulting", "dev", "embedded:x", started=1_764_000_000.0)
    report.finished = report.started + 2.5
    report.checks = [
        CheckResult(f"NDB-IP1.{n}", f"check {n}", o, f"detail {n}", 0.1, (f"step {n}",))
        for n, o in enumerate(outcomes, start=1)
    ]
    return report


class TestExitCode:
    @pytest.mark.parametrize(
        ("outcomes", "code"),
        [
            ((Outcome.PASSED, Outcome.SKIPPED), 0),
            ((Outcome.PASSED, Outcome.FAILED), 2),
            ((Outcome.FAILED, Outcome.ERROR), 1),
            ((), 0),
        ],
    )
    def test_codes(self, outcomes: tuple[Outcome, ...], code: int) -> None:
        """0 all pass (skips allowed), 2 a failure, 1 an error (which outranks failures)."""
        assert code == _report(*outcomes).exit_code


class TestJUnit:
    def test_one_testcase_per_check(self, tmp_path: Path) -> None:
        """Parses with xml.etree; failure, error and skipped elements carry the detail."""
        report = _report(Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.SKIPPED)
        root = ET.parse(write_junit(report, tmp_path / "out" / "junit.xml")).getroot()
        suite = root.find("testsuite")
        assert suite is not None
        assert ("4", "1", "1", "1") == tuple(
            suite.get(k) for k in ("tests", "failures", "errors", "skipped")
        )
        cases = suite.findall("testcase")
        assert [
            "NDB-IP1.1: check 1",
            "NDB-IP1.2: check 2",
            "NDB-IP1.3: check 3",
            "NDB-IP1.4: check 4",
        ] == [c.get("name") for c in cases]
        assert "devfactory.ndb.consulting.dev" == cases[0].get("classname")
        failure = cases[1].find("failure")
        assert failure is not None and "detail 2" == failure.get("message")
        assert "step 2" == failure.text
        error = cases[2].find("error")
        assert error is not None and "detail 3" == error.get("message")
        assert cases[3].find("skipped") is not None
        assert cases[0].find("failure") is None and cases[0].find("error") is None

    def test_detail_with_markup_characters_is_escaped(self) -> None:
        """Quotes, ampersands and angle brackets in a detail survive the round trip."""
        report = _report(Outcome.FAILED)
        report.checks[0] = CheckResult("NDB-IP1.1", "d", Outcome.FAILED, 'a <b> & "c"')
        case = ET.fromstring(junit_xml(report)).find("testsuite/testcase/failure")
        assert case is not None and 'a <b> & "c"' == case.get("message")


class TestYaml:
    def test_data_and_history(self, tmp_path: Path) -> None:
        """The history file holds every check with its result; a second run the same
        second gets its own file."""
        report = _report(Outcome.PASSED, Outcome.FAILED)
        first = save_history(report, tmp_path)
        second = save_history(report, tmp_path)
        assert first.parent == tmp_path / "verification" and first != second
        assert first.name.startswith("consulting.dev.") and first.name.endswith("Z.yaml")
        data = yaml.safe_load(first.read_text())
        assert data == to_data(report)
        assert ("fail", 2, {"pass": 1, "fail": 1, "error": 0, "skipped": 0}) == (
            data["result"], data["exit_code"], data["summary"],
        )  # fmt: skip
        assert ["pass", "fail"] == [c["result"] for c in data["checks"]]
