"""The gateway's pure parts: configuration errors at file:line:col, tool names, access."""

from __future__ import annotations

from pathlib import Path

import pytest

from devfactory.errors import GatewayConfigError
from devfactory.mcp import names
from devfactory.mcp.access import Keyring, Principal, permission_problem
from devfactory.mcp.config import GatewayConfig, load_gateway_config

ROOT = Path(__file__).resolve().parents[2]


class TestConfig:
    def test_the_example_loads(self) -> None:
        config = load_gateway_config(ROOT / "examples" / "gateway.yaml")
        assert 8811 == config.port and "127.0.0.1" == config.host
        assert {"filesystem", "notion", "docker", "everything"} == set(config.servers)
        assert (ROOT / "examples" / "policy.yaml").resolve() == config.path(config.policy or "")

    def test_errors_point_at_file_line_column(self, tmp_path: Path) -> None:
        path = tmp_path / "gw.yaml"
        path.write_text(
            "version: 1\n"
            "servers:\n"
            "  files:\n"
            "    builtin: filesystem\n"
            "    url: http://x\n"
            "  'bad name!':\n"
            "    command: x\n"
            "clients:\n"
            "  - name: a\n"
            "    token_env: lower_case\n"
            "    role: root\n"
            "port: 99999\n"
        )
        with pytest.raises(GatewayConfigError) as caught:
            load_gateway_config(path)
        text = str(caught.value)
        assert f"{path}:4:" in text or f"{path}:3:" in text  # the files entry
        assert "exactly one of builtin, plugin, command or url" in text
        assert f"{path}:10:" in text and "token_env" in text
        assert f"{path}:11:" in text and "role" in text
        assert f"{path}:12:" in text and "port" in text

    def test_unknown_keys_and_server_names_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "gw.yaml"
        path.write_text("version: 1\nservers:\n  'a b':\n    command: x\nlistener: 1\n")
        with pytest.raises(GatewayConfigError) as caught:
            load_gateway_config(path)
        assert "listener" in str(caught.value) and "a b" in str(caught.value)

    def test_client_naming_an_unknown_server(self) -> None:
        with pytest.raises(ValueError, match="unknown server"):
            GatewayConfig.model_validate(
                {"clients": [{"name": "c", "token_env": "T", "servers": ["ghost"]}]}
            )


class TestNames:
    def test_namespaced_names_are_valid_for_model_apis(self) -> None:
        assert "notion__query" == names.exposed_name("notion", "query")
        odd = names.exposed_name("docker", "container.logs/tail")
        assert names.valid(odd) and odd.startswith("docker__container_logs_tail")
        long = names.exposed_name("filesystem", "x" * 80)
        assert names.valid(long) and 64 == len(long)
        assert long != names.exposed_name("filesystem", "x" * 81)  # hashed suffix keeps them apart

    def test_allow_and_deny_globs(self) -> None:
        assert names.offered("read_file", [], [])
        assert not names.offered("delete_note", [], ["delete_*"])
        assert names.offered("list_x", ["list_*"], [])
        assert not names.offered("run", ["list_*"], [])
        assert not names.offered("list_secret", ["list_*"], ["*secret*"])  # deny beats allow


class TestAccess:
    def test_tokens_come_from_the_environment_and_are_kept_as_digests(self) -> None:
        config = GatewayConfig.model_validate(
            {
                "clients": [
                    {"name": "a", "token_env": "TOKEN_A", "role": "viewer"},
                    {"name": "b", "token_env": "TOKEN_B"},
                ]
            }
        )
        ring = Keyring.from_config(config, {"TOKEN_A": "alpha-token-123"})
        assert 1 == len(ring) and ["b ($TOKEN_B)"] == ring.missing
        found = ring.identify("alpha-token-123")
        assert found is not None and "viewer" == found.role
        assert ring.identify("alpha-token-124") is None
        assert "alpha-token-123" not in repr(vars(ring))

    def test_permissions_by_role_server_and_database(self) -> None:
        viewer = Principal("v", "viewer")
        assert permission_problem(viewer, "notion", True, {}) is None
        assert "viewer" in (permission_problem(viewer, "notion", False, {}) or "")
        scoped = Principal("s", "operator", frozenset({"notion"}), {"clients": "read"})
        assert "server" in (permission_problem(scoped, "docker", True, {}) or "")
        assert permission_problem(scoped, "notion", True, {"database": "clients"}) is None
        assert "write" in (
            permission_problem(scoped, "notion", False, {"database": "clients"}) or ""
        )
        assert "read" in (permission_problem(scoped, "notion", True, {"database": "tasks"}) or "")
