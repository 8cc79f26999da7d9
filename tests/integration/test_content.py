"""Blocks, search, comments, users, views and file uploads through the official client."""

from __future__ import annotations

from typing import Any

import httpx
import notion_client
import pytest
from notion_client import APIResponseError

from tests.conftest import text
from tests.integration.test_databases import make_db

BLOCKS = [
    {"paragraph": {"rich_text": text("para")}},
    {"heading_1": {"rich_text": text("h1")}},
    {"heading_2": {"rich_text": text("h2")}},
    {"heading_3": {"rich_text": text("h3")}},
    {"heading_4": {"rich_text": text("h4")}},
    {
        "bulleted_list_item": {
            "rich_text": text("bullet"),
            "children": [{"paragraph": {"rich_text": text("nested")}}],
        }
    },
    {"numbered_list_item": {"rich_text": text("number")}},
    {"to_do": {"rich_text": text("todo"), "checked": True}},
    {"toggle": {"rich_text": text("toggle")}},
    {"code": {"rich_text": text("print(1)"), "language": "python"}},
    {"quote": {"rich_text": text("quote")}},
    {"callout": {"rich_text": text("callout"), "icon": {"emoji": "💡"}}},
    {"divider": {}},
    {"child_page": {"title": "Sub page"}},
    {
        "paragraph": {
            "rich_text": [
                {"equation": {"expression": "E = mc^2"}},
                {"mention": {"type": "date", "date": {"start": "2022-12-16"}}},
            ]
        }
    },
]


class TestBlocks:
    def test_every_supported_type_appends_and_lists(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Each block type round-trips through append and list, nested children included."""
        created = client.blocks.children.append(root["id"], children=BLOCKS)["results"]
        expected = [next(iter(b)) for b in BLOCKS]
        assert expected == [b["type"] for b in created]
        listed = client.blocks.children.list(root["id"])["results"]
        assert expected == [b["type"] for b in listed]
        bullet = listed[5]
        assert bullet["has_children"] is True
        nested = client.blocks.children.list(bullet["id"])["results"]
        assert "nested" == nested[0]["paragraph"]["rich_text"][0]["plain_text"]
        assert True is listed[7]["to_do"]["checked"]
        assert "python" == listed[9]["code"]["language"]
        rich = listed[14]["paragraph"]["rich_text"]
        assert ("equation", "E = mc^2") == (rich[0]["type"], rich[0]["plain_text"])
        assert {"start": "2022-12-16", "end": None, "time_zone": None} == rich[1]["mention"]["date"]

    def test_update_keeps_type_and_merges(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Updating a block's text keeps its other settings; changing its type is refused."""
        block = client.blocks.children.append(
            root["id"], children=[{"to_do": {"rich_text": text("a"), "checked": True}}]
        )["results"][0]
        updated = client.blocks.update(
            block["id"],
            to_do={"rich_text": [{"text": {"content": "b"}, "annotations": {"bold": True}}]},
        )
        assert (True, True) == (
            updated["to_do"]["checked"],
            updated["to_do"]["rich_text"][0]["annotations"]["bold"],
        )
        with pytest.raises(APIResponseError):
            client.blocks.update(block["id"], paragraph={"rich_text": text("x")})

    def test_deleted_blocks_leave_the_listing(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """A trashed block is still retrievable (in_trash) but no longer listed."""
        block = client.blocks.children.append(root["id"], children=[{"divider": {}}])["results"][0]
        assert client.blocks.delete(block["id"])["in_trash"] is True
        assert client.blocks.retrieve(block["id"])["in_trash"] is True
        assert [] == client.blocks.children.list(root["id"])["results"]

    def test_children_pagination_cursor_is_next_block_id(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Block children page by the id of the next block, as Notion does."""
        created = client.blocks.children.append(root["id"], children=[{"divider": {}}] * 5)[
            "results"
        ]
        first = client.blocks.children.list(root["id"], page_size=2)
        assert created[2]["id"] == first["next_cursor"]
        second = client.blocks.children.list(
            root["id"], page_size=2, start_cursor=first["next_cursor"]
        )
        assert [b["id"] for b in created[2:4]] == [b["id"] for b in second["results"]]

    def test_too_deep_nesting_in_one_request(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Children nest at most two levels in one request."""
        deep = {
            "toggle": {
                "rich_text": text("1"),
                "children": [
                    {
                        "toggle": {
                            "rich_text": text("2"),
                            "children": [{"paragraph": {"rich_text": text("3")}}],
                        }
                    }
                ],
            }
        }
        with pytest.raises(APIResponseError):
            client.blocks.children.append(root["id"], children=[deep])


class TestSearch:
    def test_search_by_title_and_filter(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Search matches titles case-insensitively and filters pages vs data sources."""
        client.pages.create(
            parent={"page_id": root["id"]}, properties={"title": text("Quarterly Plan zq")}
        )
        make_db(client, root["id"], "Plans zq")
        both = client.search(query="ZQ")["results"]
        pages = client.search(query="zq", filter={"property": "object", "value": "page"})["results"]
        sources = client.search(query="zq", filter={"property": "object", "value": "data_source"})[
            "results"
        ]
        assert {"page", "data_source"} == {r["object"] for r in both}
        assert ["page"] == [r["object"] for r in pages]
        assert ["data_source"] == [r["object"] for r in sources]

    def test_search_sorts_by_last_edited(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Ascending and descending last_edited_time give reverse orders."""
        for i in range(3):
            client.pages.create(
                parent={"page_id": root["id"]}, properties={"title": text(f"sortme-xk {i}")}
            )
        desc = [
            r["id"]
            for r in client.search(
                query="sortme-xk", sort={"direction": "descending", "timestamp": "last_edited_time"}
            )["results"]
        ]
        asc = [
            r["id"]
            for r in client.search(
                query="sortme-xk", sort={"direction": "ascending", "timestamp": "last_edited_time"}
            )["results"]
        ]
        assert desc == list(reversed(asc))


class TestComments:
    def test_comment_lifecycle(self, client: notion_client.Client, root: dict[str, Any]) -> None:
        """Create, list, retrieve, update and delete a comment."""
        comment = client.comments.create(parent={"page_id": root["id"]}, rich_text=text("first"))
        reply = client.comments.create(
            discussion_id=comment["discussion_id"], rich_text=text("reply")
        )
        assert comment["discussion_id"] == reply["discussion_id"]
        assert ["first", "reply"] == [
            c["rich_text"][0]["plain_text"]
            for c in client.comments.list(block_id=root["id"])["results"]
        ]
        assert (
            "edited"
            == client.comments.update(comment["id"], rich_text=text("edited"))["rich_text"][0][
                "plain_text"
            ]
        )
        assert comment["id"] == client.comments.retrieve(comment["id"])["id"]
        client.comments.delete(comment["id"])
        with pytest.raises(APIResponseError):
            client.comments.retrieve(comment["id"])


class TestUsers:
    def test_users_list_has_owner_and_bot(self, client: notion_client.Client) -> None:
        """The workspace lists its owner (a person) and the integration's bot."""
        users = client.users.list()["results"]
        assert "person" == users[0]["type"] and users[0]["avatar_url"]
        me = client.users.me()
        assert me["id"] in [u["id"] for u in users]
        assert me == {**client.users.retrieve(me["id"]), "request_id": me["request_id"]}


class TestViews:
    def test_view_lifecycle_and_query(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Create, list, update, query and delete a view; a view query snapshots its rows."""
        db, ds_id = make_db(
            client, root["id"], "Viewed", {"Name": {"title": {}}, "Done": {"checkbox": {}}}
        )
        for i in range(3):
            client.pages.create(
                parent={"data_source_id": ds_id},
                properties={"Name": {"title": text(f"r{i}")}, "Done": {"checkbox": i == 1}},
            )
        view = client.views.create(
            database_id=db["id"],
            data_source_id=ds_id,
            name="Open",
            type="table",
            filter={"property": "Done", "checkbox": {"equals": False}},
        )
        listed = client.views.list(database_id=db["id"])["results"]
        assert view["id"] in [v["id"] for v in listed] and 2 == len(listed)
        assert "Renamed" == client.views.update(view["id"], name="Renamed")["name"]
        query = client.views.queries.create(view["id"])
        assert 2 == query["total_count"]
        rows = client.views.queries.results(view["id"], query["id"])["results"]
        assert ["r0", "r2"] == [r["properties"]["Name"]["title"][0]["plain_text"] for r in rows]
        assert client.views.queries.delete(view["id"], query["id"])["deleted"] is True
        client.views.delete(view["id"])
        with pytest.raises(APIResponseError):
            client.views.retrieve(view["id"])


class TestFileUploads:
    def test_single_part_upload_and_attach(
        self, client: notion_client.Client, root: dict[str, Any]
    ) -> None:
        """Create, send and attach a file; its bytes are served back."""
        upload = client.file_uploads.create(
            mode="single_part", filename="hello.txt", content_type="text/plain"
        )
        assert "pending" == upload["status"]
        sent = client.file_uploads.send(
            upload["id"], file=("hello.txt", b"hello world", "text/plain")
        )
        assert ("uploaded", 11) == (sent["status"], sent["content_length"])
        _, ds_id = make_db(
            client, root["id"], "Files", {"Name": {"title": {}}, "Att": {"files": {}}}
        )
        row = client.pages.create(
            parent={"data_source_id": ds_id},
            properties={
                "Att": {"files": [{"type": "file_upload", "file_upload": {"id": upload["id"]}}]}
            },
        )
        url = row["properties"]["Att"]["files"][0]["file"]["url"]
        assert b"hello world" == httpx.get(url).content

    def test_multi_part_upload(self, client: notion_client.Client) -> None:
        """Parts are sent with part_number and joined on complete."""
        upload = client.file_uploads.create(
            mode="multi_part", filename="big.bin", number_of_parts=2
        )
        client.file_uploads.send(upload["id"], file=("big.bin", b"ab"), part_number="2")
        client.file_uploads.send(upload["id"], file=("big.bin", b"cd"), part_number="1")
        done = client.file_uploads.complete(upload["id"])
        assert ("uploaded", 4) == (done["status"], done["content_length"])

    def test_list_filters_by_status(self, client: notion_client.Client) -> None:
        """The status query parameter filters the list."""
        client.file_uploads.create(mode="single_part", filename="pending.txt")
        pending = client.file_uploads.list(status="pending")["results"]
        assert pending and all(u["status"] == "pending" for u in pending)

    def test_custom_emojis_empty(self, client: notion_client.Client) -> None:
        """The local workspace has no custom emojis."""
        assert [] == client.custom_emojis.list()["results"]


def test_search_paginates(client: notion_client.Client, root: dict[str, Any]) -> None:
    """Search results page with page_size and next_cursor, without repeats."""
    for i in range(5):
        client.pages.create(
            parent={"page_id": root["id"]}, properties={"title": text(f"paged-search-qq {i}")}
        )
    seen: list[str] = []
    cursor = None
    while True:
        page = client.search(query="paged-search-qq", page_size=2, start_cursor=cursor)
        seen += [r["id"] for r in page["results"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert 5 == len(seen) == len(set(seen))
