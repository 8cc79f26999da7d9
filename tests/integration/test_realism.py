"""Rate limits and injected faults, configured at start and through the admin API."""

from __future__ import annotations

from typing import Any

import httpx
import notion_client
import pytest
from notion_client import APIResponseError

from devfactory.emulator.faults import Fault
from devfactory.emulator.testing import LocalNotion


def raw(notion: LocalNotion, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(
        method, f"{notion.base_url}{path}", headers=notion.headers(), timeout=10, **kw
    )


class TestRateLimit:
    def test_burst_then_429_with_integer_retry_after(self) -> None:
        """With --rate-limit 3 and burst 3, the fourth immediate request gets 429 and Retry-After."""
        with LocalNotion.start(rate_limit=3.0, rate_burst=3) as notion:
            statuses = [raw(notion, "GET", "/v1/users/me").status_code for _ in range(3)]
            limited = raw(notion, "GET", "/v1/users/me")
            assert [200, 200, 200] == statuses
            assert 429 == limited.status_code
            assert "rate_limited" == limited.json()["code"]
            assert int(limited.headers["retry-after"]) >= 1

    def test_bucket_refills_with_time(self) -> None:
        """After the clock moves on, requests are allowed again (no sleeping in tests)."""
        with LocalNotion.start(rate_limit=3.0, rate_burst=1) as notion:
            assert 200 == raw(notion, "GET", "/v1/users/me").status_code
            assert 429 == raw(notion, "GET", "/v1/users/me").status_code
            notion.admin("POST", "clock", {"advance": 1.0})
            assert 200 == raw(notion, "GET", "/v1/users/me").status_code

    def test_rate_limit_set_at_run_time(self, fresh_notion: LocalNotion) -> None:
        """The admin API turns the limit on and off while the server runs."""
        fresh_notion.admin("PUT", "rate-limit", {"rate": 1, "burst": 1})
        raw(fresh_notion, "GET", "/v1/users/me")
        assert 429 == raw(fresh_notion, "GET", "/v1/users/me").status_code
        fresh_notion.admin("PUT", "rate-limit", {"rate": None})
        assert 200 == raw(fresh_notion, "GET", "/v1/users/me").status_code

    def test_official_client_retries_429_and_succeeds(self) -> None:
        """notion-client honours Retry-After on 429 and gets through."""
        with LocalNotion.start() as notion:
            notion.admin("POST", "faults/script", {"faults": [{"kind": "429", "retry_after": 0}]})
            client = notion_client.Client(auth=notion.token, base_url=notion.base_url)
            try:
                assert "bot" == client.users.me()["type"]
            finally:
                client.close()
            assert {"429": 1} == notion.admin("GET", "state")["faults"]["injected"]


class TestFaults:
    @pytest.mark.parametrize(
        ("kind", "status", "code"),
        [
            ("500", 500, "internal_server_error"),
            ("503", 503, "service_unavailable"),
            ("504", 504, "gateway_timeout"),
        ],
    )
    def test_scripted_error(
        self, fresh_notion: LocalNotion, kind: str, status: int, code: str
    ) -> None:
        """A scripted fault answers the next matching request with Notion's error, then stops."""
        fresh_notion.admin(
            "POST",
            "faults/script",
            {"faults": [{"kind": kind, "method": "GET", "path": "^/v1/users"}]},
        )
        failed = raw(fresh_notion, "GET", "/v1/users/me")
        assert (status, code) == (failed.status_code, failed.json()["code"])
        assert 200 == raw(fresh_notion, "GET", "/v1/users/me").status_code

    def test_commit_then_fail_writes_but_errors(self, fresh_notion: LocalNotion) -> None:
        """commit_then_fail: the page is created, the client sees a 500."""
        fresh_notion.admin(
            "POST",
            "faults/script",
            {"faults": [{"kind": "commit_then_fail", "method": "POST", "path": "^/v1/pages$"}]},
        )
        failed = raw(
            fresh_notion,
            "POST",
            "/v1/pages",
            json={
                "parent": {"workspace": True},
                "properties": {"title": [{"text": {"content": "ghost"}}]},
            },
        )
        assert 500 == failed.status_code
        found = raw(fresh_notion, "POST", "/v1/search", json={"query": "ghost"}).json()
        assert 1 == len(found["results"])

    def test_drop_closes_the_connection(self, fresh_notion: LocalNotion) -> None:
        """drop: the client gets no complete response, and the server keeps serving."""
        fresh_notion.admin("POST", "faults/script", {"faults": [{"kind": "drop"}]})
        with pytest.raises(httpx.HTTPError):
            raw(fresh_notion, "GET", "/v1/users/me")
        assert 200 == raw(fresh_notion, "GET", "/v1/users/me").status_code

    def test_slow_response_is_delayed(self, fresh_notion: LocalNotion) -> None:
        """slow: the answer comes after the delay (a client timeout shorter than it fires)."""
        fresh_notion.admin("POST", "faults/script", {"faults": [{"kind": "slow", "delay": 1.0}]})
        with pytest.raises(httpx.TimeoutException):
            httpx.get(
                f"{fresh_notion.base_url}/v1/users/me", headers=fresh_notion.headers(), timeout=0.2
            )

    def test_probabilistic_faults_repeat_with_the_seed(self) -> None:
        """The same seed injects faults on the same requests."""
        runs = []
        for _ in range(2):
            with LocalNotion.start(
                faults=[Fault(kind="503", probability=0.3)], fault_seed=7
            ) as notion:
                runs.append([raw(notion, "GET", "/v1/users/me").status_code for _ in range(30)])
        assert runs[0] == runs[1]
        assert 0 < runs[0].count(503) < 30

    def test_admin_api_needs_its_token(self, fresh_notion: LocalNotion) -> None:
        """The admin API refuses requests without the admin token, even with an API token."""
        response = httpx.get(
            f"{fresh_notion.base_url}/__admin/state",
            headers={"Authorization": f"Bearer {fresh_notion.token}"},
        )
        assert 401 == response.status_code

    def test_state_never_shows_tokens(self, fresh_notion: LocalNotion) -> None:
        """The admin state lists integrations without their tokens."""
        state = fresh_notion.admin("GET", "state")
        assert fresh_notion.token not in str(state)
        assert ["devfactory-tests"] == [i["name"] for i in state["integrations"]]

    def test_official_client_sees_typed_errors(self, fresh_notion: LocalNotion) -> None:
        """notion-client maps the injected 503 on a POST to its APIResponseError (no retry for POST)."""
        fresh_notion.admin("POST", "faults/script", {"faults": [{"kind": "503", "method": "POST"}]})
        client = notion_client.Client(auth=fresh_notion.token, base_url=fresh_notion.base_url)
        try:
            with pytest.raises(APIResponseError) as info:
                client.search()
            assert "service_unavailable" == info.value.code
        finally:
            client.close()


def test_conflict_fault_gives_conflict_error(fresh_notion: LocalNotion) -> None:
    """A scripted 409 answers conflict_error, which notion-client knows."""
    fresh_notion.admin("POST", "faults/script", {"faults": [{"kind": "409", "method": "PATCH"}]})
    client = notion_client.Client(
        auth=fresh_notion.token, base_url=fresh_notion.base_url, retry=False
    )
    try:
        page = client.pages.create(parent={"workspace": True}, properties={})
        with pytest.raises(APIResponseError) as info:
            client.pages.update(page["id"], icon={"emoji": "🔥"})
        assert (409, "conflict_error") == (info.value.status, info.value.code)
    finally:
        client.close()
