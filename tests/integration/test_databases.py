"""Databases and data sources: create, schema updates with Notion's semantics, relations."""

from __future__ import annotations

from typing import Any

import notion_client
import pytest
from notion_client import APIResponseError

from tests.conftest import text


def make_db(
    client: notion_client.Client, parent: str, title: str, properties: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str]:
    db = client.databases.create(
        parent={"type": "page_id", "page_id": parent},
        title=text(title),
        initial_data_source={"properties": properties or {"Name": {"title": {}}}},
    )
    return db, db["data_sources"][0]["id"]


class TestDatabases:
    def test_database_lists_its_data_source_without_properties(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """A 2025-09-03 database is a container: data_sources [{id, name}], no properties."""
        db, ds_id = make_db(client, root["id"], "Clients")
        fetched = client.databases.retrieve(db["id"])
        assert [{"id": ds_id, "name": "Clients"}] == fetched["data_sources"]
        assert "properties" not in fetched
        assert ds_id != db["id"]

    def test_database_without_initial_data_source_gets_name_title(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Without initial_data_source, the data source has one title property called Name."""
        db = client.databases.create(parent={"page_id": root["id"]}, title=text("Bare"))
        ds = client.data_sources.retrieve(db["data_sources"][0]["id"])
        assert {"Name": "title"} == {k: p["type"] for k, p in ds["properties"].items()}
        assert "title" == ds["properties"]["Name"]["id"]

    def test_update_title_description_icon_lock(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Database update covers title, description, icon, is_locked and in_trash."""
        db, _ = make_db(client, root["id"], "Old")
        updated = client.databases.update(
            db["id"],
            title=text("New"),
            description=text("About"),
            icon={"type": "emoji", "emoji": "🔥"},
            is_locked=True,
        )
        assert ("New", "About", True) == (
            updated["title"][0]["plain_text"],
            updated["description"][0]["plain_text"],
            updated["is_locked"],
        )
        assert client.databases.update(db["id"], in_trash=True)["in_trash"] is True

    def test_database_moves_to_another_page(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """PATCH parent moves a database under another page."""
        other = client.pages.create(
            parent={"page_id": root["id"]}, properties={"title": text("Other")}
        )
        db, _ = make_db(client, root["id"], "Movable")
        moved = client.databases.update(
            db["id"], parent={"type": "page_id", "page_id": other["id"]}
        )
        assert other["id"] == moved["parent"]["page_id"]
        assert [db["id"]] == [b["id"] for b in client.blocks.children.list(other["id"])["results"]]

    def test_second_data_source_makes_database_id_parent_ambiguous(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """With two data sources, a page cannot be created with parent database_id."""
        db, _ = make_db(client, root["id"], "Two")
        client.data_sources.create(
            parent={"type": "database_id", "database_id": db["id"]},
            properties={"Title": {"title": {}}},
            title=text("Second"),
        )
        assert 2 == len(client.databases.retrieve(db["id"])["data_sources"])
        with pytest.raises(APIResponseError) as info:
            client.pages.create(parent={"database_id": db["id"]}, properties={})
        assert "validation_error" == info.value.code


class TestSchemaUpdates:
    def test_rename_keeps_id_and_values(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Renaming by property id keeps the id and the data (no drop-and-add)."""
        _, ds_id = make_db(
            client, root["id"], "T", {"Name": {"title": {}}, "Stage": {"rich_text": {}}}
        )
        row = client.pages.create(
            parent={"data_source_id": ds_id}, properties={"Stage": {"rich_text": text("draft")}}
        )
        stage_id = client.data_sources.retrieve(ds_id)["properties"]["Stage"]["id"]
        ds = client.data_sources.update(ds_id, properties={stage_id: {"name": "State"}})
        assert stage_id == ds["properties"]["State"]["id"] and "Stage" not in ds["properties"]
        assert (
            "draft"
            == client.pages.retrieve(row["id"])["properties"]["State"]["rich_text"][0]["plain_text"]
        )

    def test_remove_with_null_drops_column_and_data(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """A property set to null is removed with its values."""
        _, ds_id = make_db(
            client, root["id"], "T", {"Name": {"title": {}}, "Notes": {"rich_text": {}}}
        )
        row = client.pages.create(
            parent={"data_source_id": ds_id}, properties={"Notes": {"rich_text": text("x")}}
        )
        client.data_sources.update(ds_id, properties={"Notes": None})
        assert "Notes" not in client.pages.retrieve(row["id"])["properties"]

    def test_title_cannot_be_removed(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """The title property is permanent."""
        _, ds_id = make_db(client, root["id"], "T")
        with pytest.raises(APIResponseError):
            client.data_sources.update(ds_id, properties={"Name": None})

    def test_select_options_are_replaced_not_merged(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """The options sent become the option set; kept ones keep their id; removed values clear."""
        _, ds_id = make_db(
            client,
            root["id"],
            "T",
            {"Name": {"title": {}}, "Cat": {"select": {"options": [{"name": "A"}, {"name": "B"}]}}},
        )
        before = {
            o["name"]: o["id"]
            for o in client.data_sources.retrieve(ds_id)["properties"]["Cat"]["select"]["options"]
        }
        row = client.pages.create(
            parent={"data_source_id": ds_id}, properties={"Cat": {"select": {"name": "A"}}}
        )
        ds = client.data_sources.update(
            ds_id, properties={"Cat": {"select": {"options": [{"name": "B"}, {"name": "C"}]}}}
        )
        after = {o["name"]: o["id"] for o in ds["properties"]["Cat"]["select"]["options"]}
        assert ["B", "C"] == list(after)
        assert before["B"] == after["B"]
        assert client.pages.retrieve(row["id"])["properties"]["Cat"]["select"] is None

    def test_select_option_color_cannot_change(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """An existing option's colour is fixed through the API."""
        _, ds_id = make_db(
            client,
            root["id"],
            "T",
            {
                "Name": {"title": {}},
                "Cat": {"select": {"options": [{"name": "A", "color": "red"}]}},
            },
        )
        with pytest.raises(APIResponseError) as info:
            client.data_sources.update(
                ds_id, properties={"Cat": {"select": {"options": [{"name": "A", "color": "blue"}]}}}
            )
        assert "validation_error" == info.value.code

    def test_status_gets_default_options_and_groups(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """A status property without options gets Notion's three options in three groups."""
        _, ds_id = make_db(
            client, root["id"], "T", {"Name": {"title": {}}, "State": {"status": {}}}
        )
        status = client.data_sources.retrieve(ds_id)["properties"]["State"]["status"]
        assert ["Not started", "In progress", "Done"] == [o["name"] for o in status["options"]]
        assert ["To-do", "In progress", "Complete"] == [g["name"] for g in status["groups"]]

    def test_new_status_options_join_todo_group(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Status options added later are merged and land in the To-do group."""
        _, ds_id = make_db(
            client, root["id"], "T", {"Name": {"title": {}}, "State": {"status": {}}}
        )
        ds = client.data_sources.update(
            ds_id, properties={"State": {"status": {"options": [{"name": "Blocked"}]}}}
        )
        status = ds["properties"]["State"]["status"]
        blocked = next(o for o in status["options"] if o["name"] == "Blocked")
        assert 4 == len(status["options"])
        assert blocked["id"] in status["groups"][0]["option_ids"]

    def test_change_type_converts_values(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Changing rich_text to number converts what parses and clears the rest."""
        _, ds_id = make_db(
            client, root["id"], "T", {"Name": {"title": {}}, "Amount": {"rich_text": {}}}
        )
        good = client.pages.create(
            parent={"data_source_id": ds_id}, properties={"Amount": {"rich_text": text("42")}}
        )
        bad = client.pages.create(
            parent={"data_source_id": ds_id}, properties={"Amount": {"rich_text": text("lots")}}
        )
        client.data_sources.update(ds_id, properties={"Amount": {"number": {"format": "dollar"}}})
        assert 42 == client.pages.retrieve(good["id"])["properties"]["Amount"]["number"]
        assert client.pages.retrieve(bad["id"])["properties"]["Amount"]["number"] is None

    def test_unknown_type_gives_validation_error(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """A property entry without a type is a clear validation error, not a crash."""
        _, ds_id = make_db(client, root["id"], "T")
        with pytest.raises(APIResponseError) as info:
            client.data_sources.update(ds_id, properties={"New": {"colour": {}}})
        assert 400 == info.value.status


class TestRelations:
    def test_dual_relation_creates_back_property_with_notion_name(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """A dual relation adds 'Related to <database> (<property>)' on the target."""
        _, clients_ds = make_db(client, root["id"], "Clients")
        _, projects_ds = make_db(
            client,
            root["id"],
            "Projects",
            {
                "Name": {"title": {}},
                "Client": {"relation": {"data_source_id": clients_ds, "dual_property": {}}},
            },
        )
        props = client.data_sources.retrieve(clients_ds)["properties"]
        assert "Related to Projects (Client)" in props
        back = props["Related to Projects (Client)"]["relation"]
        forward = client.data_sources.retrieve(projects_ds)["properties"]["Client"]["relation"]
        assert projects_ds == back["data_source_id"]
        assert (
            back["dual_property"]["synced_property_id"]
            == client.data_sources.retrieve(projects_ds)["properties"]["Client"]["id"]
        )
        assert "Related to Projects (Client)" == forward["dual_property"]["synced_property_name"]

    def test_dual_relation_values_stay_in_sync(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Setting one side shows on the other; removing it removes it there too."""
        _, clients_ds = make_db(client, root["id"], "Clients")
        _, projects_ds = make_db(
            client,
            root["id"],
            "Projects",
            {
                "Name": {"title": {}},
                "Client": {
                    "relation": {
                        "data_source_id": clients_ds,
                        "type": "dual_property",
                        "dual_property": {},
                    }
                },
            },
        )
        acme = client.pages.create(
            parent={"data_source_id": clients_ds}, properties={"Name": {"title": text("Acme")}}
        )
        project = client.pages.create(
            parent={"data_source_id": projects_ds},
            properties={
                "Name": {"title": text("Site")},
                "Client": {"relation": [{"id": acme["id"]}]},
            },
        )
        back = client.pages.retrieve(acme["id"])["properties"]["Related to Projects (Client)"]
        assert [{"id": project["id"]}] == back["relation"]
        client.pages.update(project["id"], properties={"Client": {"relation": []}})
        assert (
            []
            == client.pages.retrieve(acme["id"])["properties"]["Related to Projects (Client)"][
                "relation"
            ]
        )

    def test_relation_to_page_outside_target_is_rejected(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Related pages must be rows of the related data source."""
        _, target = make_db(client, root["id"], "Target")
        _, source = make_db(
            client,
            root["id"],
            "Source",
            {
                "Name": {"title": {}},
                "Rel": {"relation": {"data_source_id": target, "single_property": {}}},
            },
        )
        with pytest.raises(APIResponseError) as info:
            client.pages.create(
                parent={"data_source_id": source},
                properties={"Rel": {"relation": [{"id": root["id"]}]}},
            )
        assert "validation_error" == info.value.code

    def test_rollup_counts_and_sums_related_rows(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Rollups are computed on read from the related rows."""
        _, clients_ds = make_db(client, root["id"], "Clients")
        _, projects_ds = make_db(
            client,
            root["id"],
            "Projects",
            {
                "Name": {"title": {}},
                "Budget": {"number": {}},
                "Client": {
                    "relation": {
                        "data_source_id": clients_ds,
                        "dual_property": {"synced_property_name": "Projects"},
                    }
                },
            },
        )
        client.data_sources.update(
            clients_ds,
            properties={
                "Count": {
                    "rollup": {
                        "relation_property_name": "Projects",
                        "rollup_property_name": "Budget",
                        "function": "count",
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
        acme = client.pages.create(
            parent={"data_source_id": clients_ds}, properties={"Name": {"title": text("Acme")}}
        )
        for budget in (100, 250):
            client.pages.create(
                parent={"data_source_id": projects_ds},
                properties={
                    "Budget": {"number": budget},
                    "Client": {"relation": [{"id": acme["id"]}]},
                },
            )
        props = client.pages.retrieve(acme["id"])["properties"]
        assert {"type": "number", "number": 2, "function": "count"} == props["Count"]["rollup"]
        assert {"type": "number", "number": 350, "function": "sum"} == props["Total"]["rollup"]


class TestFormulasAndIds:
    def test_formula_evaluates_per_row(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """A formula over a number property is computed for each row."""
        _, ds_id = make_db(
            client,
            root["id"],
            "T",
            {
                "Name": {"title": {}},
                "Budget": {"number": {}},
                "Margin": {"formula": {"expression": 'prop("Budget") * 0.2'}},
            },
        )
        row = client.pages.create(
            parent={"data_source_id": ds_id}, properties={"Budget": {"number": 1000}}
        )
        assert {"type": "number", "number": 200} == client.pages.retrieve(row["id"])["properties"][
            "Margin"
        ]["formula"]

    def test_bad_formula_is_validation_error(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """An unparsable formula is refused with a clear message."""
        _, ds_id = make_db(client, root["id"], "T")
        with pytest.raises(APIResponseError) as info:
            client.data_sources.update(
                ds_id, properties={"F": {"formula": {"expression": 'prop("Nope") +'}}}
            )
        assert "validation_error" == info.value.code
        assert "Formula" in str(info.value)

    def test_unique_id_auto_increments_with_prefix(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """unique_id numbers rows 1, 2, 3… and keeps the prefix in the schema."""
        _, ds_id = make_db(
            client,
            root["id"],
            "T",
            {"Name": {"title": {}}, "Code": {"unique_id": {"prefix": "PRJ"}}},
        )
        numbers = [
            client.pages.create(parent={"data_source_id": ds_id}, properties={})["properties"][
                "Code"
            ]["unique_id"]
            for _ in range(3)
        ]
        assert [{"prefix": "PRJ", "number": n} for n in (1, 2, 3)] == numbers

    def test_computed_properties_cannot_be_written(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Writing a formula or unique_id value is a validation error."""
        _, ds_id = make_db(
            client, root["id"], "T", {"Name": {"title": {}}, "Code": {"unique_id": {}}}
        )
        with pytest.raises(APIResponseError):
            client.pages.create(
                parent={"data_source_id": ds_id}, properties={"Code": {"unique_id": {"number": 5}}}
            )
