"""Data source queries through the official client: filters, sorts, pagination, the cap."""

from __future__ import annotations

from typing import Any

import notion_client
import pytest
from notion_client import APIResponseError

from tests.conftest import text
from tests.integration.test_databases import make_db

SCHEMA = {
    "Name": {"title": {}},
    "Status": {"select": {"options": [{"name": "Open"}, {"name": "Done"}]}},
    "Tags": {"multi_select": {"options": [{"name": "a"}, {"name": "b"}]}},
    "Points": {"number": {}},
    "Due": {"date": {}},
    "Flag": {"checkbox": {}},
    "Link": {"url": {}},
}


@pytest.fixture
def tasks(client: notion_client.Client, root: dict[str, Any]) -> str:
    """A data source with six rows covering each filter type."""
    _, ds_id = make_db(client, root["id"], "Tasks", SCHEMA)
    rows = [
        ("alpha", "Open", ["a"], 5, "2026-01-10", True, "https://a.example"),
        ("Beta", "Done", ["a", "b"], 1, "2026-02-01", False, None),
        ("gamma", None, [], None, None, False, None),
        ("delta", "Open", ["b"], 3, "2026-01-10T12:00:00Z", True, None),
        ("Epsilon", "Done", [], 8, "2025-12-31", False, "https://e.example"),
        ("zeta", "Open", ["a"], 3, None, False, None),
    ]
    for name, status, tags, points, due, flag, link in rows:
        props: dict[str, Any] = {
            "Name": {"title": text(name)},
            "Tags": {"multi_select": [{"name": t} for t in tags]},
            "Points": {"number": points},
            "Flag": {"checkbox": flag},
            "Link": {"url": link},
        }
        if status:
            props["Status"] = {"select": {"name": status}}
        if due:
            props["Due"] = {"date": {"start": due}}
        client.pages.create(parent={"data_source_id": ds_id}, properties=props)
    return ds_id


def names(result: dict[str, Any]) -> list[str]:
    return [p["properties"]["Name"]["title"][0]["plain_text"] for p in result["results"]]


class TestFilters:
    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            ({"property": "Status", "select": {"equals": "Open"}}, ["alpha", "delta", "zeta"]),
            (
                {"property": "Status", "select": {"does_not_equal": "Open"}},
                ["Beta", "gamma", "Epsilon"],
            ),
            (
                {"property": "Status", "select": {"equals": ["Open", "Done"]}},
                ["alpha", "Beta", "delta", "Epsilon", "zeta"],
            ),
            ({"property": "Status", "select": {"is_empty": True}}, ["gamma"]),
            ({"property": "Tags", "multi_select": {"contains": "b"}}, ["Beta", "delta"]),
            (
                {"property": "Tags", "multi_select": {"does_not_contain": "a"}},
                ["gamma", "delta", "Epsilon"],
            ),
            ({"property": "Tags", "multi_select": {"is_empty": True}}, ["gamma", "Epsilon"]),
            ({"property": "Points", "number": {"greater_than": 3}}, ["alpha", "Epsilon"]),
            (
                {"property": "Points", "number": {"less_than_or_equal_to": 3}},
                ["Beta", "delta", "zeta"],
            ),
            ({"property": "Points", "number": {"is_empty": True}}, ["gamma"]),
            ({"property": "Name", "title": {"contains": "ETA"}}, ["Beta", "zeta"]),
            ({"property": "Name", "title": {"starts_with": "e"}}, ["Epsilon"]),
            (
                {"property": "Name", "rich_text": {"ends_with": "A"}},
                ["alpha", "Beta", "gamma", "delta", "zeta"],
            ),
            ({"property": "Name", "title": {"equals": "beta"}}, []),
            ({"property": "Flag", "checkbox": {"equals": True}}, ["alpha", "delta"]),
            ({"property": "Link", "url": {"is_not_empty": True}}, ["alpha", "Epsilon"]),
            ({"property": "Due", "date": {"equals": "2026-01-10"}}, ["alpha", "delta"]),
            ({"property": "Due", "date": {"before": "2026-01-10"}}, ["Epsilon"]),
            (
                {"property": "Due", "date": {"on_or_after": "2026-01-10T06:00:00Z"}},
                ["Beta", "delta"],
            ),
            ({"property": "Due", "date": {"is_empty": True}}, ["gamma", "zeta"]),
            (
                {
                    "and": [
                        {"property": "Status", "select": {"equals": "Open"}},
                        {"property": "Points", "number": {"equals": 3}},
                    ]
                },
                ["delta", "zeta"],
            ),
            (
                {
                    "or": [
                        {"property": "Name", "title": {"equals": "gamma"}},
                        {
                            "and": [
                                {"property": "Flag", "checkbox": {"equals": True}},
                                {"property": "Points", "number": {"greater_than": 4}},
                            ]
                        },
                    ]
                },
                ["alpha", "gamma"],
            ),
            (
                {"timestamp": "created_time", "created_time": {"is_not_empty": True}},
                ["alpha", "Beta", "gamma", "delta", "Epsilon", "zeta"],
            ),
        ],
    )
    def test_filter(
        self, client: notion_client.Client, tasks: str, flt: dict[str, Any], expected: list[str]
    ) -> None:
        """Each filter returns exactly the rows its documented semantics select."""
        assert expected == names(client.data_sources.query(tasks, filter=flt))

    def test_nesting_deeper_than_two_levels_is_refused(
        self, client: notion_client.Client, tasks: str
    ) -> None:
        """Compound filters nest at most two levels, as in Notion."""
        leaf = {"property": "Flag", "checkbox": {"equals": True}}
        with pytest.raises(APIResponseError) as info:
            client.data_sources.query(tasks, filter={"and": [{"or": [{"and": [leaf]}]}]})
        assert "validation_error" == info.value.code

    def test_filter_type_must_match_property(
        self, client: notion_client.Client, tasks: str
    ) -> None:
        """A select condition on a number property is a validation error."""
        with pytest.raises(APIResponseError) as info:
            client.data_sources.query(
                tasks, filter={"property": "Points", "select": {"equals": "x"}}
            )
        assert "validation_error" == info.value.code

    def test_unknown_property_is_refused(self, client: notion_client.Client, tasks: str) -> None:
        """Filtering on a missing property names it."""
        with pytest.raises(APIResponseError) as info:
            client.data_sources.query(
                tasks, filter={"property": "Nope", "checkbox": {"equals": True}}
            )
        assert "Nope" in str(info.value)


class TestSortsAndPages:
    def test_number_sort_puts_empties_last_both_ways(
        self, client: notion_client.Client, tasks: str
    ) -> None:
        """Empty values sort last ascending and descending; ties keep creation order."""
        asc = names(
            client.data_sources.query(
                tasks, sorts=[{"property": "Points", "direction": "ascending"}]
            )
        )
        desc = names(
            client.data_sources.query(
                tasks, sorts=[{"property": "Points", "direction": "descending"}]
            )
        )
        assert ["Beta", "delta", "zeta", "alpha", "Epsilon", "gamma"] == asc
        assert ["Epsilon", "alpha", "delta", "zeta", "Beta", "gamma"] == desc

    def test_select_sorts_by_option_order_then_title(
        self, client: notion_client.Client, tasks: str
    ) -> None:
        """Select values sort by the schema's option order; a second key breaks ties."""
        result = client.data_sources.query(
            tasks,
            sorts=[
                {"property": "Status", "direction": "ascending"},
                {"property": "Name", "direction": "descending"},
            ],
        )
        assert ["zeta", "delta", "alpha", "Epsilon", "Beta", "gamma"] == names(result)

    def test_pagination_with_cursor_visits_every_row_once(
        self, client: notion_client.Client, tasks: str
    ) -> None:
        """page_size and next_cursor walk the result set without gaps or repeats."""
        seen: list[str] = []
        cursor = None
        while True:
            page = client.data_sources.query(tasks, page_size=4, start_cursor=cursor)
            seen += names(page)
            if not page["has_more"]:
                assert page["next_cursor"] is None
                break
            cursor = page["next_cursor"]
        assert ["alpha", "Beta", "gamma", "delta", "Epsilon", "zeta"] == seen

    def test_page_size_above_100_is_refused(self, client: notion_client.Client, tasks: str) -> None:
        """page_size is at most 100."""
        with pytest.raises(APIResponseError) as info:
            client.data_sources.query(tasks, page_size=101)
        assert "validation_error" == info.value.code

    def test_filter_properties_limits_returned_properties(
        self, client: notion_client.Client, tasks: str
    ) -> None:
        """filter_properties returns only the listed properties."""
        ds = client.data_sources.retrieve(tasks)
        ids = [ds["properties"]["Name"]["id"], ds["properties"]["Points"]["id"]]
        result = client.data_sources.query(tasks, filter_properties=ids)
        assert {"Name", "Points"} == set(result["results"][0]["properties"])

    def test_trashed_rows_are_left_out(self, client: notion_client.Client, tasks: str) -> None:
        """A trashed row no longer matches queries; in_trash true lists trashed rows."""
        first = client.data_sources.query(tasks, page_size=1)["results"][0]
        client.pages.update(first["id"], in_trash=True)
        assert "alpha" not in names(client.data_sources.query(tasks))
        assert ["alpha"] == names(client.data_sources.query(tasks, in_trash=True))


def test_ten_thousand_result_cap(fresh_notion: Any) -> None:
    """Past 10,000 results a query stops with has_more false and request_status incomplete."""
    from devfactory.emulator.ids import new_id
    from devfactory.emulator.model import Page

    client = notion_client.Client(
        auth=fresh_notion.token, base_url=fresh_notion.base_url, retry=False
    )
    try:
        page = client.pages.create(parent={"type": "workspace", "workspace": True}, properties={})
        _, ds_id = make_db(client, page["id"], "Big")
        store = fresh_notion.store
        owner = fresh_notion.store.integration_for_token(fresh_notion.token)
        with (
            store.transaction()
        ):  # 10,050 rows straight into the store: the HTTP path is tested elsewhere
            for i in range(10_050):
                store.add(
                    Page(
                        id=new_id(),
                        parent_type="data_source_id",
                        parent_id=ds_id,
                        owner=owner.id,
                        seq=i + 10,
                        properties={"title": []},
                    )
                )
        cursor, total, last = None, 0, None
        while True:
            last = client.data_sources.query(ds_id, page_size=100, start_cursor=cursor)
            total += len(last["results"])
            if not last["has_more"]:
                break
            cursor = last["next_cursor"]
        assert 10_000 == total
        assert {"type": "incomplete", "incomplete_reason": "query_result_limit_reached"} == last[
            "request_status"
        ]
    finally:
        client.close()


class TestComputedAndRelationalFilters:
    @pytest.fixture
    def linked(self, client: notion_client.Client, root: dict[str, Any]) -> dict[str, Any]:
        """Clients ← Projects with a rollup, a formula, people, files and a unique id."""
        _, clients = make_db(
            client,
            root["id"],
            "Clients",
            {"Name": {"title": {}}, "Code": {"unique_id": {"prefix": "C"}}},
        )
        _, projects = make_db(
            client,
            root["id"],
            "Projects",
            {
                "Name": {"title": {}},
                "Budget": {"number": {}},
                "Big": {"formula": {"expression": 'prop("Budget") > 100'}},
                "Label": {"formula": {"expression": 'concat(prop("Name"), "!")'}},
                "Owner": {"people": {}},
                "Docs": {"files": {}},
                "Client": {
                    "relation": {
                        "data_source_id": clients,
                        "dual_property": {"synced_property_name": "Projects"},
                    }
                },
            },
        )
        client.data_sources.update(
            clients,
            properties={
                "Budgets": {
                    "rollup": {
                        "relation_property_name": "Projects",
                        "rollup_property_name": "Budget",
                        "function": "show_original",
                    }
                },
                "Total": {
                    "rollup": {
                        "relation_property_name": "Projects",
                        "rollup_property_name": "Budget",
                        "function": "sum",
                    }
                },
            },
        )
        me = client.users.me()["id"]
        a = client.pages.create(
            parent={"data_source_id": clients}, properties={"Name": {"title": text("A")}}
        )
        b = client.pages.create(
            parent={"data_source_id": clients}, properties={"Name": {"title": text("B")}}
        )
        client.pages.create(
            parent={"data_source_id": projects},
            properties={
                "Name": {"title": text("p1")},
                "Budget": {"number": 50},
                "Client": {"relation": [{"id": a["id"]}]},
                "Owner": {"people": [{"id": me}]},
            },
        )
        client.pages.create(
            parent={"data_source_id": projects},
            properties={
                "Name": {"title": text("p2")},
                "Budget": {"number": 500},
                "Client": {"relation": [{"id": a["id"]}]},
                "Docs": {
                    "files": [{"name": "spec", "external": {"url": "https://x.example/spec.pdf"}}]
                },
            },
        )
        client.pages.create(
            parent={"data_source_id": projects},
            properties={
                "Name": {"title": text("p3")},
                "Budget": {"number": 200},
                "Client": {"relation": [{"id": b["id"]}]},
            },
        )
        return {"clients": clients, "projects": projects, "a": a["id"], "b": b["id"]}

    @pytest.mark.parametrize(
        ("target", "flt", "expected"),
        [
            (
                "projects",
                {"property": "Big", "formula": {"checkbox": {"equals": True}}},
                ["p2", "p3"],
            ),
            ("projects", {"property": "Label", "formula": {"string": {"ends_with": "2!"}}}, ["p2"]),
            ("projects", {"property": "Owner", "people": {"contains": "me"}}, ["p1"]),
            ("projects", {"property": "Owner", "people": {"is_empty": True}}, ["p2", "p3"]),
            ("projects", {"property": "Docs", "files": {"is_not_empty": True}}, ["p2"]),
            ("clients", {"property": "Total", "rollup": {"number": {"greater_than": 300}}}, ["A"]),
            (
                "clients",
                {"property": "Budgets", "rollup": {"any": {"number": {"greater_than": 400}}}},
                ["A"],
            ),
            (
                "clients",
                {"property": "Budgets", "rollup": {"every": {"number": {"greater_than": 100}}}},
                ["B"],
            ),
            (
                "clients",
                {"property": "Budgets", "rollup": {"none": {"number": {"equals": 50}}}},
                ["B"],
            ),
            ("clients", {"property": "Code", "unique_id": {"greater_than": 1}}, ["B"]),
        ],
    )
    def test_filter(
        self,
        client: notion_client.Client,
        linked: dict[str, Any],
        target: str,
        flt: dict[str, Any],
        expected: list[str],
    ) -> None:
        """Formulas, rollups (any / every / none / aggregate), people ("me"), files and unique ids filter."""
        assert expected == names(client.data_sources.query(linked[target], filter=flt))

    def test_relation_contains(self, client: notion_client.Client, linked: dict[str, Any]) -> None:
        """Relation contains / does_not_contain take page ids."""
        assert ["p1", "p2"] == names(
            client.data_sources.query(
                linked["projects"],
                filter={"property": "Client", "relation": {"contains": linked["a"]}},
            )
        )
        assert ["p3"] == names(
            client.data_sources.query(
                linked["projects"],
                filter={"property": "Client", "relation": {"does_not_contain": linked["a"]}},
            )
        )

    def test_relation_property_item_pages(
        self, client: notion_client.Client, linked: dict[str, Any]
    ) -> None:
        """A relation property item is paginated with cursors."""
        prop_id = client.data_sources.retrieve(linked["clients"])["properties"]["Projects"]["id"]
        first = client.pages.properties.retrieve(linked["a"], prop_id, page_size=1)
        assert first["has_more"] is True and 1 == len(first["results"])
        second = client.pages.properties.retrieve(
            linked["a"], prop_id, page_size=1, start_cursor=first["next_cursor"]
        )
        assert second["has_more"] is False
        assert first["results"][0]["relation"]["id"] != second["results"][0]["relation"]["id"]

    def test_sort_by_formula_and_rollup(
        self, client: notion_client.Client, linked: dict[str, Any]
    ) -> None:
        """Computed values sort too."""
        by_total = client.data_sources.query(
            linked["clients"], sorts=[{"property": "Total", "direction": "ascending"}]
        )
        assert ["B", "A"] == names(by_total)

    def test_database_id_parent_with_one_data_source(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """parent.database_id works while the database has a single data source."""
        db, ds_id = make_db(client, root["id"], "Single")
        page = client.pages.create(
            parent={"database_id": db["id"]}, properties={"Name": {"title": text("row")}}
        )
        assert {"type": "data_source_id", "data_source_id": ds_id, "database_id": db["id"]} == page[
            "parent"
        ]
