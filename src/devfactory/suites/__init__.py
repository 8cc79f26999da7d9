"""Verification suites: user-facing checks of a deployed system, with YAML and JUnit reports.

``devfactory verify SPEC --suite ndb`` runs :func:`run_ndb` (docs/verification.md).
"""

from __future__ import annotations

from devfactory.suites.ndb import CHECKS, NdbOptions, run_ndb
from devfactory.suites.report import junit_xml, save_history, to_data, write_junit, write_yaml
from devfactory.suites.result import CheckResult, Outcome, SuiteReport

__all__ = [
    "CHECKS",
    "CheckResult",
    "NdbOptions",
    "Outcome",
    "SuiteReport",
    "junit_xml",
    "run_ndb",
    "save_history",
    "to_data",
    "write_junit",
    "write_yaml",
]
