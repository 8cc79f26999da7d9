"""Storage: a restart on the same file keeps everything; concurrent requests are safe."""

from __future__ import annotations

import asyncio
from pathlib import Path

import notion_client

from devfactory.emulator.testing import LocalNotion
from tests.conftest import TOKEN, text
from tests.integration.test_databases import make_db


def test_restart_keeps_everything(tmp_path: Path) -> None:
    """Pages, schemas, relations, blocks, comments and tokens survive a restart."""
    path = tmp_path / "notion.db"
    with LocalNotion.start(path=path, token=TOKEN) as first:
        client = notion_client.Client(auth=TOKEN, base_url=first.base_url, retry=False)
        root = client.pages.create(parent={"workspace": True}, properties={"title": text("Kept")})
        _, ds_id = make_db(
            client,
            root["id"],
            "Kept DB",
            {"Name": {"title": {}}, "Code": {"unique_id": {"prefix": "K"}}},
        )
        row = client.pages.create(
            parent={"data_source_id": ds_id}, properties={"Name": {"title": text("row")}}
        )
        client.blocks.children.append(
            root["id"], children=[{"paragraph": {"rich_text": text("body")}}]
        )
        client.comments.create(parent={"page_id": root["id"]}, rich_text=text("note"))
        before = (client.pages.retrieve(row["id"]), client.data_sources.retrieve(ds_id))
        client.close()
    with LocalNotion.start(path=path, token=TOKEN) as second:
        client = notion_client.Client(auth=TOKEN, base_url=second.base_url, retry=False)
        after_row = client.pages.retrieve(row["id"])
        after_ds = client.data_sources.retrieve(ds_id)
        assert before[0]["properties"] == after_row["properties"]
        assert before[1]["properties"] == after_ds["properties"]
        assert ["child_database", "paragraph"] == [
            b["type"] for b in client.blocks.children.list(root["id"])["results"]
        ]
        assert 1 == len(client.comments.list(block_id=root["id"])["results"])
        second_row = client.pages.create(parent={"data_source_id": ds_id}, properties={})
        assert 2 == second_row["properties"]["Code"]["unique_id"]["number"]
        client.close()


def test_concurrent_creates_are_all_kept(fresh_notion: LocalNotion) -> None:
    """Fifty concurrent creates through the async client all land, with distinct ids."""

    async def run() -> list[str]:
        client = notion_client.AsyncClient(
            auth=fresh_notion.token, base_url=fresh_notion.base_url, retry=False
        )
        try:
            root = await client.pages.create(parent={"workspace": True}, properties={})
            _, ds_id = make_db_sync(fresh_notion, root["id"])
            pages = await asyncio.gather(
                *[
                    client.pages.create(
                        parent={"data_source_id": ds_id},
                        properties={"Name": {"title": text(f"p{i}")}},
                    )
                    for i in range(50)
                ]
            )
            listed = await client.data_sources.query(ds_id)
            assert 50 == len(listed["results"])
            return [p["id"] for p in pages]
        finally:
            await client.aclose()

    ids = asyncio.run(run())
    assert 50 == len(set(ids))


def make_db_sync(notion: LocalNotion, parent: str) -> tuple[dict[str, object], str]:
    client = notion_client.Client(auth=notion.token, base_url=notion.base_url, retry=False)
    try:
        return make_db(client, parent, "Concurrent")
    finally:
        client.close()
