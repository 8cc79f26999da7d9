"""The HTTP contract: versions, auth, error envelopes, request ids, limits, bad input."""

from __future__ import annotations

from typing import Any

import httpx

from devfactory.emulator.testing import LocalNotion


def call(
    notion: LocalNotion,
    method: str,
    path: str,
    *,
    version: str | None = "2025-09-03",
    token: str | None = None,
    **kw: Any,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or notion.token}"}
    if version is not None:
        headers["Notion-Version"] = version
    headers.update(kw.pop("headers", {}))
    return httpx.request(method, f"{notion.base_url}{path}", headers=headers, timeout=10, **kw)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert (status, code) == (response.status_code, body["code"])
    assert {"object", "status", "code", "message", "request_id"} <= set(body)
    assert "error" == body["object"] and status == body["status"]
    assert body["request_id"] == response.headers["x-notion-request-id"]
    return body


class TestVersions:
    def test_missing_version_is_400_missing_version(self, notion: LocalNotion) -> None:
        """No Notion-Version header: 400 missing_version."""
        assert_error(call(notion, "GET", "/v1/users/me", version=None), 400, "missing_version")

    def test_unknown_version_is_validation_error(self, notion: LocalNotion) -> None:
        """A version this server does not speak is refused with a message naming the ones it does."""
        body = assert_error(
            call(notion, "GET", "/v1/users/me", version="2099-01-01"), 400, "validation_error"
        )
        assert "2025-09-03" in body["message"]

    def test_2026_version_drops_archived(self, notion: LocalNotion) -> None:
        """2026-03-11 answers carry in_trash and no archived."""
        page = call(
            notion,
            "POST",
            "/v1/pages",
            version="2026-03-11",
            json={"parent": {"workspace": True}, "properties": {}},
        ).json()
        assert "in_trash" in page and "archived" not in page
        old = call(notion, "GET", f"/v1/pages/{page['id']}").json()
        assert old["archived"] is False

    def test_2026_version_refuses_archived_in_requests(self, notion: LocalNotion) -> None:
        """2026-03-11 requests must say in_trash."""
        page = call(
            notion, "POST", "/v1/pages", json={"parent": {"workspace": True}, "properties": {}}
        ).json()
        response = call(
            notion,
            "PATCH",
            f"/v1/pages/{page['id']}",
            version="2026-03-11",
            json={"archived": True},
        )
        assert_error(response, 400, "validation_error")

    def test_2026_position_on_append(self, notion: LocalNotion) -> None:
        """2026-03-11 appends take position start / after_block."""
        page = call(
            notion, "POST", "/v1/pages", json={"parent": {"workspace": True}, "properties": {}}
        ).json()
        para = lambda t: {"paragraph": {"rich_text": [{"text": {"content": t}}]}}  # noqa: E731
        first = call(
            notion,
            "PATCH",
            f"/v1/blocks/{page['id']}/children",
            json={"children": [para("b"), para("d")]},
        ).json()["results"]
        call(
            notion,
            "PATCH",
            f"/v1/blocks/{page['id']}/children",
            version="2026-03-11",
            json={"children": [para("a")], "position": {"type": "start"}},
        )
        call(
            notion,
            "PATCH",
            f"/v1/blocks/{page['id']}/children",
            version="2026-03-11",
            json={
                "children": [para("c")],
                "position": {"type": "after_block", "after_block": {"id": first[0]["id"]}},
            },
        )
        listed = call(notion, "GET", f"/v1/blocks/{page['id']}/children").json()["results"]
        assert ["a", "b", "c", "d"] == [
            b["paragraph"]["rich_text"][0]["plain_text"] for b in listed
        ]
        old_after = call(
            notion,
            "PATCH",
            f"/v1/blocks/{page['id']}/children",
            version="2026-03-11",
            json={"children": [para("x")], "after": first[0]["id"]},
        )
        assert_error(old_after, 400, "validation_error")


class TestAuthAndUrls:
    def test_bad_token_is_401(self, notion: LocalNotion) -> None:
        """An unknown token: 401 unauthorized, "API token is invalid."."""
        body = assert_error(call(notion, "GET", "/v1/users", token="nope"), 401, "unauthorized")
        assert "API token is invalid." == body["message"]

    def test_missing_authorization_is_401(self, notion: LocalNotion) -> None:
        """No Authorization header at all: 401."""
        response = httpx.get(
            f"{notion.base_url}/v1/users", headers={"Notion-Version": "2025-09-03"}
        )
        assert_error(response, 401, "unauthorized")

    def test_unknown_url_is_checked_before_auth(self, notion: LocalNotion) -> None:
        """An unknown route is 400 invalid_request_url even with a bad token, as recorded."""
        body = assert_error(
            call(notion, "GET", "/v1/invalid", token="nope"), 400, "invalid_request_url"
        )
        assert "Invalid request URL." == body["message"]

    def test_wrong_method_is_invalid_request_url(self, notion: LocalNotion) -> None:
        """A known path with a method it does not take is not a route either."""
        assert_error(call(notion, "PUT", "/v1/users"), 400, "invalid_request_url")

    def test_success_bodies_carry_request_id(self, notion: LocalNotion) -> None:
        """Success answers carry request_id in the body and x-notion-request-id."""
        response = call(notion, "GET", "/v1/users/me")
        assert response.json()["request_id"] == response.headers["x-notion-request-id"]


class TestBadInput:
    def test_invalid_json(self, notion: LocalNotion) -> None:
        """A body that is not JSON: 400 invalid_json."""
        response = call(
            notion,
            "POST",
            "/v1/pages",
            content=b"{nope",
            headers={"content-type": "application/json"},
        )
        assert_error(response, 400, "invalid_json")

    def test_json_that_is_not_an_object(self, notion: LocalNotion) -> None:
        """A JSON array body is a validation error naming body."""
        body = assert_error(call(notion, "POST", "/v1/pages", json=[1, 2]), 400, "validation_error")
        assert "body should be an object" in body["message"]

    def test_missing_parent_names_the_path(self, notion: LocalNotion) -> None:
        """A missing required field is reported at its body path."""
        body = assert_error(
            call(notion, "POST", "/v1/pages", json={"properties": {}}), 400, "validation_error"
        )
        assert "body.parent should be defined, instead was `undefined`." in body["message"]

    def test_text_longer_than_2000_characters(self, notion: LocalNotion) -> None:
        """Rich text content is limited to 2,000 characters, with Notion's message."""
        page = call(
            notion, "POST", "/v1/pages", json={"parent": {"workspace": True}, "properties": {}}
        ).json()
        children = [
            {"paragraph": {"rich_text": [{"text": {"content": "x"}}]}},
            {"paragraph": {"rich_text": [{"text": {"content": "y" * 2001}}]}},
        ]
        body = assert_error(
            call(notion, "PATCH", f"/v1/blocks/{page['id']}/children", json={"children": children}),
            400,
            "validation_error",
        )
        assert (
            "body.children[1].paragraph.rich_text[0].text.content.length should be ≤ `2000`, instead was `2001`."
            in body["message"]
        )

    def test_more_than_100_children(self, notion: LocalNotion) -> None:
        """At most 100 blocks per append."""
        page = call(
            notion, "POST", "/v1/pages", json={"parent": {"workspace": True}, "properties": {}}
        ).json()
        children = [{"divider": {}}] * 101
        assert_error(
            call(notion, "PATCH", f"/v1/blocks/{page['id']}/children", json={"children": children}),
            400,
            "validation_error",
        )

    def test_payload_over_500_kb(self, notion: LocalNotion) -> None:
        """Bodies over 500 KB are refused before parsing."""
        response = call(
            notion,
            "POST",
            "/v1/search",
            content=b'{"query": "' + b"x" * 600_000 + b'"}',
            headers={"content-type": "application/json"},
        )
        assert_error(response, 413, "validation_error")

    def test_failed_request_changes_nothing(self, notion: LocalNotion) -> None:
        """A create that fails half-way (a bad child block) leaves no page behind."""
        before = len(notion.store.records)
        bad = {
            "parent": {"workspace": True},
            "properties": {},
            "children": [{"paragraph": {"rich_text": "oops"}}],
        }
        assert_error(call(notion, "POST", "/v1/pages", json=bad), 400, "validation_error")
        assert before == len(notion.store.records)


def test_oauth_is_an_unsupported_request(notion: LocalNotion) -> None:
    """OAuth token exchange answers 400 invalid_request: only internal integrations exist here."""
    response = httpx.post(
        f"{notion.base_url}/v1/oauth/token",
        json={"grant_type": "authorization_code"},
        auth=("id", "secret"),
    )
    assert_error(response, 400, "invalid_request")
