"""The MCP Notion server end to end: the consulting example deployed to a real local Notion
server on loopback, every tool driven through the SDK's in-memory client (and once over
stdio), and every effect checked with the official notion-client reading the server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import notion_client
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.types import CallToolResult
from pydantic import SecretStr

from devfactory.config import Settings
from devfactory.deploy.engine import ApplyOptions, apply_workspace, load_workspace
from devfactory.deploy.observe import ObservedDatabase, observe_data_source
from devfactory.deploy.state import State, StateFile
from devfactory.emulator.testing import LocalNotion
from devfactory.mcp.filters import FilterError, build_filter, build_sorts
from devfactory.mcp.hosted import HostedServer
from devfactory.mcp.notion import hosted
from devfactory.mcp.values import convert_values, plain_value
from devfactory.notion.target import resolve_target
from tests.conftest import TOKEN

Json = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "consulting" / "workspace.yaml"
OWNER = "Local Owner"  # the person the local server's workspace starts with


# ---------------------------------------------------------------------------- fixtures


@dataclass
class Deployed:
    """The consulting workspace on a local server, and the official client reading it."""

    notion: LocalNotion
    settings: Settings
    state: State
    client: notion_client.Client

    def ds(self, key: str) -> str:
        return self.state.databases[key].data_source_id

    def rows(self, key: str) -> dict[str, Json]:
        """Every row of a database by title (the last of equal titles), as the official
        client reads it."""
        return {title(r): r for r in self.all_rows(key)}

    def all_rows(self, key: str) -> list[Json]:
        """Every row of a database, as the official client reads it."""
        found: list[Json] = []
        cursor: str | None = None
        while True:
            more = {"start_cursor": cursor} if cursor else {}
            answer = self.client.data_sources.query(self.ds(key), page_size=100, **more)
            found += answer["results"]
            if not answer["has_more"]:
                return found
            cursor = answer["next_cursor"]

    def page(self, page_id: str) -> Json:
        page: Json = self.client.pages.retrieve(page_id)
        return page

    def children(self, block_id: str) -> list[Json]:
        """Every child block, following the cursor."""
        found: list[Json] = []
        cursor: str | None = None
        while True:
            more = {"start_cursor": cursor} if cursor else {}
            answer = self.client.blocks.children.list(block_id, page_size=100, **more)
            found += answer["results"]
            if not answer["has_more"]:
                return found
            cursor = answer["next_cursor"]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """The consulting example applied once per module to a local server of its own (no
    client-side pacing). Tests that write make pages of their own, and tests that read
    compute what they expect from the official client's answers at the time."""
    tmp = tmp_path_factory.mktemp("notion")
    with LocalNotion.start(path=tmp / "notion.db", token=TOKEN) as notion:
        settings = Settings(
            home=tmp / "home", emulator_token=SecretStr(notion.token), notion_rate=1000
        )
        _, ws = load_workspace(SPEC, None)
        target = resolve_target(settings, notion.base_url)
        options = ApplyOptions(auto_approve=True, verify=False)
        report = asyncio.run(apply_workspace(ws, target, settings.home, options))
        assert report.error is None
        state = StateFile(settings.home, ws.workspace, ws.environment).load(target.label)
        client = notion_client.Client(auth=notion.token, base_url=notion.base_url, retry=False)
        yield Deployed(notion, settings, state, client)
        client.close()


def new_row(d: Deployed, key: str, name: str, **properties: Json) -> str:
    """A row of clients or projects (titled by "Name") made with the official client: a
    page of the test's own; its id."""
    page = d.client.pages.create(
        parent={"data_source_id": d.ds(key)},
        properties={"Name": {"title": [{"text": {"content": name}}]}, **properties},
    )
    return str(page["id"])


@asynccontextmanager
async def connected(
    d: Deployed, spec: Path | None = SPEC
) -> AsyncIterator[tuple[Client, HostedServer]]:
    """The hosted server on the deployed target, and an in-memory client on it."""
    server = hosted(d.settings, spec, None, d.notion.base_url)
    try:
        async with Client(server.server, raise_exceptions=True) as client:
            yield client, server
    finally:
        assert server.close is not None
        await server.close()


async def ok(client: Client, tool: str, **arguments: Any) -> Json:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def fails(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result


def message(result: CallToolResult) -> str:
    text: str = result.content[0].text  # type: ignore[union-attr]
    return text


# ---------------------------------------------------------------------------- raw values


def title(page: Json) -> str:
    return "".join(
        t["plain_text"]
        for p in page["properties"].values()
        if p["type"] == "title"
        for t in p["title"]
    )


def raw(page: Json, name: str) -> Any:
    """A property's value as the official client returns it, unwrapped one level."""
    value = page["properties"][name]
    body = value[value["type"]]
    kind = value["type"]
    if kind in ("select", "status"):
        return body["name"] if body else None
    if kind == "multi_select":
        return [o["name"] for o in body]
    if kind in ("relation", "people"):
        return [item["id"] for item in body]
    if kind in ("rich_text", "title"):
        return "".join(t["plain_text"] for t in body)
    if kind in ("formula", "rollup"):
        return body.get(body["type"])
    return body


def owner_id(d: Deployed) -> str:
    users = d.client.users.list()["results"]
    return str(next(u["id"] for u in users if u.get("name") == OWNER))


pytestmark = pytest.mark.anyio


# ---------------------------------------------------------------------------- the surface


class TestSurface:
    async def test_every_tool_is_described_and_annotated_for_the_gate(
        self, deployed: Deployed
    ) -> None:
        """Reads are read-only, writes neither read-only nor destructive, trash destructive;
        all closed-world, so the gate can tell a write from a destructive call."""
        async with connected(deployed) as (client, _):
            tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {
            "list_databases", "describe_database", "query", "get_page", "search",
            "create_page", "update_page", "append_content", "trash_page",
        } == set(tools)  # fmt: skip
        for tool in tools.values():
            assert tool.description and len(tool.description) > 30, tool.name
            assert tool.annotations is not None and tool.annotations.open_world_hint is False
        for name in ("list_databases", "describe_database", "query", "get_page", "search"):
            assert tools[name].annotations.read_only_hint is True  # type: ignore[union-attr]
        for name in ("create_page", "update_page", "append_content"):
            hints = tools[name].annotations
            assert (False, False) == (hints.read_only_hint, hints.destructive_hint)  # type: ignore[union-attr]
        trash = tools["trash_page"].annotations
        assert (False, True) == (trash.read_only_hint, trash.destructive_hint)  # type: ignore[union-attr]

    async def test_list_databases_names_them_as_the_spec_does(self, deployed: Deployed) -> None:
        """Logical names, titles and property types come from the spec and the state."""
        async with connected(deployed) as (client, _):
            listed = await ok(client, "list_databases")
        by_name = {db["name"]: db for db in listed["databases"]}
        assert ["clients", "projects", "tasks"] == list(by_name)[:3]  # spec order
        assert set(deployed.state.databases) == set(by_name)
        assert "Pipeline Projects" == by_name["projects"]["title"]
        assert all(db["deployed"] for db in by_name.values())
        assert "relation" == by_name["projects"]["properties"]["Client"]
        assert "relation" == by_name["clients"]["properties"]["Projects"]  # a back property
        assert deployed.notion.base_url == listed["target"]

    async def test_describe_database_reads_the_live_schema(self, deployed: Deployed) -> None:
        """Options, relation targets by logical name, computed properties read-only, and
        what each writable property takes."""
        async with connected(deployed) as (client, _):
            described = await ok(client, "describe_database", database="projects")
        props = described["properties"]
        assert deployed.ds("projects") == described["data_source_id"]
        assert "Name" == described["title_property"]
        assert ["Not started", "In progress", "Done"] == props["Status"]["options"]
        assert "clients" == props["Client"]["to"]
        assert "dollar" == props["Budget"]["format"]
        assert props["Health"]["read_only"] and props["Code"]["read_only"]
        assert "sum of Invoices.Amount" == props["Invoiced"]["rollup"]
        assert "a number" == props["Budget"]["value"]

    async def test_a_title_names_a_database_too(self, deployed: Deployed) -> None:
        """Agents may use the title they see in Notion ("Pipeline Projects")."""
        async with connected(deployed) as (client, _):
            described = await ok(client, "describe_database", database="pipeline projects")
        assert "projects" == described["name"]

    async def test_without_a_spec_the_deploy_state_names_the_databases(
        self, deployed: Deployed
    ) -> None:
        """No --spec: the states of this target give the names, Notion the titles and types."""
        async with connected(deployed, spec=None) as (client, _):
            listed = await ok(client, "list_databases")
            rows = await ok(client, "query", database="clients", filter={"Status": "Prospect"})
        by_name = {db["name"]: db for db in listed["databases"]}
        assert set(deployed.state.databases) == set(by_name)
        assert "Pipeline Projects" == by_name["projects"]["title"]
        assert "number" == by_name["projects"]["properties"]["Budget"]
        assert ["Initech"] == [r["title"] for r in rows["results"]]


# ---------------------------------------------------------------------------- query


class TestQuery:
    @pytest.mark.parametrize(
        ("database", "flt", "keep"),
        [
            ("projects", {"Budget": {">": 10000}}, lambda p, d: (raw(p, "Budget") or 0) > 10000),
            ("projects", {"Status": "In progress"}, lambda p, d: raw(p, "Status") == "In progress"),
            (
                "projects",
                {"Services": ["Design", "Data"]},
                lambda p, d: bool({"Design", "Data"} & set(raw(p, "Services"))),
            ),
            (
                "projects",
                {"Client": "Acme Corp"},
                lambda p, d: d.rows("clients")["Acme Corp"]["id"] in raw(p, "Client"),
            ),
            ("projects", {"Timeline": None}, lambda p, d: raw(p, "Timeline") is None),
            (
                "projects",
                {"Timeline": {"after": "2026-09-15"}},
                lambda p, d: (
                    bool(raw(p, "Timeline")) and raw(p, "Timeline")["start"] > "2026-09-15"
                ),
            ),
            (
                "projects",
                {"Budget Left": {">": 50000}},
                lambda p, d: (raw(p, "Budget Left") or 0) > 50000,
            ),
            (
                "documents",
                {"Signed": True, "Version": {">=": 2}},
                lambda p, d: raw(p, "Signed") and (raw(p, "Version") or 0) >= 2,
            ),
            (
                "invoices",
                {"Status": {"in": ["Paid", "Sent"]}, "Amount": {"<": 5000}},
                lambda p, d: (
                    raw(p, "Status") in ("Paid", "Sent") and 0 <= (raw(p, "Amount") or 1e9) < 5000
                ),
            ),
            ("clients", {"Name": {"starts_with": "N"}}, lambda p, d: title(p).startswith("N")),
            (
                "time_entries",
                {"Hours": {">": 5}, "Billable": True},
                lambda p, d: (raw(p, "Hours") or 0) > 5 and raw(p, "Billable"),
            ),
            (
                "projects",
                {
                    "or": [
                        {"property": "Budget", "number": {"greater_than": 100000}},
                        {"property": "Status", "status": {"equals": "Done"}},
                    ]
                },
                lambda p, d: (raw(p, "Budget") or 0) > 100000 or raw(p, "Status") == "Done",
            ),
        ],
        ids=lambda v: str(v) if isinstance(v, str | dict) else "",
    )
    async def test_friendly_and_raw_filters_select_what_the_server_holds(
        self,
        deployed: Deployed,
        database: str,
        flt: Json,
        keep: Callable[[Json, Deployed], bool],
    ) -> None:
        """Each filter returns exactly the rows the official client's data says match."""
        async with connected(deployed) as (client, _):
            found = await ok(client, "query", database=database, filter=flt, limit=100)
        expected = {p["id"] for p in deployed.all_rows(database) if keep(p, deployed)}
        assert expected, "the filter should select something"
        assert expected == {r["id"] for r in found["results"]}
        assert (len(expected), False) == (found["count"], found["has_more"])

    async def test_a_filter_sent_as_json_text_works_too(self, deployed: Deployed) -> None:
        """Some agents double-encode objects; the text is parsed."""
        async with connected(deployed) as (client, _):
            found = await ok(client, "query", database="clients", filter='{"Status": "Prospect"}')
        assert ["Initech"] == [r["title"] for r in found["results"]]

    async def test_sorts_and_limit(self, deployed: Deployed) -> None:
        """``-Budget`` sorts descending; the limit cuts, and has_more says so."""
        async with connected(deployed) as (client, _):
            found = await ok(client, "query", database="projects", sorts=["-Budget"], limit=2)
        budgets = [(raw(p, "Budget"), title(p)) for p in deployed.all_rows("projects")]
        by_budget = sorted((b for b in budgets if b[0] is not None), reverse=True)
        assert [t for _, t in by_budget[:2]] == [r["title"] for r in found["results"]]
        assert found["has_more"] is True

    async def test_rows_come_back_as_plain_values(self, deployed: Deployed) -> None:
        """Every property type of the spec, as plain values matching the official read:
        text, numbers, options, dates, relations as titles, people, formulas, rollups (number,
        date, list), unique ids, timestamps, checkboxes, files."""
        async with connected(deployed) as (client, _):
            projects = await ok(client, "query", database="projects", filter={"Code": "PRJ-1"})
            clients = await ok(client, "query", database="clients", filter={"Name": "Acme Corp"})
            docs = await ok(client, "query", database="documents", filter={"Version": 2})
            entry = await ok(client, "get_page", page="Acme ERP kickoff workshop", content=False)
        official = deployed.rows("projects")["Acme ERP Rollout"]
        row = projects["results"][0]
        assert (official["id"], "Acme ERP Rollout", "projects") == (
            row["id"],
            row["title"],
            row["database"],
        )
        values = row["properties"]
        assert {
            "Name": "Acme ERP Rollout",
            "Code": "PRJ-1",
            "Client": ["Acme Corp"],
            "Status": "In progress",
            "Visibility": "Portal",
            "Services": ["Strategy", "Engineering"],
            "Lead": [],
            "Budget": 120000,
            "Timeline": {"start": "2026-09-01", "end": "2027-02-26"},
            "Brief": "Replace Acme's legacy order system with the new ERP, in three waves.",
            "Shared Folder": "https://drive.example.com/acme/erp",
        }.items() <= values.items()
        assert raw(official, "Last Edited") == values["Last Edited"]
        for computed in ("Budget Left", "Health", "Hours Logged", "Invoiced", "Docs Signed"):
            assert raw(official, computed) == values[computed], computed
        tasks = {deployed.page(i)["id"]: title(deployed.page(i)) for i in raw(official, "Tasks")}
        assert sorted(tasks.values()) == sorted(values["Tasks"])
        acme = clients["results"][0]["properties"]
        assert {
            "Billing Email": "billing@acme.example.com",
            "Phone": "+1 415 555 0100",
            "Client Since": "2025-03-01",
            "Industry": "Manufacturing",
            "Total Invoiced": 20880,
            "Last Meeting": "2026-11-18",
        }.items() <= acme.items()
        assert raw(deployed.rows("clients")["Acme Corp"], "Created") == acme["Created"]
        sow = docs["results"][0]["properties"]
        assert (True, 2, ["Commercial", "Executive"], []) == (
            sow["Signed"],
            sow["Version"],
            sow["Tags"],
            sow["File"],
        )
        editor = raw(deployed.rows("documents")["Acme ERP statement of work"], "Last Edited By")
        users = {u["id"]: u.get("name") for u in deployed.client.users.list()["results"]}
        assert (users.get(editor["id"]) or editor["id"]) == sow["Last Edited By"]
        assert ["Paid"] == entry["properties"]["Invoice Status"]  # a show_original rollup
        assert (True, 180, 1080) == tuple(
            entry["properties"][n] for n in ("Billable", "Rate", "Amount")
        )


class TestFilterErrors:
    @pytest.mark.parametrize(
        ("flt", "says"),
        [
            ({"Statuss": "Active"}, ["filter", "no property 'Statuss'", "did you mean 'Status'"]),
            ({"Status": {">": 3}}, ["filter.Status.>", "does not take '>'"]),
            ({"Status": {"~": "x"}}, ["filter.Status", "unknown operator '~'"]),
            ({"Status": "Paused"}, ["'Paused' is not an option of Status"]),
            ({"Budget": {">": "lots"}}, ["filter.Budget.>", "compare it with a number"]),
            ({"Timeline": {"before": "next tuesday"}}, ["filter.Timeline.before", "ISO date"]),
            ({"Client": "Nobody Inc"}, ["no page titled 'Nobody Inc' in clients"]),
            (
                {"and": [{"property": "Bugdet", "number": {"equals": 1}}]},
                ["filter.and[0].property", "no property 'Bugdet'"],
            ),
            (
                {"property": "Budget", "number": {"greater_thn": 1}},
                ["Notion refused", "greater_thn"],
            ),
        ],
    )
    async def test_a_bad_filter_is_an_error_that_points_at_the_problem(
        self, deployed: Deployed, flt: Json, says: list[str]
    ) -> None:
        """Unknown property, wrong operator or operand, unknown option or related title, and
        Notion's own refusal of a raw filter: is_error results naming the place."""
        async with connected(deployed) as (client, _):
            result = await fails(client, "query", database="projects", filter=flt)
        for part in says:
            assert part in message(result)

    async def test_a_bad_sort_names_the_property(self, deployed: Deployed) -> None:
        """Sorting by a property that does not exist is refused before any query."""
        async with connected(deployed) as (client, _):
            result = await fails(client, "query", database="projects", sorts=["-Bugdet"])
        assert "sorts[0]" in message(result) and "'Budget'" in message(result)


# ---------------------------------------------------------------------------- pages


class TestPages:
    async def test_get_page_by_title_id_and_url(self, deployed: Deployed) -> None:
        """One page three ways; its content comes back as markdown; ``database`` is a scope
        an id must be in."""
        acme = deployed.rows("clients")["Acme Corp"]
        async with connected(deployed) as (client, _):
            by_title = await ok(client, "get_page", page="Acme Corp")
            by_id = await ok(client, "get_page", page=acme["id"].replace("-", ""))
            by_url = await ok(client, "get_page", page=acme["url"], content=False)
            elsewhere = await fails(client, "get_page", page=acme["id"], database="projects")
        assert acme["id"] == by_title["id"] == by_id["id"] == by_url["id"]
        assert "clients" == by_title["database"]
        assert ["Acme ERP Rollout", "Acme Data Audit"] == by_title["properties"]["Projects"]
        assert "" == by_title["content"] and "content" not in by_url
        assert f"no page {acme['id']!r} in projects" in message(elsewhere)  # database scopes ids

    async def test_search_finds_pages_and_databases(self, deployed: Deployed) -> None:
        """Results name their logical database."""
        async with connected(deployed) as (client, _):
            pages = await ok(client, "search", query="Acme Corp")
            dbs = await ok(client, "search", query="Invoices")
        acme = deployed.rows("clients")["Acme Corp"]["id"]
        assert {
            "object": "page",
            "id": acme,
            "title": "Acme Corp",
            "database": "clients",
        }.items() <= next(r for r in pages["results"] if r["id"] == acme).items()
        assert any(
            r["object"] == "database" and r["database"] == "invoices" for r in dbs["results"]
        )

    async def test_create_page_converts_plain_values_of_every_type(
        self, deployed: Deployed
    ) -> None:
        """Title, text, number, select, status, multi_select, date range, url, people by
        name and relation by title land in Notion as the official client reads them."""
        values = {
            "Name": "Globex Website",
            "Client": "Northwind Traders",
            "Status": "Not started",
            "Visibility": "Internal",
            "Services": ["Design", "Data"],
            "Lead": OWNER,
            "Budget": 15000.5,
            "Timeline": {"start": "2027-01-04", "end": "2027-03-31"},
            "Brief": "A new site for Globex.",
            "Shared Folder": "https://drive.example.com/globex",
        }
        async with connected(deployed) as (client, _):
            created = (await ok(client, "create_page", database="projects", values=values))[
                "created"
            ]
        page = deployed.page(created["id"])
        assert {
            "type": "data_source_id",
            "data_source_id": deployed.ds("projects"),
        }.items() <= page["parent"].items()
        northwind = deployed.rows("clients")["Northwind Traders"]["id"]
        assert {
            "Name": "Globex Website",
            "Client": [northwind],
            "Status": "Not started",
            "Visibility": "Internal",
            "Services": ["Design", "Data"],
            "Lead": [owner_id(deployed)],
            "Budget": 15000.5,
            "Brief": "A new site for Globex.",
            "Shared Folder": "https://drive.example.com/globex",
        } == {name: raw(page, name) for name in values if name != "Timeline"}
        assert ("2027-01-04", "2027-03-31") == (
            raw(page, "Timeline")["start"],
            raw(page, "Timeline")["end"],
        )
        assert {**values, "Client": ["Northwind Traders"], "Lead": [OWNER]}.items() <= created[
            "properties"
        ].items()

    async def test_create_page_writes_email_phone_checkbox_files_and_a_body(
        self, deployed: Deployed
    ) -> None:
        """The remaining types, one-item lists given as one value, and markdown content."""
        async with connected(deployed) as (client, _):
            contact = await ok(
                client,
                "create_page",
                database="clients",
                values={
                    "Name": "Globex",
                    "Billing Email": "ap@globex.example.com",
                    "Phone": "+1 555 0199",
                    "Client Since": "2026-12-01",
                    "Website": "https://globex.example.com",
                },
                content="# Globex\n\nNew **prospect**.",
            )
            doc = await ok(
                client,
                "create_page",
                database="documents",
                values={
                    "Document": "Globex NDA",
                    "Signed": True,
                    "Version": "3",
                    "Tags": "Finance",
                    "File": "https://files.example.com/nda.pdf",
                    "Project": ["Acme ERP Rollout"],
                },
            )
        page = deployed.page(contact["created"]["id"])
        assert ("ap@globex.example.com", "+1 555 0199", "2026-12-01") == (
            raw(page, "Billing Email"),
            raw(page, "Phone"),
            raw(page, "Client Since")["start"],
        )
        assert ["heading_1", "paragraph"] == [b["type"] for b in deployed.children(page["id"])]
        nda = deployed.page(doc["created"]["id"])
        assert (True, 3, ["Finance"]) == (raw(nda, "Signed"), raw(nda, "Version"), raw(nda, "Tags"))
        assert "https://files.example.com/nda.pdf" == raw(nda, "File")[0]["external"]["url"]
        assert [deployed.rows("projects")["Acme ERP Rollout"]["id"]] == raw(nda, "Project")

    async def test_values_that_do_not_fit_are_refused_and_nothing_is_created(
        self, deployed: Deployed
    ) -> None:
        """Every problem is named at once: unknown property, wrong type, unknown option,
        computed property, bad date, unknown related title."""
        before = len(deployed.all_rows("projects"))
        async with connected(deployed) as (client, _):
            result = await fails(
                client,
                "create_page",
                database="projects",
                values={
                    "Name": "Broken",
                    "Budgt": 1,
                    "Budget": "lots",
                    "Status": "Paused",
                    "Health": "fine",
                    "Timeline": "next tuesday",
                    "Services": [1],
                },
            )
            unknown_related = await fails(
                client,
                "create_page",
                database="projects",
                values={"Name": "Broken", "Client": "Nobody Inc"},
            )
        errors = result.structured_content["validation_errors"]  # type: ignore[index]
        assert 6 == len(errors)
        for part in (
            "no property 'Budgt'",
            "'lots' is not one",
            "'Paused' is not an option",
            "Health is a formula property",
            "'next tuesday' is not an ISO date",
            "Services is a multi_select: give option names",
        ):
            assert any(part in e for e in errors), part
        assert "no page titled 'Nobody Inc' in clients" in message(unknown_related)
        assert before == len(deployed.all_rows("projects"))

    async def test_update_page_changes_only_the_values_given(self, deployed: Deployed) -> None:
        """By title; a relation may name several rows by title; the rest stays."""
        brief = {"rich_text": [{"text": {"content": "Keep me."}}]}
        page_id = new_row(deployed, "projects", "Hooli Pilot", Brief=brief)
        async with connected(deployed) as (client, _):
            updated = await ok(
                client,
                "update_page",
                page="Hooli Pilot",
                values={
                    "Budget": 9500,
                    "Status": "In progress",
                    "Client": ["Initech", "Northwind Traders"],
                },
            )
        page = deployed.page(page_id)
        clients = deployed.rows("clients")
        assert (9500, "In progress") == (raw(page, "Budget"), raw(page, "Status"))
        assert [clients["Initech"]["id"], clients["Northwind Traders"]["id"]] == raw(page, "Client")
        assert "Keep me." == raw(page, "Brief")
        assert ["Initech", "Northwind Traders"] == updated["updated"]["properties"]["Client"]

    async def test_unknown_database_and_property_are_errors(self, deployed: Deployed) -> None:
        """Clear is_error results that list what exists; never a traceback."""
        async with connected(deployed) as (client, _):
            results = [
                await fails(client, "describe_database", database="customers"),
                await fails(client, "query", database="customers"),
                await fails(client, "create_page", database="customers", values={"Name": "x"}),
            ]
            prop = await fails(
                client, "update_page", page="Initech", values={"Stage": "Won"}, database="clients"
            )
            missing = await fails(client, "get_page", page="0" * 32)
        for result in results:
            assert "unknown database 'customers'" in message(result)
            assert "clients (Clients)" in message(result)
            assert "Traceback" not in message(result)
        assert "Clients has no property 'Stage'" in message(prop)
        assert "no page" in message(missing)


class TestContent:
    MARKDOWN = """\
# Kickoff notes
## Decisions
### Open points

We agreed on **three waves**, *not two*, with `wave-1` first; see [the plan](https://example.com/plan).

- Scope
  - ERP core
- Team
1. Map the process
2. Configure the sandbox
- [ ] Send the minutes
- [x] Book the room

> Done is better than perfect.

```python
def wave(n: int) -> str:
    return f"wave {n}"
```

---

Last line.
"""

    async def test_markdown_round_trips_as_blocks(self, deployed: Deployed) -> None:
        """Every supported markdown construct, read back with the official client."""
        page_id = new_row(deployed, "projects", "Kickoff page")
        async with connected(deployed) as (client, _):
            appended = await ok(
                client, "append_content", page="Kickoff page", markdown=self.MARKDOWN
            )
            read = await ok(client, "get_page", page=page_id)
        blocks = deployed.children(page_id)
        assert [
            "heading_1", "heading_2", "heading_3", "paragraph", "bulleted_list_item",
            "bulleted_list_item", "numbered_list_item", "numbered_list_item", "to_do", "to_do",
            "quote", "code", "divider", "paragraph",
        ] == [b["type"] for b in blocks]  # fmt: skip
        assert [b["id"] for b in blocks] == appended["block_ids"]
        assert 15 == appended["blocks_added"]
        text = {b["type"]: b[b["type"]].get("rich_text") for b in blocks}
        assert "Decisions" == text["heading_2"][0]["plain_text"]
        paragraph = blocks[3]["paragraph"]["rich_text"]
        styled = {t["plain_text"]: (t["annotations"], t["href"]) for t in paragraph}
        assert styled["three waves"][0]["bold"] and styled["not two"][0]["italic"]
        assert styled["wave-1"][0]["code"]
        assert "https://example.com/plan" == styled["the plan"][1]
        assert blocks[4]["has_children"]
        assert ["ERP core"] == [
            c["bulleted_list_item"]["rich_text"][0]["plain_text"]
            for c in deployed.children(blocks[4]["id"])
        ]
        assert [False, True] == [b["to_do"]["checked"] for b in blocks[8:10]]
        assert "Send the minutes" == blocks[8]["to_do"]["rich_text"][0]["plain_text"]
        code = blocks[11]["code"]
        assert "python" == code["language"]
        assert (
            'def wave(n: int) -> str:\n    return f"wave {n}"' == code["rich_text"][0]["plain_text"]
        )
        assert "Done is better than perfect." == blocks[10]["quote"]["rich_text"][0]["plain_text"]
        assert read["content"].startswith("# Kickoff notes\n## Decisions")
        assert "- [x] Book the room" in read["content"]

    async def test_long_content_is_sent_in_request_sized_parts(self, deployed: Deployed) -> None:
        """More than 100 blocks (Notion's limit per request) arrive whole and in order, on
        create as on append."""
        lines = "\n".join(f"- item {n}" for n in range(150))
        async with connected(deployed) as (client, _):
            created = await ok(
                client,
                "create_page",
                database="clients",
                values={"Name": "Long Co"},
                content=lines,
            )
            page_id = created["created"]["id"]
            appended = await ok(client, "append_content", page=page_id, markdown=lines)
        texts = [
            b["bulleted_list_item"]["rich_text"][0]["plain_text"]
            for b in deployed.children(page_id)
        ]
        assert [f"item {n}" for n in range(150)] * 2 == texts
        assert 150 == appended["blocks_added"] == len(appended["block_ids"])

    async def test_blank_markdown_is_refused(self, deployed: Deployed) -> None:
        """Nothing to append is an error, not an empty call."""
        async with connected(deployed) as (client, _):
            result = await fails(client, "append_content", page="Initech", markdown="\n  \n")
        assert "nothing to append" in message(result)


# ---------------------------------------------------------------------------- the gate


class TestAmbiguity:
    async def test_a_title_of_several_pages_is_refused_with_the_candidates(
        self, deployed: Deployed
    ) -> None:
        """Two "Twin Co" rows: nothing picks one; the error and assess list both; the id works."""
        twins = [new_row(deployed, "clients", "Twin Co") for _ in range(2)]
        async with connected(deployed) as (client, server):
            assert server.assess is not None
            got = await fails(client, "get_page", page="Twin Co")
            update = {"page": "Twin Co", "values": {"Status": "Active"}}
            changed = await fails(client, "update_page", **update)
            trashed = await fails(client, "trash_page", page="Twin Co")
            context = await server.assess("update_page", update)
            by_id = await ok(client, "update_page", page=twins[1], values={"Status": "Active"})
        for result in (got, changed, trashed):
            assert result.structured_content is not None
            assert 2 == result.structured_content["matches"]
            assert set(twins) == {c["id"] for c in result.structured_content["candidates"]}
            assert all(t in message(result) for t in twins)
        assert 2 == context["matches"]
        assert [{"id": t, "title": "Twin Co", "database": "clients"} for t in twins] == sorted(
            context["candidates"], key=lambda c: twins.index(c["id"])
        )
        states = [(raw(deployed.page(t), "Status"), deployed.page(t)["in_trash"]) for t in twins]
        assert [(None, False), ("Active", False)] == states
        assert "Active" == by_id["updated"]["properties"]["Status"]

    async def test_assess_reports_one_match_and_no_match(self, deployed: Deployed) -> None:
        """matches=1 for a unique title or an id, 0 for nothing (the gate's ambiguity signal)."""
        async with connected(deployed) as (_, server):
            assert server.assess is not None
            one = await server.assess("get_page", {"page": "Initech"})
            none = await server.assess("notion__get_page", {"page": "No Such Page"})
        assert {"matches": 1} == one
        assert {"matches": 0} == none


class TestTrash:
    async def test_trash_moves_the_page_to_notions_trash(self, deployed: Deployed) -> None:
        """The page is in the trash (restorable) and no longer found by title."""
        target = new_row(deployed, "projects", "Short-lived Project")
        async with connected(deployed) as (client, server):
            assert server.assess is not None
            context = await server.assess("trash_page", {"page": "Short-lived Project"})
            trashed = await ok(
                client, "trash_page", page="Short-lived Project", database="projects"
            )
            gone = await fails(client, "get_page", page="Short-lived Project")
        assert {"matches": 1, "affected": 1} == context
        assert target == trashed["trashed"]["id"]
        assert deployed.page(target)["in_trash"] is True
        assert "Short-lived Project" not in deployed.rows("projects")
        assert "no page 'Short-lived Project'" in message(gone)

    async def test_assess_counts_the_rows_a_container_page_takes_along(
        self, deployed: Deployed
    ) -> None:
        """Trashing the workspace's root page would take every database's rows with it."""
        root = deployed.state.root_page_id
        assert root is not None
        rows = sum(len(deployed.all_rows(key)) for key in deployed.state.databases)
        async with connected(deployed) as (_, server):
            assert server.assess is not None
            context = await server.assess("trash_page", {"page": root})
        assert {"matches": 1, "affected": 1 + rows} == context
        assert deployed.page(root)["in_trash"] is False

    async def test_assess_reports_values_and_filters_that_do_not_fit(
        self, deployed: Deployed
    ) -> None:
        """validation_errors before the call: wrong values, unknown database, bad filter."""
        async with connected(deployed) as (_, server):
            assert server.assess is not None
            create = await server.assess(
                "create_page",
                {"database": "clients", "values": {"Nmae": "x", "Status": "Bogus"}},
            )
            unknown = await server.assess("query", {"database": "customers"})
            bad_filter = await server.assess(
                "query", {"database": "projects", "filter": {"Budget": {">": "lots"}}}
            )
            fine = await server.assess(
                "create_page", {"database": "clients", "values": {"Name": "Fine Co"}}
            )
        assert 2 == len(create["validation_errors"])
        assert "unknown database 'customers'" in unknown["validation_errors"][0]
        assert "filter.Budget.>" in bad_filter["validation_errors"][0]
        assert {} == fine
        assert "Fine Co" not in deployed.rows("clients")


# ---------------------------------------------------------------------------- pure parts


def schema(deployed: Deployed, key: str) -> ObservedDatabase:
    keys = {db.data_source_id: k for k, db in deployed.state.databases.items()}
    return observe_data_source(key, deployed.client.data_sources.retrieve(deployed.ds(key)), keys)


class TestConversion:
    def test_friendly_filters_become_notions_grammar(self, deployed: Deployed) -> None:
        """Per type: select equals, multi_select contains (any of → or), number ranges and,
        relation titles as placeholders the server resolves, formulas typed by operand."""
        projects = schema(deployed, "projects")
        assert {
            "and": [
                {"property": "Status", "status": {"equals": "Done"}},
                {"or": [
                    {"property": "Services", "multi_select": {"contains": "Data"}},
                    {"property": "Services", "multi_select": {"contains": "Design"}},
                ]},
                {"property": "Budget", "number": {"greater_than": 1}},
                {"property": "Budget", "number": {"less_than_or_equal_to": 5}},
                {"property": "Client", "relation": {"contains": {"$ref": "row", "db": "clients", "title": "Acme"}}},
                {"property": "Health", "formula": {"string": {"contains": "track"}}},
                {"property": "Budget Left", "formula": {"number": {"less_than": 0}}},
                {"property": "Timeline", "date": {"is_empty": True}},
            ]
        } == build_filter(
            projects,
            {
                "Status": "Done",
                "Services": ["Data", "Design"],
                "Budget": {">": 1, "<=": 5},
                "Client": "Acme",
                "Health": {"contains": "track"},
                "Budget Left": {"<": 0},
                "Timeline": None,
            },
        )  # fmt: skip
        assert [{"property": "Budget", "direction": "descending"}] == build_sorts(
            projects, "Budget desc"
        )
        with pytest.raises(FilterError, match="checkbox is never empty"):
            build_filter(schema(deployed, "documents"), {"Signed": None})

    def test_plain_values_round_trip_through_notion_values(self, deployed: Deployed) -> None:
        """What plain_value reads, convert_values takes back to the same Notion value."""
        projects = schema(deployed, "projects")
        page = deployed.rows("projects")["Acme ERP Rollout"]
        writable = ["Name", "Status", "Visibility", "Services", "Budget", "Timeline", "Brief"]
        plain = {name: plain_value(page["properties"][name]) for name in writable}
        converted = convert_values(projects, plain)
        assert [] == converted.errors
        for name in writable:
            prop = projects.named(name)
            assert prop is not None
            assert plain[name] == plain_value({"type": prop.type, **converted.properties[name]})


# ---------------------------------------------------------------------------- stdio


async def test_the_cli_serves_the_tools_over_stdio(deployed: Deployed, tmp_path: Path) -> None:
    """``devfactory mcp notion --spec … --target URL`` with the token and home from the
    environment: a real subprocess speaking JSON-RPC on stdout."""
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            *("-m", "devfactory", "mcp", "notion"),
            *("--spec", str(SPEC), "--target", deployed.notion.base_url),
        ],
        env={
            "DEVFACTORY_EMULATOR_TOKEN": deployed.notion.token,
            "DEVFACTORY_HOME": str(deployed.settings.home),
            "DEVFACTORY_NOTION_RATE": "1000",
        },
        cwd=str(ROOT),
    )
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            found = await ok(client, "query", database="invoices", filter={"Status": "Sent"})
            missing = await fails(client, "describe_database", database="customers")
    assert {"query", "trash_page"} <= names
    assert ["Northwind October 2026"] == [r["title"] for r in found["results"]]
    assert "unknown database 'customers'" in message(missing)
