"""The client portal: the pure visibility filter, and the routes against a really deployed
consulting example (a local Notion server, the deploy engine, the dashboard app).

In the deployed tests two clients have portal access: Acme Corp (as in the example) and
Northwind Traders, whose client row, project and one task the fixture turns to ``Portal``,
so each client has visible data the other must never see.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import notion_client
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from devfactory.cli import app as cli_app
from devfactory.config import Settings
from devfactory.db import Database
from devfactory.deploy.state import State, StateFile
from devfactory.emulator.testing import LocalNotion
from devfactory.obs import log
from devfactory.obs.events import MemoryBus
from devfactory.web import create_app
from devfactory.web.auth import SESSION_COOKIE
from devfactory.web.portal import PortalRules, Row, page_key, plain, to_row, visible_to
from devfactory.web.portal_keys import PortalKeys
from devfactory.web.portal_reader import PortalConfig, PortalReader
from devfactory.web.portal_routes import PORTAL_COOKIE, configure_portal
from tests.mcp.test_gateway_e2e import deployed

__all__ = ["deployed"]  # the fixture, reused: the example applied to a local server

ACME_SEES = ["Acme Corp", "Acme ERP Rollout", "Map current order-to-cash process",
             "Configure ERP sandbox", "Migrate customer master data"]  # fmt: skip
ACME_HIDDEN = ["Acme Data Audit", "Review ERP margin", "Deliver data quality report"]
NORTHWIND_SEES = ["Northwind Traders", "Northwind Replatform", "Design checkout flow"]
NORTHWIND_HIDDEN = ["Audit product catalogue"]
NEVER = ["Initech", "Initech Discovery", "Draft discovery proposal"]


# --- the pure filter -------------------------------------------------------------------------


def row(title: str, visibility: str | None = "Portal", **links: list[str]) -> Row:
    return Row(str(uuid.uuid4()), title, visibility, {}, {k: tuple(v) for k, v in links.items()})


class TestVisibleTo:
    """visible_to keeps a client's own Portal rows and drops everything else."""

    def test_own_portal_rows_only(self) -> None:
        """Projects need this client and Portal; tasks need a visible project and Portal."""
        me, other = row("Me"), row("Other")
        mine = row("Mine", Client=[me.id])
        hidden = row("Mine but internal", "Internal", Client=[me.id])
        theirs = row("Theirs", Client=[other.id])
        tasks = [
            row("t ok", Project=[mine.id]),
            row("t internal", "Internal", Project=[mine.id]),
            row("t no visibility", None, Project=[mine.id]),
            row("t of hidden project", Project=[hidden.id]),
            row("t of theirs", Project=[theirs.id]),
            row("t no project"),
        ]
        seen = visible_to(me.id, [me, other], [mine, hidden, theirs], tasks)
        assert seen is not None
        assert seen.client is me
        assert [mine] == list(seen.projects)
        assert ["t ok"] == [t.title for t in seen.tasks]
        assert ["t ok"] == [t.title for t in seen.tasks_of(mine)]

    def test_internal_or_missing_client_sees_nothing(self) -> None:
        """A client whose record is not Portal (or is not there) gets None."""
        me = row("Me", "Internal")
        project = row("P", Client=[me.id])
        assert visible_to(me.id, [me], [project], []) is None
        assert visible_to(str(uuid.uuid4()), [me], [project], []) is None

    def test_task_naming_another_client_is_hidden(self) -> None:
        """A task on my project whose own Client relation names someone else fails closed."""
        me, other = row("Me"), row("Other")
        mine = row("Mine", Client=[me.id])
        odd = row("odd", Project=[mine.id], Client=[other.id])
        named = row("named", Project=[mine.id], Client=[me.id])
        seen = visible_to(me.id, [me, other], [mine], [odd, named])
        assert seen is not None
        assert ["named"] == [t.title for t in seen.tasks]

    def test_project_lookup_is_by_visible_set_and_any_id_spelling(self) -> None:
        """project() finds visible ids dashed or bare, and nothing else."""
        me, other = row("Me"), row("Other")
        mine, theirs = row("Mine", Client=[me.id]), row("Theirs", Client=[other.id])
        seen = visible_to(me.id.replace("-", ""), [me, other], [mine, theirs], [])
        assert seen is not None
        assert mine is seen.project(mine.id.replace("-", "").upper())
        assert seen.project(theirs.id) is None
        assert seen.project("../" + mine.id) is None
        assert seen.project("") is None

    def test_other_visibility_name_is_configurable(self) -> None:
        """The shown value comes from the rules."""
        me = row("Me", "Client-visible")
        rules = PortalRules(shown="Client-visible")
        assert visible_to(me.id, [me], [], [], rules) is not None
        assert visible_to(me.id, [me], [], []) is None


class TestToRow:
    """to_row keeps the title, visibility, whitelisted fields and followed relations only."""

    def test_whitelist(self) -> None:
        """Budget and unlisted relations never make it into the row."""
        page = {
            "id": "abc",
            "properties": {
                "Name": {"type": "title", "title": [{"plain_text": "Acme ERP"}]},
                "Visibility": {"type": "select", "select": {"name": "Portal"}},
                "Status": {"type": "status", "status": {"name": "In progress"}},
                "Budget": {"type": "number", "number": 120000},
                "Client": {"type": "relation", "relation": [{"id": "c1"}]},
                "Invoices": {"type": "relation", "relation": [{"id": "i1"}]},
            },
        }
        got = to_row(page, ["Status", "Missing"], ["Client"], "Visibility")
        assert (
            Row("abc", "Acme ERP", "Portal", {"Status": "In progress"}, {"Client": ("c1",)}) == got
        )
        assert "120000" not in str(got.to_dict()) and "c1" not in str(got.to_dict())

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ({"type": "rich_text", "rich_text": [{"plain_text": "a"}, {"plain_text": "b"}]}, "ab"),
            ({"type": "multi_select", "multi_select": [{"name": "x"}, {"name": "y"}]}, "x, y"),
            ({"type": "date", "date": {"start": "2026-01-01", "end": "2026-02-01"}}, "2026-01-01 → 2026-02-01"),
            ({"type": "date", "date": None}, ""),
            ({"type": "checkbox", "checkbox": True}, "Yes"),
            ({"type": "number", "number": 3}, "3"),
            ({"type": "formula", "formula": {"type": "string", "string": "ok"}}, "ok"),
            ({"type": "formula", "formula": {"type": "boolean", "boolean": False}}, "No"),
            ({"type": "people", "people": [{"id": "u"}]}, ""),
            ({"type": "select", "select": None}, ""),
        ],
    )  # fmt: skip
    def test_plain(self, value: dict[str, Any], expected: str) -> None:
        """Each shown type renders as text; the rest renders as nothing."""
        assert expected == plain(value)

    def test_page_key(self) -> None:
        """Dashed and bare ids compare equal."""
        assert page_key("AB-cd") == page_key("abcd")


# --- against a deployed example ----------------------------------------------------------------


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Portal:
    """A dashboard serving the deployed example's portal, and what tests look at."""

    app: Any
    http: TestClient
    notion: LocalNotion
    settings: Settings
    state: State
    store: Database
    reader: PortalReader
    clock: Clock
    sink: log.MemorySink
    keys: dict[str, str]
    dashboard_key: str

    def id(self, database: str, title: str) -> str:
        return self.state.databases[database].rows[title].page_id

    def get(self, path: str, key: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.http.get(path, headers=headers, **kwargs)


def _to_portal(official: notion_client.Client, page_id: str) -> None:
    official.pages.update(page_id, properties={"Visibility": {"select": {"name": "Portal"}}})


@pytest.fixture
def portal(deployed: tuple[LocalNotion, Settings, str]) -> Iterator[Portal]:
    """The example deployed; Northwind made a second portal client; keys for both."""
    notion, settings, _ = deployed
    state = StateFile(settings.home, "consulting", "default").load(notion.base_url)
    official = notion_client.Client(auth=notion.token, base_url=notion.base_url, retry=False)
    try:
        for database, title in [
            ("clients", "Northwind Traders"),
            ("projects", "Northwind Replatform"),
            ("tasks", "Design checkout flow"),
        ]:
            _to_portal(official, state.databases[database].rows[title].page_id)
    finally:
        official.close()
    store = Database(settings.store_url)
    sink = log.MemorySink()
    log.configure(logs_dir=None, sinks=[sink], level="debug")
    app = create_app(settings, store=store, bus=MemoryBus())
    clock = Clock()
    config = PortalConfig(workspace="consulting", target_url=notion.base_url)
    reader = configure_portal(app, config, clock=clock)
    portal_keys = PortalKeys(store)
    keys = {
        client: portal_keys.create(
            client,
            client_id=state.databases["clients"].rows[client].page_id,
            client_name=client,
            workspace="consulting",
            environment="default",
        )
        for client in ("Acme Corp", "Northwind Traders")
    }
    dashboard_key = app.state.web.keys.create("admin-1", "admin")
    try:
        with TestClient(app) as http:
            yield Portal(
                app, http, notion, settings, state, store, reader, clock, sink, keys, dashboard_key
            )
    finally:
        log.shutdown()
        store.close()


def sign_in(portal: Portal, client: str) -> TestClient:
    """A fresh TestClient signed in through the login form as ``client``."""
    http = TestClient(portal.app)
    answer = http.post("/portal/login", data={"key": portal.keys[client]}, follow_redirects=False)
    assert 303 == answer.status_code and "/portal" == answer.headers["location"]
    return http


def absent(body: str, names: list[str]) -> None:
    for name in names:
        assert name not in body, f"{name!r} leaked"


class TestWhatAClientSees:
    """A signed-in client sees its record, its Portal projects and their Portal tasks."""

    def test_pages(self, portal: Portal) -> None:
        """The home page and the project page show Acme's visible rows and nothing else."""
        http = sign_in(portal, "Acme Corp")
        home = http.get("/portal")
        assert 200 == home.status_code
        for name in ["Acme Corp", "Acme ERP Rollout", "Manufacturing", "In progress"]:
            assert name in home.text
        absent(home.text, ACME_HIDDEN + NORTHWIND_SEES + NEVER + ["120000", "Flagship"])
        erp = portal.id("projects", "Acme ERP Rollout")
        page = http.get(f"/portal/projects/{erp}")
        assert 200 == page.status_code
        for name in ACME_SEES:
            assert name in page.text
        absent(page.text, ACME_HIDDEN + NORTHWIND_SEES + NORTHWIND_HIDDEN + NEVER)
        assert "no-store" == page.headers["cache-control"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    def test_api(self, portal: Portal) -> None:
        """The JSON API answers the same visible set with the bearer key."""
        key = portal.keys["Acme Corp"]
        me = portal.get("/api/v1/portal/me", key).json()
        assert "Acme Corp" == me["client"]["title"]
        assert {"Status", "Industry", "Website"} == set(me["client"]["fields"])
        projects = portal.get("/api/v1/portal/projects", key).json()["projects"]
        erp = portal.id("projects", "Acme ERP Rollout")
        assert [erp] == [p["id"] for p in projects]
        tasks = portal.get("/api/v1/portal/tasks", key).json()["tasks"]
        assert sorted(ACME_SEES[2:]) == sorted(t["title"] for t in tasks)
        assert all([erp] == t["projects"] for t in tasks)
        one = portal.get(f"/api/v1/portal/projects/{erp}", key).json()
        assert "Acme ERP Rollout" == one["project"]["title"]
        assert sorted(ACME_SEES[2:]) == sorted(t["title"] for t in one["tasks"])

    def test_second_client_sees_only_its_own(self, portal: Portal) -> None:
        """Northwind, made Portal by the fixture, sees its rows and none of Acme's."""
        key = portal.keys["Northwind Traders"]
        bodies = [
            portal.get(path, key).text
            for path in ["/api/v1/portal/me", "/api/v1/portal/projects", "/api/v1/portal/tasks"]
        ]
        joined = "".join(bodies)
        for name in NORTHWIND_SEES:
            assert name in joined
        absent(joined, ACME_SEES + ACME_HIDDEN + NORTHWIND_HIDDEN + NEVER)

    def test_client_turned_internal_loses_access(self, portal: Portal) -> None:
        """After the client's Visibility becomes Internal (and the cache expires), 403."""
        official = notion_client.Client(auth=portal.notion.token, base_url=portal.notion.base_url)
        try:
            official.pages.update(
                portal.id("clients", "Acme Corp"),
                properties={"Visibility": {"select": {"name": "Internal"}}},
            )
        finally:
            official.close()
        portal.clock.now += 31
        key = portal.keys["Acme Corp"]
        answer = portal.get("/api/v1/portal/projects", key)
        assert 403 == answer.status_code
        absent(answer.text, ACME_SEES[1:])
        page = sign_in(portal, "Acme Corp").get("/portal")
        assert 403 == page.status_code and "turned off" in page.text


def _other_ids(portal: Portal) -> list[str]:
    """Ids Acme must never open: Northwind's and Initech's rows, Acme's hidden ones, made-up."""
    ids = [
        portal.id("clients", "Northwind Traders"),
        portal.id("clients", "Initech"),
        portal.id("clients", "Acme Corp"),  # a client id is not a project id
        portal.id("projects", "Northwind Replatform"),
        portal.id("projects", "Initech Discovery"),
        portal.id("projects", "Acme Data Audit"),
        portal.id("tasks", "Design checkout flow"),
        portal.id("tasks", "Configure ERP sandbox"),  # a task id is not a project id
        portal.state.databases["projects"].data_source_id,
        str(uuid.uuid4()),
        uuid.uuid4().hex,
        "0" * 32,
        "null",
    ]
    return [*ids, portal.id("projects", "Northwind Replatform").replace("-", "").upper()]


TAMPERED = [
    "client={northwind}",
    "client_id={northwind}",
    "id={nw_project}",
    "project={nw_project}",
    "filter=%7B%22property%22%3A%22Client%22%7D",
    "visibility=Internal",
    "all=1",
]


class TestIsolation:
    """No route reaches another client's data, whatever id or parameter is sent."""

    def test_other_ids_are_404_in_every_detail_route(self, portal: Portal) -> None:
        """Pages and API answer 404 for every id not in the caller's visible set."""
        key = portal.keys["Acme Corp"]
        http = sign_in(portal, "Acme Corp")
        for page_id in _other_ids(portal):
            api = portal.get(f"/api/v1/portal/projects/{page_id}", key)
            assert 404 == api.status_code, page_id
            assert {"ok": False, "status": 404, "error": "no such project"} == api.json()
            page = http.get(f"/portal/projects/{page_id}")
            assert 404 == page.status_code, page_id
            absent(api.text + page.text, NORTHWIND_SEES + NORTHWIND_HIDDEN + NEVER + ACME_HIDDEN)

    def test_tampered_query_parameters_never_widen(self, portal: Portal) -> None:
        """Every list route answers Acme's own data whatever the query string says."""
        key = portal.keys["Acme Corp"]
        http = sign_in(portal, "Acme Corp")
        erp = portal.id("projects", "Acme ERP Rollout")
        values = {
            "northwind": portal.id("clients", "Northwind Traders"),
            "nw_project": portal.id("projects", "Northwind Replatform"),
        }
        routes = ["/api/v1/portal/me", "/api/v1/portal/projects", "/api/v1/portal/tasks",
                  f"/api/v1/portal/projects/{erp}", "/portal", f"/portal/projects/{erp}"]  # fmt: skip
        for route in routes:
            plain_answer = portal.get(route, key) if route.startswith("/api") else http.get(route)
            for query in TAMPERED:
                url = f"{route}?{query.format(**values)}"
                answer = portal.get(url, key) if route.startswith("/api") else http.get(url)
                assert 200 == answer.status_code, url
                assert plain_answer.text == answer.text, url
                assert any(name in answer.text for name in ACME_SEES)
                absent(answer.text, NORTHWIND_SEES + NORTHWIND_HIDDEN + NEVER + ACME_HIDDEN)

    def test_path_tricks_do_not_escape(self, portal: Portal) -> None:
        """Encoded slashes and dot segments stay 404s."""
        key = portal.keys["Acme Corp"]
        nw = portal.id("projects", "Northwind Replatform")
        for path in [
            f"/api/v1/portal/projects/%2e%2e%2f{nw}",
            f"/api/v1/portal/projects/{nw}%00",
            f"/api/v1/portal/projects/{nw}%2F..",
        ]:
            answer = portal.get(path, key)
            assert answer.status_code in (404, 422), path
            absent(answer.text, NORTHWIND_SEES)

    def test_northwind_cannot_open_acme(self, portal: Portal) -> None:
        """The other way round: Acme's project is a 404 for Northwind."""
        key = portal.keys["Northwind Traders"]
        erp = portal.id("projects", "Acme ERP Rollout")
        answer = portal.get(f"/api/v1/portal/projects/{erp}", key)
        assert 404 == answer.status_code
        page = sign_in(portal, "Northwind Traders").get(f"/portal/projects/{erp}")
        assert 404 == page.status_code
        absent(answer.text + page.text, ACME_SEES + ACME_HIDDEN)


class TestKeysStayApart:
    """Dashboard keys do not open the portal; portal keys do not open the dashboard."""

    ROUTES = ["/api/v1/portal/me", "/api/v1/portal/projects", "/api/v1/portal/tasks"]

    def test_dashboard_key_rejected_by_portal(self, portal: Portal) -> None:
        """An admin API key is unknown to the portal: 401 on the API, sign-in on the pages."""
        for route in self.ROUTES:
            assert 401 == portal.get(route, portal.dashboard_key).status_code
        login = portal.http.post(
            "/portal/login", data={"key": portal.dashboard_key}, follow_redirects=False
        )
        assert 401 == login.status_code and PORTAL_COOKIE not in login.cookies
        page = portal.get("/portal", follow_redirects=False)
        assert 303 == page.status_code and "/portal/login" == page.headers["location"]

    def test_dashboard_session_rejected_by_portal(self, portal: Portal) -> None:
        """A dashboard session cookie, even copied into the portal cookie, opens nothing."""
        http = TestClient(portal.app)
        assert 200 == http.post("/login", data={"key": portal.dashboard_key}).status_code
        session = http.cookies.get(SESSION_COOKIE)
        assert session
        assert 401 == http.get("/api/v1/portal/me").status_code
        http.cookies.set(PORTAL_COOKIE, session)
        assert 401 == http.get("/api/v1/portal/me").status_code

    def test_portal_key_rejected_by_dashboard(self, portal: Portal) -> None:
        """A portal key is unknown to /api/v1/*, to /login and to the dashboard pages."""
        key = portal.keys["Acme Corp"]
        for route in ["/api/v1/me", "/api/v1/logs", "/api/v1/approvals", "/api/v1/deployments",
                      "/api/v1/databases", "/api/v1/metrics/summary"]:  # fmt: skip
            assert 401 == portal.get(route, key).status_code, route
        assert 401 == portal.http.post("/login", data={"key": key}).status_code
        for route in ["/", "/logs", "/approvals", "/deployments", "/workspaces"]:
            answer = portal.get(route, key, follow_redirects=False)
            assert answer.status_code in (302, 303, 401), route
            absent(answer.text, ACME_SEES)

    def test_portal_session_rejected_by_dashboard(self, portal: Portal) -> None:
        """The portal cookie, even copied into the dashboard's, opens no dashboard route."""
        http = sign_in(portal, "Acme Corp")
        cookie = http.cookies.get(PORTAL_COOKIE)
        assert cookie
        assert 401 == http.get("/api/v1/me").status_code
        http.cookies.set(SESSION_COOKIE, cookie)
        assert 401 == http.get("/api/v1/me").status_code

    def test_revoked_key_ends_its_session(self, portal: Portal) -> None:
        """Revoking a key signs its sessions out at their next request."""
        http = sign_in(portal, "Acme Corp")
        assert 200 == http.get("/api/v1/portal/me").status_code
        assert PortalKeys(portal.store).revoke("Acme Corp")
        assert 401 == http.get("/api/v1/portal/me").status_code
        assert 401 == portal.get("/api/v1/portal/me", portal.keys["Acme Corp"]).status_code

    def test_key_for_another_environment_is_refused(self, portal: Portal) -> None:
        """A key bound to another workspace or environment does not open this portal."""
        key = PortalKeys(portal.store).create(
            "acme-staging",
            client_id=portal.id("clients", "Acme Corp"),
            client_name="Acme Corp",
            workspace="consulting",
            environment="staging",
        )
        answer = portal.get("/api/v1/portal/projects", key)
        assert 401 == answer.status_code
        absent(answer.text, ACME_SEES[1:])

    def test_logout_needs_the_csrf_token(self, portal: Portal) -> None:
        """POST /portal/logout without the session's token is refused; with it, signs out."""
        http = sign_in(portal, "Acme Corp")
        refused = http.post("/portal/logout", data={"csrf": "forged"}, follow_redirects=False)
        assert 403 == refused.status_code
        assert 200 == http.get("/api/v1/portal/me").status_code
        home = http.get("/portal").text
        token = home.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        done = http.post("/portal/logout", data={"csrf": token}, follow_redirects=False)
        assert 303 == done.status_code
        assert 401 == http.get("/api/v1/portal/me").status_code

    def test_every_access_is_audited(self, portal: Portal) -> None:
        """Allowed and denied portal calls are audit lines naming the portal principal."""
        portal.get("/api/v1/portal/me", portal.keys["Acme Corp"])
        portal.get("/api/v1/portal/me", "dfp_wrong")
        nw = portal.id("projects", "Northwind Replatform")
        portal.get(f"/api/v1/portal/projects/{nw}", portal.keys["Acme Corp"])
        lines = [r for r in portal.sink.records("audit") if "/portal" in str(r.get("path"))]
        assert any(
            r["decision"] == "ok" and r["principal"] == "portal:Acme Corp"
            and r["portal_client"] == "Acme Corp" for r in lines
        )  # fmt: skip
        assert any(r["decision"] == "denied" and r["reason"] == "unknown portal key" for r in lines)
        assert any(r["decision"] == "denied" and r["reason"] == "not visible" for r in lines)
        assert not any("dfp_" in str(r) for r in lines)


class TestReads:
    """Reads are live from Notion with a short cache; the portal says when it cannot read."""

    def test_cache_serves_within_ttl_and_rereads_after(self, portal: Portal) -> None:
        """A second request within 30 s makes no Notion read; after the TTL it reads again."""
        key = portal.keys["Acme Corp"]
        assert 200 == portal.get("/api/v1/portal/projects", key).status_code
        first = portal.reader.reads
        assert 3 == first  # clients, projects, tasks
        portal.clock.now += 29
        assert 200 == portal.get("/api/v1/portal/projects", key).status_code
        assert first == portal.reader.reads
        portal.clock.now += 2
        assert 200 == portal.get("/api/v1/portal/tasks", key).status_code
        assert first + 3 == portal.reader.reads

    def test_change_in_notion_shows_after_ttl(self, portal: Portal) -> None:
        """A project made Internal in Notion disappears once the cache expires."""
        key = portal.keys["Acme Corp"]
        erp = portal.id("projects", "Acme ERP Rollout")
        assert 200 == portal.get(f"/api/v1/portal/projects/{erp}", key).status_code
        official = notion_client.Client(auth=portal.notion.token, base_url=portal.notion.base_url)
        try:
            official.pages.update(erp, properties={"Visibility": {"select": {"name": "Internal"}}})
        finally:
            official.close()
        assert 200 == portal.get(f"/api/v1/portal/projects/{erp}", key).status_code
        portal.clock.now += 30
        assert 404 == portal.get(f"/api/v1/portal/projects/{erp}", key).status_code
        assert [] == portal.get("/api/v1/portal/tasks", key).json()["tasks"]

    def test_not_configured_is_503(self, tmp_path: Path) -> None:
        """A dashboard started without --portal says so (JSON and page)."""
        log.configure(logs_dir=None, sinks=[log.MemorySink()], level="debug")
        store = Database(f"sqlite:///{tmp_path / 'store.db'}")
        try:
            app = create_app(Settings(home=tmp_path), store=store, bus=MemoryBus())
            with TestClient(app) as http:
                answer = http.get("/api/v1/portal/me", headers={"Authorization": "Bearer dfp_x"})
                assert 503 == answer.status_code and "not set up" in answer.json()["error"]
                assert 503 == http.get("/portal").status_code
        finally:
            log.shutdown()
            store.close()

    def test_nothing_deployed_is_503(self, portal: Portal) -> None:
        """A portal for an environment with no deploy answers 503 with the reason."""
        configure_portal(portal.app, PortalConfig(workspace="consulting", environment="qa",
                                                  target_url=portal.notion.base_url))  # fmt: skip
        key = PortalKeys(portal.store).create(
            "acme-qa",
            client_id=portal.id("clients", "Acme Corp"),
            client_name="Acme Corp",
            workspace="consulting",
            environment="qa",
        )
        answer = portal.get("/api/v1/portal/me", key)
        assert 503 == answer.status_code
        assert "not deployed" in answer.json()["error"]


class TestPortalKeysCli:
    """devfactory web portal-keys: create (Portal clients only), list, revoke."""

    def test_create_list_revoke(self, portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
        """A key for Acme opens Acme's portal; Initech (Internal) gets none; revoke ends it."""
        monkeypatch.setenv("DEVFACTORY_HOME", str(portal.settings.home))
        monkeypatch.setenv("DEVFACTORY_EMULATOR_TOKEN", portal.notion.token)
        monkeypatch.setenv("DEVFACTORY_NOTION_RATE", "1000")
        spec = str(Path(__file__).resolve().parents[2] / "examples/consulting/workspace.yaml")
        where = ["--spec", spec, "--target", portal.notion.base_url]
        runner = CliRunner()
        refused = runner.invoke(cli_app, ["web", "portal-keys", "create", "Initech", *where])
        assert 0 != refused.exit_code
        assert "Visibility is Internal, not Portal" in str(refused.exception)
        unknown = runner.invoke(cli_app, ["web", "portal-keys", "create", "Nobody Ltd", *where])
        assert 0 != unknown.exit_code and "no client is named" in str(unknown.exception)
        made = runner.invoke(
            cli_app, ["web", "portal-keys", "create", "acme corp", "--name", "acme-pmo", *where]
        )
        assert 0 == made.exit_code, made.output
        key = made.stdout.strip().splitlines()[-1]
        assert key.startswith("dfp_")
        me = portal.get("/api/v1/portal/me", key).json()
        assert "Acme Corp" == me["client"]["title"]
        listed = runner.invoke(cli_app, ["web", "portal-keys", "list"])
        assert "acme-pmo" in listed.output and key not in listed.output
        assert 0 == runner.invoke(cli_app, ["web", "portal-keys", "revoke", "acme-pmo"]).exit_code
        assert 401 == portal.get("/api/v1/portal/me", key).status_code
        again = runner.invoke(cli_app, ["web", "portal-keys", "revoke", "acme-pmo"])
        assert 0 != again.exit_code
