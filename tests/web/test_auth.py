"""Access to the dashboard: keys, roles, sessions, CSRF and the audit stream."""

from __future__ import annotations

from pathlib import Path

import httpx

from devfactory.gate.approvals import Approvals
from devfactory.gate.decide import decide
from devfactory.gate.policy import Policy, ToolCall
from tests.web.conftest import Dashboard

CALL = ToolCall("docker", "docker__remove", {"container": "old-job"})


def halt(dash: Dashboard) -> str:
    return Approvals(dash.store).create(CALL, decide(CALL, Policy()), ttl=600).id


class TestBearer:
    def test_no_key_is_401_with_a_json_error(self, dashboard: Dashboard) -> None:
        """Without a key the API answers 401 in the one error shape and says how to sign in."""
        with dashboard.client() as http:
            answer = http.get("/api/v1/logs")
        assert 401 == answer.status_code
        body = answer.json()
        assert {"ok": False, "status": 401} == {k: body[k] for k in ("ok", "status")}
        assert "Bearer" in body["error"]
        assert answer.headers["www-authenticate"].startswith("Bearer")

    def test_bad_key_is_401_and_audited_without_the_key(self, dashboard: Dashboard) -> None:
        """A wrong key is refused; the audit line says why and never holds the key."""
        with dashboard.client(key="dfk_wrong-key-123") as http:
            assert 401 == http.get("/api/v1/logs").status_code
        denied = [r for r in dashboard.audit() if r.get("decision") == "denied"]
        assert "unknown API key" == denied[-1]["reason"]
        assert "dfk_wrong-key-123" not in str(dashboard.sink.lines())

    def test_viewer_reads_but_cannot_approve(self, dashboard: Dashboard) -> None:
        """A viewer may list approvals and gets 403 on approve; the call stays pending."""
        ident = halt(dashboard)
        with dashboard.client("viewer") as http:
            assert 200 == http.get("/api/v1/approvals").status_code
            answer = http.post(f"/api/v1/approvals/{ident}/approve", json={"note": "x"})
            assert 403 == answer.status_code
            assert "operator" in answer.json()["error"]
        assert "pending" == Approvals(dashboard.store).get(ident).status

    def test_every_decision_is_on_the_audit_stream(self, dashboard: Dashboard) -> None:
        """Allowed and denied requests each leave one web.access line with the caller."""
        with dashboard.client("viewer") as http:
            http.get("/api/v1/me")
        with dashboard.client() as http:
            http.get("/api/v1/me")
        lines = [r for r in dashboard.audit() if r["event"] == "web.access"]
        assert [("ok", "viewer-1"), ("denied", None)] == [
            (r["decision"], r["principal"]) for r in lines[-2:]
        ]
        assert "/api/v1/me" == lines[-1]["path"]


def login(http: httpx.Client, dashboard: Dashboard, role: str) -> str:
    """Sign ``http`` in with the key of ``role``; the CSRF token to echo."""
    answer = http.post("/login", data={"key": dashboard.keys[role]})
    assert 200 == answer.status_code
    cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("devfactory_session="))
    assert "httponly" in session.lower() and "samesite=strict" in session.lower()
    return str(answer.json()["csrf_token"])


class TestSession:
    def test_login_cookie_reads(self, dashboard: Dashboard) -> None:
        """After POST /login the session cookie alone authenticates a GET."""
        with dashboard.client() as http:
            login(http, dashboard, "viewer")
            assert "viewer-1" == http.get("/api/v1/me").json()["name"]

    def test_cookie_post_needs_the_csrf_token(self, dashboard: Dashboard) -> None:
        """A signed-in POST without X-CSRF-Token is 403; with the token it goes through."""
        ident = halt(dashboard)
        url = f"/api/v1/approvals/{ident}/approve"
        with dashboard.client() as http:
            csrf = login(http, dashboard, "operator")
            assert 403 == http.post(url, json={}).status_code
            assert 403 == http.post(url, json={}, headers={"X-CSRF-Token": "no"}).status_code
            answer = http.post(url, json={"note": "ok"}, headers={"X-CSRF-Token": csrf})
        assert 200 == answer.status_code
        assert ("approved", "operator-1") == (answer.json()["status"], answer.json()["reviewer"])

    def test_bad_login_is_401(self, dashboard: Dashboard) -> None:
        """A wrong key at /login sets no cookie."""
        with dashboard.client() as http:
            answer = http.post("/login", data={"key": "dfk_nope"})
        assert 401 == answer.status_code
        assert "set-cookie" not in answer.headers

    def test_forged_cookie_and_revoked_key_are_401(self, dashboard: Dashboard) -> None:
        """A tampered cookie is refused; revoking the key ends its session at once."""
        with dashboard.client() as http:
            login(http, dashboard, "viewer")
            good = http.cookies["devfactory_session"]
            with dashboard.client(cookies={"devfactory_session": good[:-2] + "xx"}) as forged:
                assert 401 == forged.get("/api/v1/me").status_code
            dashboard.ctx.keys.revoke("viewer-1")
            assert 401 == http.get("/api/v1/me").status_code

    def test_logout_forgets_the_session(self, dashboard: Dashboard) -> None:
        """POST /logout clears the cookies, so the next request is 401."""
        with dashboard.client() as http:
            login(http, dashboard, "viewer")
            assert 200 == http.post("/logout").status_code
            assert 401 == http.get("/api/v1/me").status_code


class TestKeys:
    def test_keys_are_stored_hashed(self, dashboard: Dashboard) -> None:
        """No store file (database, WAL) holds a plain key; listing shows only a hint."""
        dashboard.store.execute("PRAGMA wal_checkpoint(FULL)")
        files = list(Path(dashboard.home).glob("devfactory.db*"))
        assert files
        for key in dashboard.keys.values():
            assert all(key.encode() not in f.read_bytes() for f in files)
        listed = [k.to_dict() for k in dashboard.ctx.keys.list()]
        assert all(len(k["hint"]) == 8 for k in listed)

    def test_grants_limit_the_databases_listed(self, dashboard: Dashboard) -> None:
        """A key with per-database grants sees only those databases, capped by its role."""
        state = dashboard.home / "state"
        state.mkdir(parents=True)
        (state / "acme.dev.json").write_text(
            '{"workspace": "acme", "environment": "dev", "target": "embedded", "databases": '
            '{"clients": {"database_id": "d1", "data_source_id": "s1"}, '
            '"tasks": {"database_id": "d2", "data_source_id": "s2"}}}'
        )
        key = dashboard.ctx.keys.create("client-a", "viewer", {"clients": "write"})
        with dashboard.client(key=key) as http:
            mine = http.get("/api/v1/databases").json()["databases"]
        with dashboard.client("admin") as http:
            every = http.get("/api/v1/databases").json()["databases"]
        assert [("clients", "read")] == [(d["database"], d["access"]) for d in mine]
        assert {"clients", "tasks"} == {d["database"] for d in every}


class TestRepeatedReads:
    def test_identical_reads_are_counted_not_repeated(self, dashboard: Dashboard) -> None:
        """A page polling one endpoint leaves one full line, then one line with the count
        once its window has passed; other paths, denials and writes stay one line each."""
        clock = [1000.0]
        dashboard.ctx.repeats.clock = lambda: clock[0]
        with dashboard.client("viewer") as http:
            for _ in range(10):
                assert 200 == http.get("/api/v1/logs/tail").status_code
            http.get("/api/v1/me")
        with dashboard.client() as http:
            http.get("/api/v1/logs/tail")
            http.get("/api/v1/logs/tail")
        tail = [
            r for r in dashboard.audit()
            if r["event"] == "web.access" and r["path"] == "/api/v1/logs/tail"
        ]  # fmt: skip
        assert [("ok", None), ("denied", None), ("denied", None)] == [
            (r["decision"], r.get("repeats")) for r in tail
        ]
        clock[0] += 61  # the window has passed: the next audit accounts for the nine
        with dashboard.client("viewer") as http:
            http.get("/api/v1/logs/tail")
        tail = [
            r for r in dashboard.audit()
            if r["event"] == "web.access" and r["path"] == "/api/v1/logs/tail"
        ]  # fmt: skip
        counted = [r for r in tail if r.get("repeats")]
        assert [(9, "viewer-1")] == [(r["repeats"], r["principal"]) for r in counted]
        assert 61.0 == counted[0]["window_s"]
        assert tail[-1].get("repeats") is None  # and a new window opens with a full line

    def test_open_counts_are_written_when_the_app_stops(self) -> None:
        from devfactory.obs import log
        from devfactory.web.repeats import Repeats

        sink = log.MemorySink()
        log.configure(logs_dir=None, sinks=[sink], level="debug")
        try:
            repeats = Repeats(clock=lambda: 5.0)
            line = {"decision": "ok", "principal": "p", "method": "GET", "path": "/x"}
            key = tuple(sorted(line.items()))
            assert [True, False, False] == [repeats.first(key, line) for _ in range(3)]
            repeats.flush()
            assert [2] == [r["repeats"] for r in sink.records("audit")]
        finally:
            log.shutdown()
