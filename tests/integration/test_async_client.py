"""The official AsyncClient against the local server, one test per endpoint group."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import notion_client

from devfactory.emulator.testing import LocalNotion
from tests.conftest import text

Scenario = Callable[[notion_client.AsyncClient, dict[str, Any]], Awaitable[None]]


def run(notion: LocalNotion, scenario: Scenario) -> None:
    async def main() -> None:
        client = notion_client.AsyncClient(auth=notion.token, base_url=notion.base_url, retry=False)
        try:
            root = await client.pages.create(
                parent={"workspace": True}, properties={"title": text("async root")}
            )
            await scenario(client, root)
        finally:
            await client.aclose()

    asyncio.run(main())


async def _database(
    client: notion_client.AsyncClient, root: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    db = await client.databases.create(
        parent={"page_id": root["id"]},
        title=text("Async DB"),
        initial_data_source={"properties": {"Name": {"title": {}}, "N": {"number": {}}}},
    )
    return db, db["data_sources"][0]["id"]


class TestAsyncClient:
    def test_users(self, notion: LocalNotion) -> None:
        """users.list, users.me and users.retrieve."""

        async def scenario(client: notion_client.AsyncClient, root: dict[str, Any]) -> None:
            me = await client.users.me()
            assert me["id"] == (await client.users.retrieve(me["id"]))["id"]
            assert me["id"] in [u["id"] for u in (await client.users.list())["results"]]

        run(notion, scenario)

    def test_databases_and_data_sources(self, notion: LocalNotion) -> None:
        """databases create/retrieve/update and data_sources create/retrieve/update/query/templates."""

        async def scenario(client: notion_client.AsyncClient, root: dict[str, Any]) -> None:
            db, ds_id = await _database(client, root)
            assert ds_id == (await client.databases.retrieve(db["id"]))["data_sources"][0]["id"]
            assert (
                "Renamed"
                == (await client.databases.update(db["id"], title=text("Renamed")))["title"][0][
                    "plain_text"
                ]
            )
            second = await client.data_sources.create(
                parent={"database_id": db["id"]}, properties={"T": {"title": {}}}
            )
            assert "T" in (await client.data_sources.retrieve(second["id"]))["properties"]
            updated = await client.data_sources.update(ds_id, properties={"N": {"name": "Amount"}})
            assert "Amount" in updated["properties"]
            await client.pages.create(
                parent={"data_source_id": ds_id}, properties={"Amount": {"number": 3}}
            )
            result = await client.data_sources.query(
                ds_id, filter={"property": "Amount", "number": {"equals": 3}}
            )
            assert 1 == len(result["results"])
            assert [] == (await client.data_sources.list_templates(ds_id))["templates"]

        run(notion, scenario)

    def test_pages(self, notion: LocalNotion) -> None:
        """pages create/retrieve/update/properties/move/markdown."""

        async def scenario(client: notion_client.AsyncClient, root: dict[str, Any]) -> None:
            page = await client.pages.create(
                parent={"page_id": root["id"]}, properties={"title": text("P")}
            )
            assert page["id"] == (await client.pages.retrieve(page["id"]))["id"]
            assert (await client.pages.update(page["id"], in_trash=True))["in_trash"] is True
            await client.pages.update(page["id"], in_trash=False)
            item = await client.pages.properties.retrieve(page["id"], "title")
            assert "P" == item["results"][0]["title"]["plain_text"]
            other = await client.pages.create(
                parent={"page_id": root["id"]}, properties={"title": text("Q")}
            )
            assert (
                other["id"]
                == (await client.pages.move(page["id"], parent={"page_id": other["id"]}))["parent"][
                    "page_id"
                ]
            )
            await client.pages.update_markdown(
                page["id"], type="insert_content", insert_content={"content": "# Title"}
            )
            assert "# Title" == (await client.pages.retrieve_markdown(page["id"]))["markdown"]

        run(notion, scenario)

    def test_blocks(self, notion: LocalNotion) -> None:
        """blocks retrieve/update/delete and children list/append."""

        async def scenario(client: notion_client.AsyncClient, root: dict[str, Any]) -> None:
            [block] = (
                await client.blocks.children.append(
                    root["id"], children=[{"quote": {"rich_text": text("q")}}]
                )
            )["results"]
            assert "quote" == (await client.blocks.retrieve(block["id"]))["type"]
            updated = await client.blocks.update(block["id"], quote={"rich_text": text("q2")})
            assert "q2" == updated["quote"]["rich_text"][0]["plain_text"]
            assert [block["id"]] == [
                b["id"] for b in (await client.blocks.children.list(root["id"]))["results"]
            ]
            assert (await client.blocks.delete(block["id"]))["in_trash"] is True

        run(notion, scenario)

    def test_search_and_comments(self, notion: LocalNotion) -> None:
        """search and comments create/list/retrieve/update/delete."""

        async def scenario(client: notion_client.AsyncClient, root: dict[str, Any]) -> None:
            await client.pages.create(
                parent={"page_id": root["id"]}, properties={"title": text("findme-async-q")}
            )
            assert 1 == len((await client.search(query="findme-async-q"))["results"])
            comment = await client.comments.create(
                parent={"page_id": root["id"]}, rich_text=text("c")
            )
            assert [comment["id"]] == [
                c["id"] for c in (await client.comments.list(block_id=root["id"]))["results"]
            ]
            assert (
                "d"
                == (await client.comments.update(comment["id"], rich_text=text("d")))["rich_text"][
                    0
                ]["plain_text"]
            )
            assert comment["id"] == (await client.comments.retrieve(comment["id"]))["id"]
            await client.comments.delete(comment["id"])

        run(notion, scenario)

    def test_views(self, notion: LocalNotion) -> None:
        """views create/list/retrieve/update/delete and queries create/results/delete."""

        async def scenario(client: notion_client.AsyncClient, root: dict[str, Any]) -> None:
            db, ds_id = await _database(client, root)
            view = await client.views.create(
                database_id=db["id"], data_source_id=ds_id, name="V", type="board"
            )
            assert view["id"] in [
                v["id"] for v in (await client.views.list(database_id=db["id"]))["results"]
            ]
            assert "board" == (await client.views.retrieve(view["id"]))["type"]
            assert "W" == (await client.views.update(view["id"], name="W"))["name"]
            query = await client.views.queries.create(view["id"])
            assert [] == (await client.views.queries.results(view["id"], query["id"]))["results"]
            assert (await client.views.queries.delete(view["id"], query["id"]))["deleted"] is True
            assert view["id"] == (await client.views.delete(view["id"]))["id"]

        run(notion, scenario)

    def test_file_uploads_and_emojis(self, notion: LocalNotion) -> None:
        """file_uploads create/send/retrieve/list/complete and custom_emojis list."""

        async def scenario(client: notion_client.AsyncClient, root: dict[str, Any]) -> None:
            upload = await client.file_uploads.create(
                mode="multi_part", filename="a.bin", number_of_parts=1
            )
            await client.file_uploads.send(upload["id"], file=("a.bin", b"xyz"), part_number="1")
            assert "uploaded" == (await client.file_uploads.complete(upload["id"]))["status"]
            assert 3 == (await client.file_uploads.retrieve(upload["id"]))["content_length"]
            assert upload["id"] in [u["id"] for u in (await client.file_uploads.list())["results"]]
            assert [] == (await client.custom_emojis.list())["results"]

        run(notion, scenario)
