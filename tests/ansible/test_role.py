"""The notion_database role through the collection's playbooks/site.yml: three workspaces
deployed in parallel and again idempotently in dev → staging → prod batches, the inputs
validated by the role's argument specs, and each kind of failure explained."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import notion_client
import pytest

from devfactory.emulator.testing import LocalNotion
from tests.ansible.runner import COLLECTION, SPEC, Run, data_sources, playbook, write_inventory

SITE = COLLECTION / "playbooks" / "site.yml"
ENVIRONMENTS = {"acme": "dev", "northwind": "staging", "globex": "prod"}
BACKUP_KEY = f"backup-passphrase-{secrets.token_hex(8)}"


def token() -> str:
    return f"ntn_role_secret_{secrets.token_hex(12)}"


@dataclass
class Fleet:
    """Three servers, one per workspace, and the two runs of site.yml over them."""

    servers: dict[str, LocalNotion]
    tokens: dict[str, str]
    homes: dict[str, Path]
    parallel: Run
    parallel_seconds: float
    staged: Run
    halted: Run
    allowed: Run
    data_sources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """site.yml with -f 3 and every host in one batch, then again with the default batches."""
    workdir = tmp_path_factory.mktemp("fleet")
    tokens = {name: token() for name in ENVIRONMENTS}
    homes = {name: workdir / name for name in ENVIRONMENTS}
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(
                LocalNotion.start(path=workdir / f"{name}.db", token=tokens[name])
            )
            for name in ENVIRONMENTS
        }
        # prod goes under an existing page, as on real Notion
        with notion_client.Client(
            auth=tokens["globex"], base_url=servers["globex"].base_url, retry=False
        ) as client:
            parent = client.pages.create(
                parent={"type": "workspace", "workspace": True},
                properties={"title": [{"text": {"content": "Globex HQ"}}]},
            )
        hosts: dict[str, dict[str, object]] = {
            name: {
                "notion_database_environment": env,
                "notion_database_target": servers[name].base_url,
                "notion_database_token": tokens[name],
                "notion_database_home": str(homes[name]),
            }
            for name, env in ENVIRONMENTS.items()
        }
        hosts["acme"]["notion_database_overrides"] = {
            "databases": {"clients": {"description": "Everyone Acme's consultants work for."}}
        }
        hosts["northwind"]["notion_database_add_properties"] = {
            "clients": [{"name": "Region", "type": "select", "options": ["EMEA", "APAC"]}]
        }
        hosts["globex"]["notion_database_spec_vars"] = {"NOTION_PARENT_PAGE_ID": parent["id"]}
        inventory = write_inventory(
            workdir / "inventory.yml",
            hosts,
            notion_database_spec_file=str(SPEC),
            notion_database_rate=0,
        )
        started = time.monotonic()
        parallel = playbook(SITE, inventory, workdir, "-f", "3", "-e", "notion_rollout=100%")
        seconds = time.monotonic() - started
        staged = playbook(SITE, inventory, workdir, "-f", "3")
        sources = {
            name: data_sources(servers[name].base_url, tokens[name]) for name in ENVIRONMENTS
        }
        # Then a destructive change on acme (Website: url -> rich_text), first without and
        # then with allow_destroy.
        destroy = {
            "notion_rollout": "100%",
            "notion_database_backup_key": BACKUP_KEY,
            "notion_database_overrides": {
                "databases": {
                    "clients": {
                        "description": "Everyone Acme's consultants work for.",
                        "properties": {"Website": "rich_text"},
                    }
                }
            },
        }
        halted = playbook(SITE, inventory, workdir, "--limit", "acme", "-e", json.dumps(destroy))
        allow = {**destroy, "notion_database_allow_destroy": True}
        allowed = playbook(SITE, inventory, workdir, "--limit", "acme", "-e", json.dumps(allow))
        yield Fleet(servers, tokens, homes, parallel, seconds, staged, halted, allowed, sources)


def _title(source: dict[str, Any]) -> str:
    return "".join(t["plain_text"] for t in source["title"])


def _clients(sources: list[dict[str, Any]]) -> dict[str, Any]:
    return next(s for s in sources if _title(s).endswith("Clients"))


class TestFleet:
    def test_three_workspaces_deploy_in_one_batch(self, fleet: Fleet) -> None:
        """With notion_rollout=100% the three hosts run in one batch and all change."""
        run = fleet.parallel
        assert 0 == run.returncode, run.explain()
        assert 1 == run.stdout.count("PLAY [Deploy the Notion workspaces]")
        assert {"acme": 1, "northwind": 1, "globex": 1} == run.changed()
        assert {0} == {c["failed"] for c in run.recap().values()}

    def test_each_workspace_verifies_clean(self, fleet: Fleet) -> None:
        """The role's verify step (notion_workspace_info checks) passed on every host, and
        each server holds its seven databases."""
        out = fleet.parallel.stdout
        assert 3 == out.count("verified clean"), fleet.parallel.explain()
        assert {7} == {len(s) for s in fleet.data_sources.values()}

    def test_each_workspace_got_its_environment_and_overrides(self, fleet: Fleet) -> None:
        """Titles follow each host's environment; the inventory's override and added
        property reached Notion."""
        titles = {
            name: {_title(s) for s in sources} for name, sources in fleet.data_sources.items()
        }
        assert "[dev] Clients" in titles["acme"]
        assert "[staging] Clients" in titles["northwind"]
        assert "Clients" in titles["globex"]
        acme = _clients(fleet.data_sources["acme"])
        server = fleet.servers["acme"]
        with notion_client.Client(
            auth=fleet.tokens["acme"], base_url=server.base_url, retry=False
        ) as client:
            database = client.databases.retrieve(acme["parent"]["database_id"])
        description = "".join(t["plain_text"] for t in database["description"])
        assert "Everyone Acme's consultants work for." == description
        region = _clients(fleet.data_sources["northwind"])["properties"]["Region"]
        assert "select" == region["type"]

    def test_reports_and_states_are_per_workspace(self, fleet: Fleet) -> None:
        """Each host wrote its report and deploy state in its own home."""
        for name, env in ENVIRONMENTS.items():
            assert (fleet.homes[name] / "state" / f"consulting.{env}.json").is_file()
            assert list((fleet.homes[name] / "reports").glob(f"consulting.{env}.*.yaml"))

    def test_second_run_in_batches_changes_nothing(self, fleet: Fleet) -> None:
        """The default rollout runs dev, then staging, then prod, and changes nothing."""
        run = fleet.staged
        assert 0 == run.returncode, run.explain()
        assert 3 == run.stdout.count("PLAY [Deploy the Notion workspaces]")
        assert {"acme": 0, "northwind": 0, "globex": 0} == run.changed()
        batches = [run.stdout.index(f"[{name}]") for name in ("acme", "northwind", "globex")]
        assert batches == sorted(batches)

    def test_tokens_never_printed(self, fleet: Fleet) -> None:
        """No token, and no backup key, appears in any run's output."""
        runs = [fleet.parallel, fleet.staged, fleet.halted, fleet.allowed]
        for secret in [*fleet.tokens.values(), BACKUP_KEY]:
            assert not [r.args for r in runs if secret in r.output]


class TestDestructiveChanges:
    def test_gate_halts_them_after_a_backup(self, fleet: Fleet) -> None:
        """Without allow_destroy the role backs the workspace up, then the gate halts the
        apply and the rescue names the approval to give."""
        run = fleet.halted
        assert 2 == run.returncode, run.explain()
        assert "Destructive changes wait for approval [approval_required]" in run.stdout
        assert "devfactory approvals approve apr_" in run.stdout
        assert 1 == run.recap()["acme"]["rescued"]
        assert {"acme"} == set(run.recap())

    def test_allow_destroy_applies_them_after_backups(self, fleet: Fleet) -> None:
        """With allow_destroy: the role's backup and devfactory's own before the change,
        both reported; the apply changes, then verifies clean."""
        run = fleet.allowed
        assert 0 == run.returncode, run.explain()
        assert {"acme": 2} == run.changed()  # the backup, then the apply
        report = next(line for line in run.stdout.splitlines() if "verified clean" in line)
        assert "-1" in report and 2 == report.count(".dfbak"), report
        backups = sorted((fleet.homes["acme"] / "backups").glob("*.dfbak"))
        assert 3 == len(backups)  # one before the halted apply, two before this one
        assert all(b.read_bytes().startswith(b"DFBK1") for b in backups)


class TestInputsAndFailures:
    def test_bad_input_fails_with_the_argument_spec_message(self, tmp_path: Path) -> None:
        """A value the role's argument spec rejects stops the play before any module runs."""
        inventory = write_inventory(
            tmp_path / "inventory.yml",
            {"acme": {"notion_database_home": str(tmp_path / "home")}},
            notion_database_spec_file=str(SPEC),
        )
        run = playbook(SITE, inventory, tmp_path, "-e", "notion_database_allow_destroy=perhaps")
        assert 2 == run.returncode, run.explain()
        assert "Validating arguments against arg spec 'main'" in run.stdout
        assert "Validation of arguments failed" in run.stdout
        assert "argument 'notion_database_allow_destroy' is of type str" in run.stdout
        assert "unable to convert to bool" in run.stdout
        assert not (tmp_path / "home").exists()

    def test_each_kind_of_failure_is_explained(self, tmp_path: Path) -> None:
        """An unknown token, a server that answers 429 and one that answers too slowly end
        in the rescue's message for their kind."""
        good, wrong = token(), token()
        with contextlib.ExitStack() as stack:
            servers = {
                name: stack.enter_context(
                    LocalNotion.start(path=tmp_path / f"{name}.db", token=good)
                )
                for name in ("badtoken", "ratelimited", "slow")
            }
            servers["ratelimited"].admin(
                "PUT", "faults", {"rules": [{"kind": "429", "retry_after": 0}]}
            )
            servers["slow"].admin("PUT", "faults", {"rules": [{"kind": "slow", "delay": 2}]})
            hosts: dict[str, dict[str, object]] = {
                name: {
                    "notion_database_target": server.base_url,
                    "notion_database_token": wrong if name == "badtoken" else good,
                    "notion_database_home": str(tmp_path / name),
                }
                for name, server in servers.items()
            }
            hosts["slow"]["notion_database_timeout"] = 0.5
            inventory = write_inventory(
                tmp_path / "inventory.yml",
                hosts,
                notion_database_spec_file=str(SPEC),
                notion_database_rate=0,
                notion_database_attempts=2,
            )
            run = playbook(SITE, inventory, tmp_path, "-f", "3", "-e", "notion_rollout=100%")
            servers["slow"].admin("DELETE", "faults")
        assert 2 == run.returncode, run.explain()
        out = run.stdout
        assert "Authentication failed [unauthorized]" in out, run.explain()
        assert "Notion rejected the token (401)" in out
        assert "Rate limited by Notion [rate_limited]" in out
        assert "Notion timed out [timeout]" in out
        assert {1} == {c["rescued"] for c in run.recap().values()}
        assert wrong not in run.output and good not in run.output
