"""Encrypted backups and restores on the embedded local server: a backup restored into a fresh
workspace has the same schemas, rows, links, rollups and formulas; keys, tampering, subsets,
the backup before a destructive apply, and the command line."""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import os
import re
import stat
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
import yaml
from pydantic import SecretStr
from typer.testing import CliRunner

from devfactory.cli import backup as backup_cli
from devfactory.config import Settings
from devfactory.deploy import restore as restore_module
from devfactory.deploy.backup import (
    MAGIC,
    backup_before_destroy,
    decrypt,
    encrypt,
    read_backup,
    take_backup,
    write_backup,
)
from devfactory.deploy.desired import DesiredWorkspace, desired_workspace
from devfactory.deploy.engine import ApplyOptions, apply_workspace
from devfactory.deploy.plan import Plan
from devfactory.deploy.report import ApplyReport
from devfactory.deploy.restore import RestoreResult, restore_backup
from devfactory.deploy.state import State, StateFile
from devfactory.emulator.testing import LocalNotion
from devfactory.errors import TargetError, UserError
from devfactory.notion.api import NotionAPI
from devfactory.notion.target import NotionSession, Target, resolve_target
from devfactory.spec.model import Spec

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
PASSPHRASE = "correct horse battery staple"
ENV_VARS = ("NOTION_TOKEN", "DEVFACTORY_NOTION_TOKEN", "DEVFACTORY_BACKUP_KEY", "DEVFACTORY_HOME")
SKIPPED = frozenset(["created_time", "created_by", "last_edited_time", "last_edited_by"])

SPEC = yaml.safe_load(
    """
apiVersion: devfactory/v1
workspace: backup-demo
databases:
  clients:
    title: Clients
    icon: "🏢"
    description: Everyone we work for
    properties:
      Name: title
      Status: {type: select, options: [Active, Prospect, {name: Archived, color: gray}]}
      Tags: {type: multi_select, options: [VIP, {name: Remote, color: blue}]}
      Since: date
      Active: checkbox
      Website: url
      Owner: people
      Contract: files
      Project count: {type: rollup, relation: Projects, property: Budget, function: count}
      Pipeline: {type: rollup, relation: Projects, property: Budget, function: sum}
      Margins: {type: rollup, relation: Projects, property: Margin, function: sum}
      Label: {type: formula, expression: 'if(prop("Active"), "active", "idle")'}
    rows:
      - Name: Acme Corp
        Status: Active
        Tags: [VIP, Remote]
        Since: "2024-03-01"
        Active: true
        Website: https://acme.example
        Contract: [https://files.example/acme.pdf]
      - {Name: Globex, Status: Prospect, Since: {start: "2025-01-10", end: "2025-02-10"}}
  projects:
    title: Projects
    properties:
      Name: title
      Client: {type: relation, to: clients, synced_as: Projects}
      Budget: {type: number, format: dollar}
      Code: {type: unique_id, prefix: PRJ}
      Margin: {type: formula, expression: 'prop("Budget") * 0.2'}
      Stage: {type: status}
      Notes: rich_text
      Depends on: {type: relation, to: projects}
    rows:
      - {Name: Website, Client: Acme Corp, Budget: 12000, Stage: In progress, Notes: first plan}
      - {Name: Audit, Client: [Acme Corp], Budget: 4500, Depends on: Website, Stage: Done}
      - {Name: Pitch, Client: Globex, Budget: 800}
"""
)


# ---------------------------------------------------------------------------- helpers


def settings(home: Path, key: str | None = KEY, **extra: Any) -> Settings:
    """Settings for ``home`` that ignore the environment's tokens and key."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV_VARS:
            mp.delenv(name, raising=False)
        return Settings(home=home, backup_key=SecretStr(key) if key else None, **extra)


def embedded(home: Path) -> Target:
    return resolve_target(settings(home))


def workspace(data: dict[str, Any] | None = None) -> DesiredWorkspace:
    return desired_workspace(Spec.model_validate(data or SPEC), "default")


def deploy(home: Path, target: Target, **options: Any) -> ApplyReport:
    ws = workspace(options.pop("spec", None))
    return asyncio.run(
        apply_workspace(ws, target, home, ApplyOptions(auto_approve=True, **options))
    )


def state_of(home: Path, target: Target) -> State:
    return StateFile(home, "backup-demo", "default").load(target.label)


def in_session(target: Target, fn: Any) -> Any:
    """Run ``fn(session)`` (async) in a session on ``target``."""

    async def run() -> Any:
        async with NotionSession(target) as session:
            return await fn(session)

    return asyncio.run(run())


async def _add_rows(state: State, session: NotionSession) -> None:
    """Rows the spec cannot seed: a person, a mention, and a client linked from many projects."""
    client = session.client
    users = await client.users.list()
    owner = next(u["id"] for u in users["results"] if u["type"] == "person")
    clients, projects = state.databases["clients"], state.databases["projects"]
    initech = await client.pages.create(
        parent={"data_source_id": clients.data_source_id},
        properties={
            "Name": {"title": [{"text": {"content": "Initech"}}]},
            "Owner": {"people": [{"id": owner}]},
            "Active": {"checkbox": True},
        },
    )
    website = state.databases["projects"].rows["Website"].page_id
    for n in range(30):
        await client.pages.create(
            parent={"data_source_id": projects.data_source_id},
            properties={
                "Name": {"title": [{"text": {"content": f"Ticket {n}"}}]},
                "Budget": {"number": n},
                "Client": {"relation": [{"id": initech["id"]}]},
                "Notes": {
                    "rich_text": [
                        {"text": {"content": "see "}, "annotations": {"bold": True}},
                        {"mention": {"page": {"id": website}}},
                        *({"text": {"content": f" part {i}"}} for i in range(28 if n == 0 else 0)),
                    ]
                },
            },
        )


def normalise(value: dict[str, Any], titles: dict[str, str]) -> Any:
    """A property value as plain data; relations as the titles of the rows they link."""
    kind = value["type"]
    item = value[kind]
    if kind in ("title", "rich_text"):
        return "".join(t["plain_text"] for t in item)
    if kind in ("select", "status"):
        return item and item["name"]
    if kind == "multi_select":
        return sorted(o["name"] for o in item)
    if kind == "date":
        return item and (item["start"], item["end"])
    if kind == "people":
        return sorted(p["id"] for p in item)
    if kind == "files":
        return [(f["name"], f[f["type"]]["url"]) for f in item]
    if kind == "relation":
        return sorted(titles[r["id"]] for r in item)
    if kind in ("formula", "rollup"):
        return item.get(item["type"])
    if kind == "unique_id":
        return (item["prefix"], item["number"])
    return item


async def _snapshot(session: NotionSession, sources: dict[str, str]) -> dict[str, Any]:
    """Schema and rows of data sources (key -> id), in a form two workspaces compare by."""
    client = session.client
    schemas: dict[str, Any] = {}
    rows: dict[str, list[Any]] = {}
    for key, data_source_id in sources.items():
        data = await client.data_sources.retrieve(data_source_id)
        schemas[key] = data
        found, cursor = [], None
        while True:
            body: dict[str, Any] = {"page_size": 100}
            if cursor:
                body["start_cursor"] = cursor
            page = await client.data_sources.query(data_source_id, **body)
            found += page["results"]
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
        rows[key] = found
    titles = {
        row["id"]: normalise(v, {})
        for found in rows.values()
        for row in found
        for v in row["properties"].values()
        if v["type"] == "title"
    }
    key_of = {ds: key for key, ds in sources.items()}
    snap: dict[str, Any] = {}
    for key, data in schemas.items():
        snap[key] = {
            "title": "".join(t["plain_text"] for t in data["title"]),
            "schema": {n: _schema_of(p, key_of) for n, p in data["properties"].items()},
            "rows": {
                normalise(row["properties"][_title_name(data)], {}): {
                    n: normalise(v, titles)
                    for n, v in row["properties"].items()
                    if v["type"] not in SKIPPED
                }
                for row in rows[key]
            },
        }
    return snap


def _title_name(data: dict[str, Any]) -> str:
    return str(next(n for n, p in data["properties"].items() if p["type"] == "title"))


def _schema_of(prop: dict[str, Any], key_of: dict[str, str]) -> Any:
    kind = prop["type"]
    body = prop[kind]
    if kind in ("select", "multi_select", "status"):
        return (kind, [(o["name"], o["color"]) for o in body["options"]])
    if kind == "relation":
        synced = (body.get("dual_property") or {}).get("synced_property_name")
        return (kind, key_of.get(body["data_source_id"]), body["type"], synced)
    if kind == "rollup":
        names = (body["relation_property_name"], body["rollup_property_name"])
        return (kind, *names, body["function"])
    if kind == "formula":
        return (kind, body["expression"])
    if kind in ("number", "unique_id"):
        return (kind, body)
    return kind


def snapshot(target: Target, sources: dict[str, str]) -> dict[str, Any]:
    return dict(in_session(target, partial(_snapshot, sources=sources)))


def restored_sources(data: dict[str, Any], result: RestoreResult) -> dict[str, str]:
    """Key -> data source id of the restored databases."""
    return {key: result.ids[entry["data_source"]["id"]] for key, entry in data["databases"].items()}


def restore(target: Target, data: dict[str, Any], into: str | None = None) -> RestoreResult:
    async def run(session: NotionSession) -> RestoreResult:
        return await restore_backup(data, session, NotionAPI(), into_page_id=into)

    result: RestoreResult = in_session(target, run)
    return result


@dataclasses.dataclass
class Source:
    """A deployed workspace, its state and a backup of it."""

    home: Path
    target: Target
    state: State
    data: dict[str, Any]

    @property
    def sources(self) -> dict[str, str]:
        return {k: db.data_source_id for k, db in self.state.databases.items()}


def make_source(home: Path) -> Source:
    target = embedded(home)
    report = deploy(home, target)
    assert report.error is None and report.verified is True
    state = state_of(home, target)
    in_session(target, partial(_add_rows, state))

    async def take(session: NotionSession) -> dict[str, Any]:
        return await take_backup(state, session, NotionAPI())

    return Source(home, target, state, in_session(target, take))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """One deployed workspace with extra rows, and its backup data."""
    return make_source(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def restored(
    source: Source, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Target, RestoreResult]:
    """The backup, through an encrypted file, restored into a fresh embedded workspace."""
    home = tmp_path_factory.mktemp("fresh")
    target = embedded(home)
    data = decrypt(encrypt(source.data, KEY), KEY)
    return target, restore(target, data)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No token, key or home from the environment of the test run."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# ---------------------------------------------------------------------------- round trip


class TestRoundTrip:
    def test_backup_holds_every_database_schema_and_row(self, source: Source) -> None:
        """The backup has each database, its data source and all its rows."""
        databases = source.data["databases"]
        assert ["clients", "projects"] == list(databases)
        assert 3 == len(databases["clients"]["rows"])
        assert 33 == len(databases["projects"]["rows"])
        assert "Margin" in databases["projects"]["data_source"]["properties"]
        assert {"format", "workspace", "environment", "target", "created", "databases"} == set(
            source.data
        )

    def test_schema_is_recreated(self, source: Source, restored: tuple[Target, Any]) -> None:
        """Same property names and types, options and colours, relations both ways with their
        names, rollups and formulas."""
        target, result = restored
        before = snapshot(source.target, source.sources)
        after = snapshot(target, restored_sources(source.data, result))
        for key in before:
            assert before[key]["title"] == after[key]["title"]
            assert before[key]["schema"] == after[key]["schema"]
        assert ("relation", "projects", "dual_property", "Client") == after["clients"]["schema"][
            "Projects"
        ]

    def test_rows_links_rollups_and_formulas_match(
        self, source: Source, restored: tuple[Target, Any]
    ) -> None:
        """Every row has the same values; relations link the corresponding new rows, so
        rollups and formulas compute the same numbers (people of other workspaces aside)."""
        target, result = restored
        before = snapshot(source.target, source.sources)
        after = snapshot(target, restored_sources(source.data, result))
        before["clients"]["rows"]["Initech"]["Owner"] = []
        assert before["clients"]["rows"] == after["clients"]["rows"]
        assert before["projects"]["rows"] == after["projects"]["rows"]
        acme, initech = after["clients"]["rows"]["Acme Corp"], after["clients"]["rows"]["Initech"]
        assert (2, 16500) == (acme["Project count"], acme["Pipeline"])
        assert (30, 435, "active") == (
            initech["Project count"],
            initech["Pipeline"],
            initech["Label"],
        )

    def test_counts_and_id_map(self, source: Source, restored: tuple[Target, Any]) -> None:
        """The result counts what was made and maps every old id to a new one."""
        _, result = restored
        assert (2, 21, 36) == (result.databases, result.properties, result.rows)
        assert 34 == result.links  # 33 clients, 1 depends-on
        old = {e["database"]["id"] for e in source.data["databases"].values()} | {
            r["id"] for e in source.data["databases"].values() for r in e["rows"]
        }
        assert old <= set(result.ids)
        assert not old & set(result.ids.values())

    def test_rows_with_more_links_than_a_request_takes_are_linked_from_the_other_side(
        self, source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A client with more projects than one write takes gets them through each project."""
        monkeypatch.setattr(restore_module, "MAX_LINKS", 10)
        target = embedded(tmp_path)
        result = restore(target, source.data)
        after = snapshot(target, restored_sources(source.data, result))
        assert 34 == result.links
        assert 30 == after["clients"]["rows"]["Initech"]["Project count"]
        assert ["Initech"] == after["projects"]["rows"]["Ticket 7"]["Client"]

    def test_formulas_in_notions_token_form_are_restored_by_name(
        self, source: Source, tmp_path: Path
    ) -> None:
        """Real Notion answers formulas with {{notion:block_property:…}} tokens; the restore
        writes them back as prop("Name")."""
        data = copy.deepcopy(source.data)
        schema = data["databases"]["projects"]["data_source"]["properties"]
        budget = schema["Budget"]["id"]
        token = f"{{{{notion:block_property:{budget}:00000000-0000-0000-0000-000000000000:abc}}}}"
        schema["Margin"]["formula"]["expression"] = f"{token} * 0.2"
        target = embedded(tmp_path)
        after = snapshot(target, restored_sources(data, restore(target, data)))
        assert ("formula", 'prop("Budget") * 0.2') == after["projects"]["schema"]["Margin"]
        assert 2400 == after["projects"]["rows"]["Website"]["Margin"]

    def test_restore_page_is_named_after_the_workspace(self, restored: tuple[Target, Any]) -> None:
        """Without --into, a workspace-level page "<workspace> (restored <time>)" holds it all."""
        _, result = restored
        assert result.page_title is not None
        assert re.fullmatch(
            r"backup-demo \(restored \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", result.page_title
        )

    def test_people_of_unknown_users_are_dropped_with_a_warning(
        self, restored: tuple[Target, Any]
    ) -> None:
        """A fresh workspace has other users: their people values are left out, and said so."""
        _, result = restored
        assert ["1 people values name users this workspace does not have; left out"] == (
            result.warnings
        )

    def test_restore_beside_the_source_keeps_people_and_leaves_the_source_alone(
        self, tmp_path: Path
    ) -> None:
        """Restored into the same workspace, people are kept and the source is unchanged."""
        src = make_source(tmp_path)
        before = snapshot(src.target, src.sources)
        result = restore(src.target, src.data)
        assert [] == result.warnings
        assert before == snapshot(src.target, src.sources)
        copy = snapshot(src.target, restored_sources(src.data, result))
        assert before["clients"]["rows"] == copy["clients"]["rows"]

    def test_into_restores_under_a_given_page(self, source: Source, tmp_path: Path) -> None:
        """--into puts the databases under that page, named after it."""
        target = embedded(tmp_path)

        async def page(session: NotionSession) -> str:
            made = await session.client.pages.create(
                parent={"type": "workspace", "workspace": True},
                properties={"title": {"title": [{"text": {"content": "Restores"}}]}},
            )
            return str(made["id"])

        parent = in_session(target, page)
        result = restore(target, source.data, into=parent)
        assert (parent, "Restores") == (result.page_id, result.page_title)

        async def parent_of(session: NotionSession) -> str:
            db = await session.client.databases.retrieve(
                result.ids[source.state.databases["clients"].database_id]
            )
            return str(db["parent"]["page_id"])

        assert parent == in_session(target, parent_of)

    def test_a_target_without_workspace_pages_needs_into(
        self, source: Source, tmp_path: Path
    ) -> None:
        """Real Notion cannot make workspace-level pages, so restore asks for --into."""
        target = dataclasses.replace(embedded(tmp_path), creates_root_pages=False)
        with pytest.raises(TargetError, match="give --into PAGE_ID"):
            restore(target, source.data)


class TestSubset:
    def test_database_option_backs_up_only_those(self, source: Source) -> None:
        """databases=[...] reads only the databases named."""

        async def take(session: NotionSession) -> dict[str, Any]:
            return await take_backup(source.state, session, NotionAPI(), databases=["projects"])

        data = in_session(source.target, take)
        assert ["projects"] == list(data["databases"])
        assert 33 == len(data["databases"]["projects"]["rows"])

    def test_subset_restores_what_it_can_and_says_what_not(
        self, source: Source, tmp_path: Path
    ) -> None:
        """Relations to databases not in the backup are left out, with warnings; the rest,
        self-relations included, is restored."""
        data = {**source.data, "databases": {"projects": source.data["databases"]["projects"]}}
        target = embedded(tmp_path)
        result = restore(target, data)
        assert [
            "projects.Client: links to a database not in the backup; left out"
        ] == result.warnings
        after = snapshot(target, restored_sources(data, result))
        assert ["Website"] == after["projects"]["rows"]["Audit"]["Depends on"]
        assert 2400 == after["projects"]["rows"]["Website"]["Margin"]
        assert "Client" not in after["projects"]["schema"]

    def test_unknown_database_key_is_a_user_error(self, source: Source) -> None:
        """Asking for a key the state does not know names the known ones."""

        async def take(session: NotionSession) -> dict[str, Any]:
            return await take_backup(source.state, session, NotionAPI(), databases=["nope"])

        with pytest.raises(UserError, match=r"no database 'nope'.*known: clients, projects"):
            in_session(source.target, take)


def cutting(monkeypatch: pytest.MonkeyPatch, session: NotionSession) -> None:
    """Make the session's queries answer as real Notion does for long values: relations cut
    to one item with has_more, rich text cut to 25 items."""
    query = session.client.data_sources.query

    async def cut(*args: Any, **kwargs: Any) -> Any:
        answer = await query(*args, **kwargs)
        for row in answer["results"]:
            for value in row["properties"].values():
                if value["type"] == "relation" and len(value["relation"]) > 1:
                    value["relation"], value["has_more"] = value["relation"][:1], True
                if value["type"] == "rich_text":
                    value["rich_text"] = value["rich_text"][:25]
        return answer

    monkeypatch.setattr(session.client.data_sources, "query", cut)


class TestPagination:
    def test_long_values_cut_short_are_read_in_full(
        self, source: Source, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Relations with has_more and 25-item rich text are completed from the property
        endpoint."""

        async def take(session: NotionSession) -> dict[str, Any]:
            cutting(monkeypatch, session)
            return await take_backup(source.state, session, NotionAPI())

        data = in_session(source.target, take)
        rows = {
            r["properties"]["Name"]["title"][0]["plain_text"]: r["properties"]
            for entry in data["databases"].values()
            for r in entry["rows"]
        }
        assert 30 == len(rows["Initech"]["Projects"]["relation"])
        assert False is rows["Initech"]["Projects"]["has_more"]
        assert 30 == len(rows["Ticket 0"]["Notes"]["rich_text"])
        assert " part 27" == rows["Ticket 0"]["Notes"]["rich_text"][-1]["plain_text"]


# ---------------------------------------------------------------------------- encryption


class TestEncryption:
    def test_raw_key_round_trips_in_mode_0(self) -> None:
        """A base64 key of 32 bytes is used as it is (mode byte 0)."""
        blob = encrypt({"format": 1, "x": "y"}, KEY)
        assert MAGIC == blob[:6]
        assert 0 == blob[6]
        assert {"format": 1, "x": "y"} == decrypt(blob, KEY)

    def test_standard_base64_key_is_a_raw_key_too(self) -> None:
        """The standard alphabet of the same 32 bytes reads the same file."""
        standard = base64.b64encode(bytes(range(32))).decode()
        assert {"format": 1} == decrypt(encrypt({"format": 1}, KEY), standard)

    def test_passphrase_round_trips_in_mode_1(self) -> None:
        """Anything else is a passphrase for scrypt (mode byte 1, a random salt)."""
        one, two = encrypt({"format": 1}, PASSPHRASE), encrypt({"format": 1}, PASSPHRASE)
        assert 1 == one[6]
        assert one[7:23] != two[7:23]
        assert {"format": 1} == decrypt(one, PASSPHRASE)

    def test_wrong_key_is_a_user_error(self) -> None:
        """Another key, or a passphrase for a raw-key file, cannot decrypt it."""
        blob = encrypt({"format": 1}, KEY)
        other = base64.urlsafe_b64encode(os.urandom(32)).decode()
        for key in (other, PASSPHRASE):
            with pytest.raises(
                UserError, match="wrong DEVFACTORY_BACKUP_KEY or the file was changed"
            ):
                decrypt(blob, key)
        with pytest.raises(UserError, match="cannot decrypt"):
            decrypt(encrypt({"format": 1}, PASSPHRASE), "another passphrase")

    @pytest.mark.parametrize("where", [6, 10, 30, 40, -1])
    def test_any_changed_byte_is_caught(self, where: int) -> None:
        """Mode, salt, nonce, ciphertext or tag: one flipped bit fails to decrypt."""
        blob = bytearray(encrypt({"format": 1, "rows": list(range(50))}, KEY))
        blob[where] ^= 0x01
        with pytest.raises(
            UserError,
            match="cannot decrypt the backup: wrong DEVFACTORY_BACKUP_KEY or the file was changed",
        ):
            decrypt(bytes(blob), KEY)

    def test_other_files_are_not_backups(self) -> None:
        """A file without the header is named as not a backup."""
        with pytest.raises(UserError, match="not a devfactory backup"):
            decrypt(b"PK\x03\x04" + os.urandom(100), KEY)

    def test_newer_formats_are_refused(self) -> None:
        """A backup of another format says which one it is."""
        with pytest.raises(UserError, match="backup format 2; this devfactory reads 1"):
            decrypt(encrypt({"format": 2}, KEY), KEY)

    def test_no_key_says_how_to_make_one(self, source: Source, tmp_path: Path) -> None:
        """Without DEVFACTORY_BACKUP_KEY nothing is read and the error shows the command."""

        async def write(session: NotionSession) -> Path:
            return await write_backup(source.state, session, NotionAPI(), settings(tmp_path, None))

        with pytest.raises(UserError) as caught:
            in_session(source.target, write)
        assert "DEVFACTORY_BACKUP_KEY" in str(caught.value)
        assert "base64.urlsafe_b64encode(os.urandom(32))" in str(caught.value)
        assert not (tmp_path / "backups").exists()


class TestFiles:
    def test_default_file_is_private_and_named_by_workspace_and_time(
        self, source: Source, tmp_path: Path
    ) -> None:
        """$DEVFACTORY_HOME/backups/<workspace>.<env>.<UTC time>.dfbak, mode 0600."""

        async def write(session: NotionSession) -> Path:
            return await write_backup(source.state, session, NotionAPI(), settings(tmp_path))

        path = in_session(source.target, write)
        assert tmp_path / "backups" == path.parent
        assert re.fullmatch(r"backup-demo\.default\.\d{8}T\d{6}Z\.dfbak", path.name)
        assert 0o600 == stat.S_IMODE(path.stat().st_mode)
        assert source.data["databases"].keys() == read_backup(path, KEY)["databases"].keys()

    def test_no_token_is_ever_in_a_backup(self, tmp_path: Path) -> None:
        """Neither the target's token nor the key is in the file or in its plaintext."""
        token = "ntn_backup_secret_token_1234567890"
        with LocalNotion.start(path=tmp_path / "server.db", token=token) as server:
            home = tmp_path / "home"
            target = resolve_target(
                settings(home, emulator_token=SecretStr(token)), server.base_url
            )
            assert deploy(home, target).error is None
            state = state_of(home, target)

            async def write(session: NotionSession) -> Path:
                return await write_backup(state, session, NotionAPI(), settings(home))

            path = in_session(target, write)
        blob = path.read_bytes()
        plaintext = orjson.dumps(read_backup(path, KEY))
        assert b"Acme Corp" in plaintext
        for secret in (token, KEY, base64.urlsafe_b64decode(KEY).hex()):
            assert secret.encode() not in blob
            assert secret.encode() not in plaintext

    def test_unreadable_file_is_a_user_error(self, tmp_path: Path) -> None:
        """A missing backup file is named in the error."""
        with pytest.raises(UserError, match=r"cannot read .*missing\.dfbak"):
            read_backup(tmp_path / "missing.dfbak", KEY)


# ---------------------------------------------------------------------------- before destroy


def backing_up(conf: Settings) -> Any:
    """The apply's backup callback, as the CLI wires it."""

    async def backup(plan: Plan, state: State, session: NotionSession, api: NotionAPI) -> list[str]:
        return await backup_before_destroy(plan, state, session, api, conf)

    return backup


def _without_website(data: dict[str, Any]) -> dict[str, Any]:
    changed = yaml.safe_load(yaml.safe_dump(data))
    del changed["databases"]["clients"]["properties"]["Website"]
    for row in changed["databases"]["clients"]["rows"]:
        row.pop("Website", None)
    return dict(changed)


class TestBackupBeforeDestroy:
    def test_destructive_apply_backs_up_the_database_first(self, tmp_path: Path) -> None:
        """Removing a property with --allow-destroy writes a backup holding its values first."""
        target = embedded(tmp_path)
        deploy(tmp_path, target)
        conf = settings(tmp_path)
        report = deploy(
            tmp_path,
            target,
            spec=_without_website(SPEC),
            allow_destroy=True,
            backup=backing_up(conf),
        )
        assert report.error is None and 1 == len(report.backups)
        data = read_backup(Path(report.backups[0]), KEY)
        assert ["clients"] == list(data["databases"])
        acme = data["databases"]["clients"]["rows"][0]["properties"]
        assert "https://acme.example" == acme["Website"]["url"]
        live = snapshot(
            target, {k: d.data_source_id for k, d in state_of(tmp_path, target).databases.items()}
        )
        assert "Website" not in live["clients"]["schema"]

    def test_without_a_key_the_destructive_apply_stops_before_changing_anything(
        self, tmp_path: Path
    ) -> None:
        """No key, no backup: the apply fails and the property is still there."""
        target = embedded(tmp_path)
        deploy(tmp_path, target)
        conf = settings(tmp_path, None)
        with pytest.raises(UserError, match="DEVFACTORY_BACKUP_KEY is not set"):
            deploy(
                tmp_path,
                target,
                spec=_without_website(SPEC),
                allow_destroy=True,
                backup=backing_up(conf),
            )
        live = snapshot(
            target, {k: d.data_source_id for k, d in state_of(tmp_path, target).databases.items()}
        )
        assert "Website" in live["clients"]["schema"]

    def test_a_plan_without_destructive_changes_backs_up_nothing(self, source: Source) -> None:
        """backup_before_destroy writes nothing when nothing is destroyed."""
        plan = Plan("backup-demo", "default", "t", "h", 0, "l")

        async def run(session: NotionSession) -> list[str]:
            return await backup_before_destroy(
                plan, source.state, session, NotionAPI(), settings(source.home)
            )

        assert [] == in_session(source.target, run)


# ---------------------------------------------------------------------------- command line


@pytest.fixture
def cli() -> Iterator[typer.Typer]:
    """A root app with only the backup commands."""
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """devfactory (test)."""

    backup_cli.register(app)
    yield app


class TestCommandLine:
    def test_backup_then_restore_into_a_fresh_home(
        self, source: Source, tmp_path: Path, clean_env: pytest.MonkeyPatch, cli: typer.Typer
    ) -> None:
        """`devfactory backup` then `devfactory restore FILE` elsewhere prints the counts."""
        runner = CliRunner()
        clean_env.setenv("DEVFACTORY_BACKUP_KEY", PASSPHRASE)
        clean_env.setenv("DEVFACTORY_HOME", str(source.home))
        clean_env.setenv("COLUMNS", "200")
        out = tmp_path / "demo.dfbak"
        made = runner.invoke(cli, ["backup", "--workspace", "backup-demo", "--out", str(out)])
        assert 0 == made.exit_code, made.output
        assert (
            "Backed up 2 database(s), 21 properties and 36 rows of backup-demo (default)"
            in made.output
        )
        assert 1 == out.read_bytes()[6]
        clean_env.setenv("DEVFACTORY_HOME", str(tmp_path / "fresh"))
        back = runner.invoke(cli, ["restore", str(out)])
        assert 0 == back.exit_code, back.output
        assert (
            "Restored 2 database(s), 21 properties, 36 rows and 34 links of backup-demo"
            in back.output
        )
        assert "1 people values name users this workspace does not have" in back.output

    def test_database_option_and_default_path(
        self, source: Source, clean_env: pytest.MonkeyPatch, cli: typer.Typer
    ) -> None:
        """--database limits the backup; without --out it goes to $DEVFACTORY_HOME/backups."""
        clean_env.setenv("DEVFACTORY_BACKUP_KEY", KEY)
        clean_env.setenv("DEVFACTORY_HOME", str(source.home))
        clean_env.setenv("COLUMNS", "200")
        made = CliRunner().invoke(cli, ["backup", "--database", "projects"])
        assert 0 == made.exit_code, made.output
        assert "Backed up 1 database(s)" in made.output
        written = re.search(r"to (\S+\.dfbak)", made.output.replace("\n", ""))
        assert written is not None
        assert ["projects"] == list(read_backup(Path(written.group(1)), KEY)["databases"])

    def test_errors_are_user_errors(
        self, source: Source, tmp_path: Path, clean_env: pytest.MonkeyPatch, cli: typer.Typer
    ) -> None:
        """No key, or a wrong one, ends in a UserError the CLI prints without a traceback."""
        clean_env.setenv("DEVFACTORY_HOME", str(source.home))
        no_key = CliRunner().invoke(cli, ["backup"])
        assert isinstance(no_key.exception, UserError)
        assert "DEVFACTORY_BACKUP_KEY" in str(no_key.exception)
        path = tmp_path / "x.dfbak"
        path.write_bytes(encrypt(source.data, KEY))
        clean_env.setenv("DEVFACTORY_BACKUP_KEY", PASSPHRASE)
        wrong = CliRunner().invoke(cli, ["restore", str(path)])
        assert isinstance(wrong.exception, UserError)
        assert f"cannot decrypt {path}: wrong DEVFACTORY_BACKUP_KEY" in str(wrong.exception)
