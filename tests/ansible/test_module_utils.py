"""The collection's module_utils: every devfactory error maps onto a kind and a clear
message, and a plan becomes Ansible's diff."""

from __future__ import annotations

import asyncio
import importlib
from types import ModuleType
from typing import Any

import httpx
import pytest

from devfactory import errors
from devfactory.deploy.guard import GateHalted
from devfactory.deploy.plan import Change, Plan
from devfactory.executor import Executor, Idempotency, ManualClock, RetryPolicy


@pytest.fixture(scope="module")
def common() -> ModuleType:
    """The module_utils, imported as Ansible imports it (ANSIBLE_COLLECTIONS_PATH = repo)."""
    pytest.importorskip("ansible")
    return importlib.import_module(
        "ansible_collections.devfactory.notion.plugins.module_utils.devfactory_common"
    )


def given_up(error: Exception, attempts: int = 2) -> Exception:
    """What the executor raises after ``attempts`` tries that all failed with ``error``."""

    async def fail() -> None:
        raise error

    executor = Executor(RetryPolicy(attempts=attempts, base=0, cap=0), clock=ManualClock())
    try:
        asyncio.run(executor.run(fail, idempotency=Idempotency.SAFE, label="read"))
    except Exception as exc:
        return exc
    raise AssertionError("the executor did not give up")


class TestErrorKinds:
    @pytest.mark.parametrize(
        ("error", "kind"),
        [
            (errors.SpecError(["workspace.yaml:3:1: unknown key"]), "spec"),
            (errors.ConfigError("invalid setting"), "config"),
            (errors.StateLockedError("locked"), "locked"),
            (GateHalted("the plan has 1 destructive change(s)", "apr_1"), "approval_required"),
            (errors.PlanError("the plan has 1 destructive change(s); run with --allow-destroy"), "refused"),
            (errors.PlanError("refused: databases.clients is protected"), "refused"),
            (errors.PlanError("the saved plan is stale"), "user"),
            (errors.TargetError("no parent page"), "target"),
            (errors.UserError("cannot decrypt"), "user"),
            (errors.UnauthorizedError("API token is invalid."), "unauthorized"),
            (errors.RestrictedResourceError("no access"), "forbidden"),
            (errors.ObjectNotFoundError("Could not find page"), "not_found"),
            (errors.NotionValidationError("body failed validation"), "notion"),
            (errors.InternalServerError("boom"), "transient"),
            (errors.GatewayTimeoutError("gateway timeout"), "timeout"),
            (errors.InternalError("bug"), "internal"),
        ],
    )  # fmt: skip
    def test_error_kind(self, common: ModuleType, error: Exception, kind: str) -> None:
        """Each class of devfactory's tree maps onto what the user can do about it."""
        assert kind == common.error_kind(error)

    def test_every_error_class_has_a_hint(self, common: ModuleType) -> None:
        """Every kind error_kind can answer has a headline hint in HINTS."""
        kinds = {
            common.error_kind(cls("x") if cls is not errors.RateLimitedError else cls())
            for cls in vars(errors).values()
            if isinstance(cls, type)
            and issubclass(cls, errors.DevfactoryError)
            and cls not in (errors.FormulaError,)
            and not issubclass(cls, errors.FileIssuesError)
            and cls is not GateHalted
        }
        assert kinds <= set(common.HINTS)

    def test_rate_limit_after_retries(self, common: ModuleType) -> None:
        """The executor giving up on 429s is a rate limit, not a generic failure."""
        assert "rate_limited" == common.error_kind(given_up(errors.RateLimitedError(retry_after=0)))

    def test_timeout_after_retries(self, common: ModuleType) -> None:
        """The executor giving up on timed-out calls is a timeout."""
        assert "timeout" == common.error_kind(given_up(TimeoutError()))
        assert "timeout" == common.error_kind(given_up(httpx.ReadTimeout("slow")))

    def test_unreachable_after_retries(self, common: ModuleType) -> None:
        """A refused connection is an unreachable target."""
        assert "unreachable" == common.error_kind(given_up(httpx.ConnectError("refused")))

    def test_failure_message_names_kind_target_and_fix(self, common: ModuleType) -> None:
        """The fail_json message: kind, target, devfactory's message and what to do."""
        data = common.failure(errors.UnauthorizedError("API token is invalid."), "http://x")
        assert data["error_kind"] == "unauthorized" and data["status"] == 401
        assert data["msg"].startswith("unauthorized (target http://x): API token is invalid.")
        assert "check the token option or NOTION_TOKEN" in data["msg"]

    def test_gate_halt_message_names_the_approval(self, common: ModuleType) -> None:
        """A halted destructive plan says which approval to give."""
        data = common.failure(GateHalted("halted", "apr_be2d35"))
        assert "apr_be2d35" == data["approval_id"]
        assert "devfactory approvals approve apr_be2d35" in data["msg"]

    def test_spec_error_lists_every_issue(self, common: ModuleType) -> None:
        """A spec error returns its issues one by one."""
        data = common.failure(errors.SpecError(["a.yaml:1:1: one", "a.yaml:2:1: two"]))
        assert ["a.yaml:1:1: one", "a.yaml:2:1: two"] == data["issues"]


def plan(*changes: Change) -> Plan:
    return Plan("consulting", "dev", "local", "hash", 0, "", changes=list(changes))


class TestPlanDiff:
    def test_one_pair_per_database(self, common: ModuleType) -> None:
        """Creates appear after, deletions before, and `old -> new` details on both sides."""
        diff: list[dict[str, Any]] = common.plan_diff(
            plan(
                Change("create", "databases.clients", 'database "Clients"', ["+ Name: title"], database="clients"),
                Change("update", "databases.projects.Notes", 'property "Memo"', ['name: "Notes" -> "Memo"'], database="projects"),
                Change("delete", "databases.projects.Owner", 'property "Owner" (people)', [], True, "projects"),
            )
        )  # fmt: skip
        assert ["databases.clients (spec)", "databases.projects (spec)"] == [
            d["after_header"] for d in diff
        ]
        clients, projects = diff
        assert "" == clients["before"]
        assert 'databases.clients: database "Clients"\n    + Name: title\n' == clients["after"]
        assert 'name: "Notes"' in projects["before"] and 'name: "Memo"' in projects["after"]
        assert 'databases.projects.Owner: property "Owner" (people)' in projects["before"]
        assert "Owner" not in projects["after"]
