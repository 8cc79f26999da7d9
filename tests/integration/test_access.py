"""Integrations see what they created or what was shared with them; anything else is 404."""

from __future__ import annotations

from typing import Any

import notion_client
import pytest
from notion_client import APIResponseError

from devfactory.emulator.testing import LocalNotion
from tests.conftest import text


@pytest.fixture
def two(fresh_notion: LocalNotion) -> tuple[notion_client.Client, notion_client.Client, Any]:
    other = fresh_notion.admin("POST", "integrations", {"name": "other"})
    a = notion_client.Client(auth=fresh_notion.token, base_url=fresh_notion.base_url, retry=False)
    b = notion_client.Client(auth=other["token"], base_url=fresh_notion.base_url, retry=False)
    yield a, b, other
    a.close()
    b.close()


def test_other_integration_gets_404(
    two: tuple[notion_client.Client, notion_client.Client, Any],
) -> None:
    """A page made by one integration does not exist for another."""
    a, b, _ = two
    page = a.pages.create(parent={"workspace": True}, properties={"title": text("private")})
    with pytest.raises(APIResponseError) as info:
        b.pages.retrieve(page["id"])
    assert 404 == info.value.status
    assert [] == b.search(query="private")["results"]


def test_sharing_opens_the_subtree(
    fresh_notion: LocalNotion, two: tuple[notion_client.Client, notion_client.Client, Any]
) -> None:
    """Once shared, the page and everything under it are visible to the other integration."""
    a, b, _ = two
    page = a.pages.create(parent={"workspace": True}, properties={"title": text("shared")})
    child = a.pages.create(parent={"page_id": page["id"]}, properties={"title": text("child")})
    fresh_notion.admin("POST", "shares", {"object_id": page["id"], "integration": "other"})
    assert child["id"] == b.pages.retrieve(child["id"])["id"]
    assert {page["id"], child["id"]} == {r["id"] for r in b.search(query="")["results"]}


def test_each_integration_has_its_own_bot(
    two: tuple[notion_client.Client, notion_client.Client, Any],
) -> None:
    """users/me is the calling integration's bot user."""
    a, b, other = two
    assert other["id"] == b.users.me()["id"]
    assert a.users.me()["id"] != b.users.me()["id"]


def test_token_made_by_cli_works_without_restart(fresh_notion: LocalNotion, tmp_path: Any) -> None:
    """A token added to the database file by another process is accepted at once."""
    from devfactory.emulator.store import Store
    from devfactory.emulator.workspace import create_integration

    assert fresh_notion.store.path is not None
    outside = Store(fresh_notion.store.path)
    created = create_integration(outside, "from-cli")
    outside.close()
    client = notion_client.Client(auth=created.token, base_url=fresh_notion.base_url, retry=False)
    try:
        assert "from-cli" == client.users.me()["name"]
    finally:
        client.close()


class TestCapabilities:
    def test_read_only_integration_gets_403_on_writes(self, fresh_notion: LocalNotion) -> None:
        """An integration with only read_content may read but not create: 403 restricted_resource."""
        reader = fresh_notion.admin(
            "POST",
            "integrations",
            {"name": "reader", "capabilities": ["read_content", "read_user_without_email"]},
        )
        client = notion_client.Client(
            auth=reader["token"], base_url=fresh_notion.base_url, retry=False
        )
        try:
            assert [] == client.search()["results"]
            with pytest.raises(APIResponseError) as info:
                client.pages.create(parent={"workspace": True}, properties={})
            assert (403, "restricted_resource") == (info.value.status, info.value.code)
            with pytest.raises(APIResponseError):
                client.comments.list(block_id="00000000-0000-0000-0000-000000000000")
        finally:
            client.close()

    def test_user_emails_need_the_capability(self, fresh_notion: LocalNotion) -> None:
        """Without read_user_with_email, people come back without their address."""
        limited = fresh_notion.admin(
            "POST",
            "integrations",
            {"name": "no-email", "capabilities": ["read_user_without_email"]},
        )
        client = notion_client.Client(
            auth=limited["token"], base_url=fresh_notion.base_url, retry=False
        )
        try:
            person = next(u for u in client.users.list()["results"] if u["type"] == "person")
            assert {} == person["person"]
        finally:
            client.close()

    def test_unknown_capability_is_refused(self, fresh_notion: LocalNotion) -> None:
        """Capabilities are checked by name."""
        import httpx

        response = httpx.post(
            f"{fresh_notion.base_url}/__admin/integrations",
            json={"name": "x", "capabilities": ["fly"]},
            headers={"Authorization": f"Bearer {fresh_notion.admin_token}"},
        )
        assert 400 == response.status_code
