"""What a verification suite finds: one :class:`CheckResult` per check, gathered in a
:class:`SuiteReport` whose exit code CI reads.

Pure data: :mod:`devfactory.suites.report` writes it as YAML and JUnit XML, the CLI shows it
as a table, and the dashboard reads the YAML back.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

__all__ = ["CheckResult", "Outcome", "SuiteReport"]


class Outcome(enum.StrEnum):
    """How one check ended.

    ``PASSED``: the condition holds. ``FAILED``: it does not (the system is wrong).
    ``ERROR``: the check could not run to a verdict (a missing key, a target that did not
    answer). ``SKIPPED``: nothing to check here (say, a workspace without portal databases).
    """

    PASSED = "pass"
    FAILED = "fail"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: its id (``NDB-IP1.2``), what it proves, how it ended and why.

    ``steps`` are the individual assertions behind the verdict, one line each, so a failure
    names the exact row or property without a second run.
    """

    id: str
    description: str
    outcome: Outcome
    detail: str = ""
    seconds: float = 0.0
    steps: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the check passed or had nothing to check."""
        return self.outcome in (Outcome.PASSED, Outcome.SKIPPED)


@dataclass
class SuiteReport:
    """A suite run against one workspace, environment and target."""

    suite: str
    workspace: str
    environment: str
    target: str
    started: float = field(default_factory=time.time)
    finished: float = 0.0
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """How long the run took."""
        return max(0.0, self.finished - self.started)

    def count(self, outcome: Outcome) -> int:
        """How many checks ended with ``outcome``."""
        return sum(1 for c in self.checks if c.outcome is outcome)

    @property
    def exit_code(self) -> int:
        """0 when every check passed (or was skipped), 1 when one could not run, else 2.

        An error outranks a failure: with a check that could not run, the verdict is
        incomplete, and CI should say so rather than report a clean list of failures.
        """
        if self.count(Outcome.ERROR):
            return 1
        return 2 if self.count(Outcome.FAILED) else 0
