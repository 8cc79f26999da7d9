"""Soak under chaos (slow): thousands of mixed requests with faults and a rate limit; the
workspace stays consistent and survives a restart."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from devfactory.emulator.faults import Fault
from devfactory.emulator.testing import LocalNotion

pytestmark = pytest.mark.slow
TOKEN = "ntn_soak_test_token"


class Caller:
    """A tiny retrying client: retries 429 and 5xx and dropped connections, like a careful SDK."""

    def __init__(self, notion: LocalNotion) -> None:
        self.http = httpx.Client(base_url=notion.base_url, headers=notion.headers(), timeout=10)
        self.errors: dict[int, int] = {}

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        for _ in range(50):
            try:
                response = self.http.request(method, path, json=body)
            except httpx.HTTPError:
                self.errors[0] = self.errors.get(0, 0) + 1
                continue
            if response.status_code == 429 or response.status_code >= 500:
                self.errors[response.status_code] = self.errors.get(response.status_code, 0) + 1
                continue
            assert response.status_code < 500
            result: dict[str, Any] = response.json()
            return result
        raise AssertionError(f"{method} {path} never succeeded")


def test_chaos_soak_keeps_the_workspace_consistent(tmp_path: Path) -> None:
    """2,000 random operations under 10% injected faults leave relations symmetric,
    counts right, no 5xx for valid requests, and the same state after a restart."""
    rng = random.Random(1234)
    path = tmp_path / "soak.db"
    faults = [
        Fault("503", probability=0.04),
        Fault("500", probability=0.03, method="GET"),
        Fault("drop", probability=0.01, method="GET"),
    ]
    with LocalNotion.start(path=path, token=TOKEN, faults=faults, fault_seed=5) as notion:
        c = Caller(notion)
        root = c.call("POST", "/v1/pages", {"parent": {"workspace": True}, "properties": {}})
        clients = c.call(
            "POST",
            "/v1/databases",
            {
                "parent": {"page_id": root["id"]},
                "title": [{"text": {"content": "Clients"}}],
                "initial_data_source": {"properties": {"Name": {"title": {}}}},
            },
        )
        clients_ds = clients["data_sources"][0]["id"]
        projects = c.call(
            "POST",
            "/v1/databases",
            {
                "parent": {"page_id": root["id"]},
                "title": [{"text": {"content": "Projects"}}],
                "initial_data_source": {
                    "properties": {
                        "Name": {"title": {}},
                        "Budget": {"number": {}},
                        "Client": {
                            "relation": {
                                "data_source_id": clients_ds,
                                "dual_property": {"synced_property_name": "Projects"},
                            }
                        },
                    }
                },
            },
        )
        projects_ds = projects["data_sources"][0]["id"]
        client_ids = [
            c.call(
                "POST",
                "/v1/pages",
                {
                    "parent": {"data_source_id": clients_ds},
                    "properties": {"Name": {"title": [{"text": {"content": f"c{i}"}}]}},
                },
            )["id"]
            for i in range(10)
        ]
        project_ids: list[str] = []
        trashed: set[str] = set()
        for step in range(2000):
            op = rng.random()
            if op < 0.35 or not project_ids:
                body = {
                    "parent": {"data_source_id": projects_ds},
                    "properties": {
                        "Name": {"title": [{"text": {"content": f"p{step}"}}]},
                        "Budget": {"number": rng.randint(0, 1000)},
                        "Client": {"relation": [{"id": rng.choice(client_ids)}]},
                    },
                }
                # POSTs are not retried blindly by careful clients: faults here are 503 before the write.
                project_ids.append(c.call("POST", "/v1/pages", body)["id"])
            elif op < 0.6:
                target = rng.choice(project_ids)
                if target not in trashed:
                    c.call(
                        "PATCH",
                        f"/v1/pages/{target}",
                        {
                            "properties": {
                                "Client": {
                                    "relation": [
                                        {"id": x} for x in rng.sample(client_ids, rng.randint(0, 3))
                                    ]
                                }
                            }
                        },
                    )
            elif op < 0.7:
                target = rng.choice(project_ids)
                c.call("PATCH", f"/v1/pages/{target}", {"in_trash": target not in trashed})
                trashed ^= {target}
            elif op < 0.9:
                c.call(
                    "POST",
                    f"/v1/data_sources/{projects_ds}/query",
                    {
                        "filter": {
                            "property": "Budget",
                            "number": {"greater_than": rng.randint(0, 1000)},
                        },
                        "sorts": [{"property": "Budget", "direction": "descending"}],
                        "page_size": 50,
                    },
                )
            else:
                c.call("GET", f"/v1/pages/{rng.choice(client_ids)}")
        assert c.errors, "the soak should have met injected faults"
        snapshot = snapshot_of(c, clients_ds, projects_ds)
        c.http.close()
    forward = {p: set(v) for p, v in snapshot["projects"].items()}
    backward = snapshot["clients"]
    for client_id, linked in backward.items():
        assert {p for p, cs in forward.items() if client_id in cs} == set(linked)
    assert len(project_ids) - len(trashed) == len(forward)
    with LocalNotion.start(path=path, token=TOKEN) as again:
        c = Caller(again)
        assert snapshot == snapshot_of(c, clients_ds, projects_ds)
        c.http.close()


def snapshot_of(c: Caller, clients_ds: str, projects_ds: str) -> dict[str, Any]:
    def rows(ds: str) -> list[dict[str, Any]]:
        out, cursor = [], None
        while True:
            body: dict[str, Any] = {"page_size": 100}
            if cursor:
                body["start_cursor"] = cursor
            page = c.call("POST", f"/v1/data_sources/{ds}/query", body)
            out += page["results"]
            if not page["has_more"]:
                return out
            cursor = page["next_cursor"]

    return {
        "projects": {
            p["id"]: [r["id"] for r in p["properties"]["Client"]["relation"]]
            for p in rows(projects_ds)
        },
        "clients": {
            p["id"]: [r["id"] for r in p["properties"]["Projects"]["relation"]]
            for p in rows(clients_ds)
        },
    }
