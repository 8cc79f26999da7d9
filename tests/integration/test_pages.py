"""Pages through the official sync client: create, retrieve, update, trash, move, properties."""

from __future__ import annotations

from typing import Any

import notion_client
import pytest
from notion_client import APIResponseError

from tests.conftest import text


class TestCreateAndRetrieve:
    def test_workspace_page_round_trips(self, client: notion_client.Client) -> None:
        """A page created at the workspace level comes back with the same title and parent."""
        page = client.pages.create(
            parent={"type": "workspace", "workspace": True}, properties={"title": text("Hello")}
        )
        fetched = client.pages.retrieve(page["id"])
        assert "Hello" == fetched["properties"]["title"]["title"][0]["plain_text"]
        assert {"type": "workspace", "workspace": True} == fetched["parent"]
        assert fetched["in_trash"] is False and fetched["archived"] is False

    def test_child_page_appears_as_child_page_block(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """A page created under a page is listed among the parent's children as child_page."""
        child = client.pages.create(
            parent={"page_id": root["id"]}, properties={"title": text("Child")}
        )
        children = client.blocks.children.list(root["id"])["results"]
        assert [child["id"]] == [b["id"] for b in children]
        assert {"title": "Child"} == children[0]["child_page"]

    def test_children_on_create_are_appended(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """``children`` given at creation become the page's blocks, in order."""
        page = client.pages.create(
            parent={"page_id": root["id"]},
            properties={"title": text("With content")},
            children=[
                {"paragraph": {"rich_text": text("one")}},
                {"heading_2": {"rich_text": text("two")}},
            ],
        )
        blocks = client.blocks.children.list(page["id"])["results"]
        assert ["paragraph", "heading_2"] == [b["type"] for b in blocks]

    def test_unknown_page_is_404_with_integration_id(self, client: notion_client.Client) -> None:
        """The nil id is a valid id, so asking for it is 404 object_not_found, not 400."""
        with pytest.raises(APIResponseError) as info:
            client.pages.retrieve("00000000-0000-0000-0000-000000000000")
        assert 404 == info.value.status
        assert "object_not_found" == info.value.code

    def test_malformed_id_is_400_with_path(self, client: notion_client.Client) -> None:
        """A malformed id names the path parameter, as Notion does."""
        with pytest.raises(APIResponseError) as info:
            client.pages.retrieve("AAA")
        assert 400 == info.value.status
        assert "path.page_id should be a valid uuid" in str(info.value)


class TestUpdate:
    def test_icon_set_and_cleared(self, client: notion_client.Client, root: dict[str, Any]) -> None:
        """An icon can be set and removed with null."""
        updated = client.pages.update(root["id"], icon={"type": "emoji", "emoji": "🛴"})
        assert {"type": "emoji", "emoji": "🛴"} == updated["icon"]
        assert client.pages.update(root["id"], icon=None)["icon"] is None

    def test_trash_and_restore(self, client: notion_client.Client, root: dict[str, Any]) -> None:
        """DELETE on the block trashes the page; PATCH in_trash false restores it."""
        deleted = client.blocks.delete(root["id"])
        assert "child_page" == deleted["type"] and deleted["in_trash"] is True
        assert client.pages.retrieve(root["id"])["in_trash"] is True
        assert client.pages.update(root["id"], in_trash=False)["in_trash"] is False

    def test_trashed_page_refuses_edits(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Editing a page in the trash is a validation error until it is restored."""
        client.pages.update(root["id"], in_trash=True)
        with pytest.raises(APIResponseError) as info:
            client.pages.update(root["id"], properties={"title": text("x")})
        assert "validation_error" == info.value.code

    def test_title_update(self, client: notion_client.Client, root: dict[str, Any]) -> None:
        """The title of a non-row page is its only property."""
        updated = client.pages.update(root["id"], properties={"title": {"title": text("Renamed")}})
        assert "Renamed" == updated["properties"]["title"]["title"][0]["plain_text"]

    def test_non_title_property_on_plain_page_is_rejected(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """A page outside a data source has no other properties."""
        with pytest.raises(APIResponseError) as info:
            client.pages.update(root["id"], properties={"Status": {"select": {"name": "x"}}})
        assert "validation_error" == info.value.code


class TestMove:
    def test_move_changes_parent_and_children(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Moving a page updates its parent and both parents' children."""
        target = client.pages.create(
            parent={"page_id": root["id"]}, properties={"title": text("Target")}
        )
        moving = client.pages.create(
            parent={"page_id": root["id"]}, properties={"title": text("Moving")}
        )
        moved = client.pages.move(moving["id"], parent={"page_id": target["id"]})
        assert target["id"] == moved["parent"]["page_id"]
        assert [moving["id"]] == [
            b["id"] for b in client.blocks.children.list(target["id"])["results"]
        ]
        assert [target["id"]] == [
            b["id"] for b in client.blocks.children.list(root["id"])["results"]
        ]

    def test_move_into_itself_is_refused(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """A page cannot become its own descendant."""
        child = client.pages.create(
            parent={"page_id": root["id"]}, properties={"title": text("Child")}
        )
        with pytest.raises(APIResponseError):
            client.pages.move(root["id"], parent={"page_id": child["id"]})


class TestMarkdown:
    def test_insert_then_read_markdown(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Markdown inserted into an empty page reads back as Notion writes it."""
        result = client.pages.update_markdown(
            root["id"],
            type="insert_content",
            insert_content={"content": "## New Section\n\nHello from markdown."},
        )
        assert "## New Section\nHello from markdown." == result["markdown"]
        assert result == {
            **client.pages.retrieve_markdown(root["id"]),
            "request_id": result["request_id"],
        }
        blocks = client.blocks.children.list(root["id"])["results"]
        assert ["heading_2", "paragraph"] == [b["type"] for b in blocks]

    def test_async_markdown_update_returns_task(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """``allow_async`` answers 202 with a task whose result is the page markdown."""
        task = client.request(
            path=f"pages/{root['id']}/markdown",
            method="PATCH",
            body={
                "allow_async": True,
                "type": "insert_content",
                "insert_content": {"content": "# Hi"},
            },
        )
        assert "async_task" == task["object"] and "queued" == task["status"]
        done = client.request(path=f"async_tasks/{task['id']}", method="GET")
        assert "succeeded" == done["status"]
        assert "# Hi" == done["result"]["markdown"]


class TestMarkdownEdits:
    def test_replace_content_keeps_child_pages(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Replacing a page's markdown rewrites text blocks but keeps its child pages (same ids)."""
        client.blocks.children.append(
            root["id"], children=[{"paragraph": {"rich_text": text("old text")}}]
        )
        sub = client.pages.create(parent={"page_id": root["id"]}, properties={"title": text("Sub")})
        current = client.pages.retrieve_markdown(root["id"])["markdown"]
        assert "old text" in current and "Sub" in current
        client.pages.update_markdown(
            root["id"],
            type="update_content",
            update_content={"content_updates": [{"old_str": "old text", "new_str": "new text"}]},
        )
        children = client.blocks.children.list(root["id"])["results"]
        assert [("paragraph", None), ("child_page", sub["id"])] == [
            (b["type"], b["id"] if b["type"] == "child_page" else None) for b in children
        ]
        assert "new text" == children[0]["paragraph"]["rich_text"][0]["plain_text"]
        assert client.pages.retrieve(sub["id"])["in_trash"] is False

    def test_insert_at_start(self, client: notion_client.Client, root: dict[str, Any]) -> None:
        """insert_content with position start puts the new blocks first."""
        client.pages.update_markdown(
            root["id"], type="insert_content", insert_content={"content": "second"}
        )
        client.pages.update_markdown(
            root["id"],
            type="insert_content",
            insert_content={"content": "first", "position": {"type": "start"}},
        )
        assert "first\nsecond" == client.pages.retrieve_markdown(root["id"])["markdown"]

    def test_bad_selection_is_validation_error(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """A selection that matches nothing is refused and changes nothing."""
        client.pages.update_markdown(
            root["id"], type="insert_content", insert_content={"content": "keep"}
        )
        with pytest.raises(APIResponseError) as info:
            client.pages.update_markdown(
                root["id"],
                type="update_content",
                update_content={"content_updates": [{"old_str": "absent", "new_str": "x"}]},
            )
        assert "validation_error" == info.value.code
        assert "keep" == client.pages.retrieve_markdown(root["id"])["markdown"]
