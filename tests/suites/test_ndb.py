"""The NDB suite against the consulting example deployed to a local Notion server on
loopback: every check passes on a fresh deploy with a backup, and each fails when what it
proves is broken — in Notion, in the state, in the files, or in the code it relies on."""

from __future__ import annotations

import asyncio
import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import notion_client
import pytest
import yaml
from pydantic import SecretStr
from typer.testing import CliRunner

from devfactory import executor
from devfactory.cli import app
from devfactory.config import Settings
from devfactory.deploy.backup import write_backup
from devfactory.deploy.engine import load_workspace
from devfactory.deploy.state import StateFile
from devfactory.emulator.testing import LocalNotion
from devfactory.errors import UserError
from devfactory.notion.api import NotionAPI
from devfactory.notion.target import NotionSession, resolve_target
from devfactory.suites import CHECKS, NdbOptions, Outcome, SuiteReport, run_ndb
from devfactory.suites import ndb as ndb_module
from devfactory.web import portal_reader
from devfactory.web.inventory import latest_verification
from devfactory.web.portal import PortalRules, Row, Visible, visible_to

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "consulting" / "workspace.yaml"
RULES = PortalRules()
KEY = "Zq3v0dM6mQ6cJ1mY8lq3rP1Yb0wq2ZC3cV7hKc2n9uE="
Deployed = tuple[LocalNotion, Settings, str]


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real Notion, no parent page id of prod: what a developer's shell has."""
    for name in ("NOTION_TOKEN", "NOTION_PARENT_PAGE_ID", "DEVFACTORY_BACKUP_KEY"):
        monkeypatch.delenv(name, raising=False)


def keyed(settings: Settings) -> Settings:
    return settings.model_copy(update={"backup_key": SecretStr(KEY)})


def backup(deployed: Deployed) -> Path:
    """Take a backup of the deployed example, as ``devfactory backup`` does."""
    notion, settings, _ = deployed
    _, ws = load_workspace(SPEC, None)
    target = resolve_target(settings, notion.base_url)
    state = StateFile(settings.home, ws.workspace, ws.environment).load(target.label)

    async def run() -> Path:
        async with NotionSession(target) as session:
            return await write_backup(state, session, NotionAPI(), keyed(settings))

    return asyncio.run(run())


def ndb(
    settings: Settings,
    target_url: str | None,
    *,
    only: Sequence[str] | None = None,
    spec: Path = SPEC,
    collection: Path | None = None,
) -> dict[str, Any]:
    """Run the suite; its results by check id (and the report under ``"report"``)."""
    options = NdbOptions(spec=spec, settings=settings, target_url=target_url, collection=collection)
    report: SuiteReport = asyncio.run(run_ndb(options, only=only))
    return {"report": report, **{c.id: c for c in report.checks}}


def official(notion: LocalNotion) -> notion_client.Client:
    return notion_client.Client(auth=notion.token, base_url=notion.base_url, retry=False)


def data_source(deployed: Deployed, key: str) -> str:
    notion, settings, _ = deployed
    state = StateFile(settings.home, "consulting", "default").load(notion.base_url)
    return state.databases[key].data_source_id


def page_ids(client: notion_client.Client, ds: str, titles: Iterable[str]) -> list[str]:
    rows = client.data_sources.query(ds)["results"]
    by_title = {
        "".join(t["plain_text"] for t in p["properties"][name]["title"]): p["id"]
        for p in rows
        for name in p["properties"]
        if p["properties"][name]["type"] == "title"
    }
    return [by_title[t] for t in titles]


def embedded(tmp_path: Path) -> Settings:
    """Settings for the embedded server in a fresh home (no deploy needed)."""
    return Settings(home=tmp_path / "home", notion_token=None, emulator_token=None)


class TestFreshDeploy:
    def test_every_check_passes_with_a_backup(self, deployed: Deployed, collection: Path) -> None:
        """A fresh deploy with a backup passes all eight checks and writes nothing."""
        notion, settings, _ = deployed
        backup(deployed)
        state = (settings.home / "state" / "consulting.default.json").read_bytes()
        found = ndb(keyed(settings), notion.base_url, collection=collection)
        report: SuiteReport = found["report"]
        assert [c[0] for c in CHECKS] == [c.id for c in report.checks]
        assert {c.id: "pass" for c in report.checks} == {
            c.id: c.outcome.value for c in report.checks
        }, [(c.id, c.detail) for c in report.checks if not c.ok]
        assert 0 == report.exit_code
        assert found["NDB-IP1.2"].detail.endswith("checks passed")
        assert "rollups match their related rows" in found["NDB-IP1.3"].detail
        assert "0 writes" in found["NDB-IP1.4"].detail
        assert all(s.startswith("ok: ") for s in found["NDB-IP1.5"].steps)
        assert len(found["NDB-IP1.5"].steps) >= 8
        assert any(
            s.startswith("prod: resolves and validates; NOTION_PARENT_PAGE_ID not set here")
            for s in found["NDB-IP1.6"].steps
        )
        assert "restores 7 databases" in found["NDB-IP1.7"].detail
        assert found["NDB-IP1.8"].detail.startswith("1 portal clients see exactly their own rows")
        # The suite reads only: the state is untouched, no report or backup was added.
        assert state == (settings.home / "state" / "consulting.default.json").read_bytes()
        assert 1 == len(list((settings.home / "reports").glob("*.yaml")))

    def test_cli_exit_codes_junit_report_and_history(
        self, deployed: Deployed, collection: Path, tmp_path: Path
    ) -> None:
        """No backup: exit 2 and a JUnit failure for IP1.7; with one: exit 0; every run is
        kept under $DEVFACTORY_HOME/verification and the dashboard reads the latest."""
        notion, settings, _ = deployed
        env = {
            "DEVFACTORY_HOME": str(settings.home),
            "DEVFACTORY_EMULATOR_TOKEN": notion.token,
            "DEVFACTORY_NOTION_RATE": "1000",
            "DEVFACTORY_BACKUP_KEY": KEY,
            "COLUMNS": "200",
        }
        args = ["verify", str(SPEC), "--suite", "ndb", "--target", notion.base_url]
        args += ["--collection", str(collection)]
        junit = tmp_path / "ci" / "junit.xml"
        runner = CliRunner()
        first = runner.invoke(app, [*args, "--junit", str(junit)], env=env)
        assert 2 == first.exit_code, first.output
        assert "NDB-IP1.7" in first.output and "7 passed, 1 failed" in first.output
        cases = ET.parse(junit).getroot().findall("testsuite/testcase")
        assert [c[0] for c in CHECKS] == [str(c.get("name")).split(":")[0] for c in cases]
        failures = [
            (c.get("name"), c.find("failure")) for c in cases if c.find("failure") is not None
        ]
        assert 1 == len(failures) and str(failures[0][0]).startswith("NDB-IP1.7")
        message = failures[0][1].get("message") if failures[0][1] is not None else ""
        assert f"no backup; run devfactory backup {SPEC}" == message

        backup(deployed)
        out = tmp_path / "ci" / "ndb.yaml"
        second = runner.invoke(app, [*args, "--report", str(out), "--json"], env=env)
        assert 0 == second.exit_code, second.output
        printed = json.loads(second.stdout)
        assert "pass" == printed["result"] and yaml.safe_load(out.read_text()) == printed
        assert 2 == len(list((settings.home / "verification").glob("consulting.default.*.yaml")))
        [latest] = latest_verification(settings.home)
        assert ("ndb", "pass") == (latest["suite"], latest["result"])
        assert {c[0]: "pass" for c in CHECKS} == {c["id"]: c["result"] for c in latest["checks"]}

    def test_report_options_need_a_suite(self, tmp_path: Path) -> None:
        """--junit without --suite is a user error; verify otherwise behaves as before."""
        env = {"DEVFACTORY_HOME": str(tmp_path / "home")}
        result = CliRunner().invoke(app, ["verify", str(SPEC), "--junit", "x.xml"], env=env)
        assert isinstance(result.exception, UserError)
        assert "--suite ndb" in str(result.exception)


class TestBrokenConditions:
    def test_renamed_property_fails_schema_and_idempotence(self, deployed: Deployed) -> None:
        """A property renamed in Notion: IP1.2 names it missing, IP1.4 finds a plan to undo."""
        notion, settings, clients = deployed
        with official(notion) as client:
            client.data_sources.update(clients, properties={"Industry": {"name": "Sector"}})
        found = ndb(settings, notion.base_url, only=["NDB-IP1.2", "NDB-IP1.4"])
        assert Outcome.FAILED is found["NDB-IP1.2"].outcome
        assert any("clients.properties.Industry" in s for s in found["NDB-IP1.2"].steps)
        assert Outcome.FAILED is found["NDB-IP1.4"].outcome
        assert found["NDB-IP1.4"].detail.startswith("a plan after apply is not empty")
        assert 2 == found["report"].exit_code

    def test_wrong_rollup_fails_relations_and_rollups(self, deployed: Deployed) -> None:
        """A rollup whose function was changed in Notion no longer shows the count its
        related rows give: IP1.3 names the database, property and row."""
        notion, settings, clients = deployed
        rollup = {"relation_property_name": "Projects", "rollup_property_name": "Status"}
        with official(notion) as client:
            client.data_sources.update(
                clients, properties={"Active Projects": {"rollup": {**rollup, "function": "empty"}}}
            )
        check = ndb(settings, notion.base_url, only=["NDB-IP1.3"])["NDB-IP1.3"]
        assert Outcome.FAILED is check.outcome, check.detail
        assert any(
            s.startswith('clients.Active Projects on "Acme Corp": count is 0') for s in check.steps
        ), check.steps

    def test_corrupted_state_fails_idempotence(self, deployed: Deployed) -> None:
        """A seed row's hash changed in the state: the plan is not empty, IP1.4 fails."""
        notion, settings, _ = deployed
        path = settings.home / "state" / "consulting.default.json"
        data = json.loads(path.read_text())
        data["databases"]["clients"]["rows"]["Acme Corp"]["hash"] = "corrupted"
        path.write_text(json.dumps(data))
        check = ndb(settings, notion.base_url, only=["NDB-IP1.4"])["NDB-IP1.4"]
        assert Outcome.FAILED is check.outcome
        assert any("Acme Corp" in s for s in check.steps), check.steps

    def test_broken_overlay_fails_environment(self, tmp_path: Path) -> None:
        """An overlay with an unknown key: IP1.6 names the environment and file:line:col."""
        folder = tmp_path / "spec"
        shutil.copytree(SPEC.parent, folder)
        overlay = folder / "workspace.staging.yaml"
        title = '    title: "[staging] Invoices"\n'
        overlay.write_text(overlay.read_text().replace(title, title + "    colour: red\n"))
        check = ndb(embedded(tmp_path), None, only=["NDB-IP1.6"], spec=folder / "workspace.yaml")[
            "NDB-IP1.6"
        ]
        assert Outcome.FAILED is check.outcome
        assert check.detail.startswith(f"1 of 4 do not resolve: staging: {overlay}:")
        assert any(s.startswith("dev: resolves") for s in check.steps)

    def test_retries_broken_fail_error_handling(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With 429 no longer retried, IP1.5's rate-limit probe fails."""
        monkeypatch.setattr(executor, "TRANSIENT_STATUSES", frozenset([409, 500, 502, 503, 504]))
        check = ndb(embedded(tmp_path), None, only=["NDB-IP1.5"])["NDB-IP1.5"]
        assert Outcome.FAILED is check.outcome
        failed = [s for s in check.steps if s.startswith("FAILED: ")]
        assert any(s.startswith("FAILED: rate_limited_then_ok: RateLimitedError") for s in failed)
        assert any(s.startswith("FAILED: Retry-After beyond the retry budget") for s in failed)
        assert 2 == len(failed), check.steps
        assert any(s.startswith("ok: a bad token") for s in check.steps)
        assert any(s.startswith("ok: 503 on a read is retried") for s in check.steps)

    def test_deployment_needs_a_report_a_backup_and_its_key(self, deployed: Deployed) -> None:
        """No backup: fails with the command to run; a backup without its key: an error
        (exit 1); no apply report: fails."""
        notion, settings, _ = deployed
        only = ["NDB-IP1.7"]
        check = ndb(settings, notion.base_url, only=only)["NDB-IP1.7"]
        assert (Outcome.FAILED, f"no backup; run devfactory backup {SPEC}") == (
            check.outcome, check.detail,
        )  # fmt: skip
        backup(deployed)
        found = ndb(settings, notion.base_url, only=only)
        assert Outcome.ERROR is found["NDB-IP1.7"].outcome
        assert "DEVFACTORY_BACKUP_KEY is not set" in found["NDB-IP1.7"].detail
        assert 1 == found["report"].exit_code
        shutil.rmtree(settings.home / "reports")
        check = ndb(keyed(settings), notion.base_url, only=only)["NDB-IP1.7"]
        assert Outcome.FAILED is check.outcome and check.detail.startswith("no apply report")

    def test_portal_isolates_and_a_broken_filter_fails(
        self, deployed: Deployed, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Another client's project made Portal and its task linked to Acme: IP1.8 still
        passes (Acme does not see them); a filter that leaks them fails IP1.8."""
        notion, settings, clients = deployed
        projects, tasks = data_source(deployed, "projects"), data_source(deployed, "tasks")
        with official(notion) as client:
            [acme] = page_ids(client, clients, ["Acme Corp"])
            [replatform] = page_ids(client, projects, ["Northwind Replatform"])
            portal = {"Visibility": {"select": {"name": "Portal"}}}
            client.pages.update(replatform, properties=portal)
            task = client.data_sources.query(
                tasks, filter={"property": "Project", "relation": {"contains": replatform}}
            )["results"][0]
            links = [r["id"] for r in task["properties"]["Client"]["relation"]]
            client.pages.update(
                task["id"],
                properties={**portal, "Client": {"relation": [{"id": i} for i in [*links, acme]]}},
            )
        check = ndb(settings, notion.base_url, only=["NDB-IP1.8"])["NDB-IP1.8"]
        assert Outcome.PASSED is check.outcome, check.detail
        assert "Acme Corp: 1 projects, 3 tasks" in check.steps

        def leaky(
            client_id: str,
            clients: Iterable[Row],
            projects: Iterable[Row],
            tasks: Iterable[Row],
            rules: PortalRules = RULES,
        ) -> Visible | None:
            honest = visible_to(client_id, clients, projects, tasks, rules)
            if honest is None:
                return None
            shown = tuple(p for p in projects if p.visibility == rules.shown)
            return Visible(honest.client, shown, honest.tasks, rules.task_project)

        monkeypatch.setattr(portal_reader, "visible_to", leaky)
        check = ndb(settings, notion.base_url, only=["NDB-IP1.8"])["NDB-IP1.8"]
        assert Outcome.FAILED is check.outcome
        assert 'Acme Corp sees project "Northwind Replatform", not its own visible project' in (
            check.steps
        )

    def test_collection_not_found_fails_infrastructure(
        self, tmp_path: Path, collection: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A wrong --collection, or none found anywhere: IP1.1 fails and says where it looked;
        a broken collection fails with its problems."""
        settings = embedded(tmp_path)
        only = ["NDB-IP1.1"]
        gone = tmp_path / "nowhere"
        check = ndb(settings, None, only=only, collection=gone)["NDB-IP1.1"]
        assert (Outcome.FAILED, f"no collection at {gone}; pass --collection PATH") == (
            check.outcome, check.detail,
        )  # fmt: skip
        monkeypatch.setattr(ndb_module, "find_collection", lambda starts: None)
        check = ndb(settings, None, only=only)["NDB-IP1.1"]
        assert Outcome.FAILED is check.outcome
        assert check.detail.startswith("no Ansible collection found") and "--collection" in (
            check.detail
        )
        (collection / "playbooks" / "site.yml").unlink()
        check = ndb(settings, None, only=only, collection=collection)["NDB-IP1.1"]
        assert Outcome.FAILED is check.outcome
        assert "playbooks/site.yml: missing" in check.steps
        assert check.detail == f"{collection}: 1 problem: playbooks/site.yml: missing"
