"""The Docker MCP server against a real Docker Engine API (podman), through the MCP client.

The engine starts once per session (tests/mcp/docker_engine.py, about 2 s) and holds one
image, ``local/busybox``. Containers run without network and exit quickly; every one
carries TEST_LABEL and is removed after each test.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import docker  # type: ignore[import-untyped]
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from devfactory.mcp.docker import CREATED_BY, MAX_LOG_BYTES, hosted, refusals
from tests.mcp.docker_engine import IMAGE, busybox_rootfs, podman_engine, podman_missing

TEST_LABEL = {"devfactory.test": "mcp-docker"}
LABELS = [f"{key}={value}" for key, value in TEST_LABEL.items()]

TOOLS = {
    "list_containers": {"readOnlyHint": True},
    "inspect_container": {"readOnlyHint": True},
    "container_logs": {"readOnlyHint": True},
    "list_images": {"readOnlyHint": True},
    "inspect_image": {"readOnlyHint": True},
    "start_container": {"destructiveHint": False},
    "stop_container": {"destructiveHint": True},
    "restart_container": {"destructiveHint": True},
    "remove_container": {"destructiveHint": True},
    "run_container": {"destructiveHint": False},
}
# One valid call per tool, for the no-engine checks.
CALLS: dict[str, dict[str, Any]] = {
    "list_containers": {},
    "inspect_container": {"container": "x"},
    "container_logs": {"container": "x"},
    "list_images": {},
    "inspect_image": {"image": IMAGE},
    "start_container": {"container": "x"},
    "stop_container": {"container": "x"},
    "restart_container": {"container": "x"},
    "remove_container": {"container": "x"},
    "run_container": {"image": IMAGE},
}


def _absent(what: str, error: Exception | str) -> None:
    """Skip with the reason, or fail under DEVFACTORY_REQUIRE_SERVICES=1 (tests/conftest.py)."""
    detail = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    reason = f"{what} is not available: {detail}"
    if os.environ.get("DEVFACTORY_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; DEVFACTORY_REQUIRE_SERVICES=1 makes it required")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A podman Docker-API engine for the session, holding only ``local/busybox``."""
    missing = podman_missing()
    if missing:
        _absent("a Docker Engine API (podman)", missing)
    try:
        rootfs = busybox_rootfs(tmp_path_factory.mktemp("busybox"))
    except subprocess.CalledProcessError as exc:
        _absent("the busybox-static package (apt-get download)", exc)
    with podman_engine(tmp_path_factory.mktemp("podman"), rootfs) as url:
        yield url


@pytest.fixture(scope="session")
def engine(docker_url: str) -> Iterator[Any]:
    """The docker SDK on the same engine, to set up and check behind the server's back."""
    client = docker.DockerClient(base_url=docker_url)
    yield client
    client.close()


@pytest.fixture
def url(docker_url: str, engine: Any) -> Iterator[str]:
    """The engine URL; every container a test or the server labelled is removed afterwards."""
    yield docker_url
    for label in [*LABELS, *(f"{key}={value}" for key, value in CREATED_BY.items())]:
        for container in engine.containers.list(all=True, filters={"label": [label]}):
            container.remove(force=True)


@contextlib.asynccontextmanager
async def connected(base_url: str) -> AsyncIterator[Client]:
    """An in-memory MCP client on a fresh server for ``base_url``, closed afterwards."""
    server = hosted(base_url)
    try:
        async with Client(server.server, raise_exceptions=True) as client:
            yield client
    finally:
        assert server.close is not None
        await server.close()


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """The structured result of a call that must succeed."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


async def error(client: Client, tool: str, **arguments: Any) -> str:
    """The message of a call that must fail as a tool error."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    text: str = result.content[0].text  # type: ignore[union-attr]
    return text


def run(engine: Any, command: str, name: str | None = None) -> Any:
    """A detached test container started with the SDK directly."""
    return engine.containers.run(
        IMAGE, ["sh", "-c", command], name=name, detach=True, network_mode="none", labels=TEST_LABEL
    )


def _hang_up_on_everyone(listener: socket.socket) -> None:
    """Accept connections and close them unanswered, until the listener shuts down."""
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            connection.recv(4096)


class TestSurface:
    """What a client sees before any engine is involved."""

    @pytest.mark.anyio
    async def test_tools_are_listed_described_and_annotated_without_an_engine(
        self, tmp_path: Path
    ) -> None:
        """Listing tools needs no engine; every tool says what it does and how risky it is."""
        async with connected(f"unix://{tmp_path}/absent.sock") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(TOOLS) == set(tools)
        for name, hints in TOOLS.items():
            tool = tools[name]
            assert tool.description, name
            assert tool.output_schema is not None, name
            wire = tool.annotations.model_dump(by_alias=True, exclude_none=True)  # type: ignore[union-attr]
            assert hints.items() <= wire.items(), name
        assert "readOnlyHint" not in tools["run_container"].annotations.model_dump(  # type: ignore[union-attr]
            by_alias=True, exclude_none=True
        )

    def test_the_stdio_command_starts_and_lists_tools_without_an_engine(
        self, tmp_path: Path
    ) -> None:
        """`devfactory mcp docker --host ...` serves tools/list over stdio with no engine."""

        async def list_over_stdio() -> set[str]:
            params = StdioServerParameters(
                command=sys.executable,
                args=["-m", "devfactory", "mcp", "docker", "--host", f"unix://{tmp_path}/x.sock"],
            )
            async with Client(params) as client:
                return {tool.name for tool in (await client.list_tools()).tools}

        assert set(TOOLS) == anyio.run(list_over_stdio)


class TestNoEngine:
    """Without a reachable engine every tool answers with a clear tool error."""

    @pytest.mark.anyio
    async def test_every_tool_says_no_engine_is_reachable(self, tmp_path: Path) -> None:
        """Each call is an is_error result naming the URL and the cause, not a traceback."""
        absent = f"unix://{tmp_path}/absent.sock"
        async with connected(absent) as client:
            for tool, arguments in CALLS.items():
                message = await error(client, tool, **arguments)
                assert f"no Docker engine reachable at {absent}: No such file or directory" in (
                    message
                ), tool
                assert "Traceback" not in message

    @pytest.mark.anyio
    async def test_a_socket_that_does_not_speak_the_api_is_no_engine(self, tmp_path: Path) -> None:
        """Something listens but hangs up: still a clear no-engine error with the cause."""
        path = tmp_path / "mute.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(str(path))
            listener.listen()
            hang_up = threading.Thread(target=_hang_up_on_everyone, args=(listener,), daemon=True)
            hang_up.start()
            async with connected(f"unix://{path}") as client:
                message = await error(client, "list_containers")
            listener.shutdown(socket.SHUT_RDWR)
        hang_up.join(timeout=5)
        assert f"no Docker engine reachable at unix://{path}: " in message
        assert "Remote end closed connection without response" in message

    @pytest.mark.anyio
    async def test_assess_without_an_engine_adds_nothing(self, tmp_path: Path) -> None:
        """The gate's look-up stays quiet; the call itself reports the missing engine."""
        server = hosted(f"unix://{tmp_path}/absent.sock")
        assert server.assess is not None
        assert {} == await server.assess("stop_container", {"container": "web"})


class TestRunRefusals:
    """run_container refuses what would hand the host over, before contacting the engine."""

    @pytest.mark.anyio
    @pytest.mark.parametrize(
        ("arguments", "reason"),
        [
            ({"privileged": True}, "privileged containers are refused"),
            ({"network": "host"}, "the host network is refused"),
            ({"network_mode": "host"}, "the host network is refused"),
            ({"network": "bridge", "network_mode": "host"}, "disagree"),
            ({"volumes": ["/:/host"]}, "it is the host's root"),
            ({"volumes": ["/srv/../:/host:ro"]}, "it is the host's root"),
            ({"volumes": ["/var/run/docker.sock:/var/run/docker.sock"]}, "engine socket"),
            ({"volumes": ["/run:/r"]}, "engine socket /run/docker.sock"),
        ],
    )
    async def test_dangerous_options_are_refused_and_nothing_is_created(
        self, url: str, engine: Any, arguments: dict[str, Any], reason: str
    ) -> None:
        """The error names the reason and no container appears."""
        async with connected(url) as client:
            message = await error(client, "run_container", image=IMAGE, **arguments)
        assert reason in message
        assert [] == engine.containers.list(all=True)

    @pytest.mark.anyio
    async def test_the_engines_own_socket_cannot_be_mounted(self, url: str) -> None:
        """The socket from the engine URL is guarded, wherever it lives."""
        socket = url.removeprefix("unix://")
        async with connected(url) as client:
            message = await error(client, "run_container", image=IMAGE, volumes=[f"{socket}:/s"])
        assert f"it exposes the engine socket {socket}" in message

    def test_named_volumes_and_project_paths_are_allowed(self) -> None:
        """Ordinary mounts and networks pass; a malformed mount is named."""
        assert [] == refusals(network="bridge", volumes=["data:/data", "/srv/app:/app:ro"])
        assert ["volume '/data' is not 'source:target[:mode]'"] == refusals(volumes=["/data"])

    @pytest.mark.anyio
    async def test_assess_reports_the_refusals_as_validation_errors(self) -> None:
        """The gate sees the same refusals before the call reaches the server."""
        server = hosted("unix:///nonexistent.sock")
        assert server.assess is not None
        context = await server.assess(
            "docker__run_container", {"image": IMAGE, "privileged": True, "network": "host"}
        )
        assert 2 == len(context["validation_errors"])
        assert {} == await server.assess("run_container", {"image": IMAGE})


class TestContainers:
    """The container tools against the engine."""

    @pytest.mark.anyio
    async def test_run_attached_returns_exit_code_and_output(self, url: str, engine: Any) -> None:
        """The default run waits, reports the exit and the output, and isolates the network."""
        async with connected(url) as client:
            result = await call(
                client,
                "run_container",
                image=IMAGE,
                command="sh -c 'echo out; echo err >&2; exit 3'",
                name="attached-1",
                labels=TEST_LABEL,
            )
        assert 3 == result["exit_code"]
        assert "exited" == result["state"]
        assert "out\nerr\n" == result["logs"]
        container = engine.containers.get("attached-1")
        assert "none" == container.attrs["HostConfig"]["NetworkMode"]
        assert CREATED_BY.items() <= container.labels.items()
        assert "no-new-privileges" in container.attrs["HostConfig"]["SecurityOpt"]

    @pytest.mark.anyio
    async def test_run_with_remove_leaves_nothing_behind(self, url: str, engine: Any) -> None:
        """remove=True deletes the container once it has exited."""
        async with connected(url) as client:
            result = await call(
                client,
                "run_container",
                image=IMAGE,
                command=["true"],
                remove=True,
                labels=TEST_LABEL,
            )
        assert result["removed"] is True
        assert [] == engine.containers.list(all=True)

    @pytest.mark.anyio
    async def test_run_that_outlives_its_timeout_is_left_running(self, url: str) -> None:
        """An attached run stops waiting after `timeout` seconds and says so."""
        async with connected(url) as client:
            result = await call(
                client,
                "run_container",
                image=IMAGE,
                command="sleep 30",
                timeout=1,
                labels=TEST_LABEL,
            )
        assert result["timed_out"] is True
        assert result["running"] is True

    @pytest.mark.anyio
    async def test_run_of_an_image_not_on_the_engine_never_pulls(self, url: str) -> None:
        """A missing image is an error that says images are not pulled."""
        async with connected(url) as client:
            message = await error(client, "run_container", image="example.invalid/nothing:1")
        assert "never pulls images" in message

    @pytest.mark.anyio
    async def test_run_whose_start_fails_leaves_no_container(self, url: str, engine: Any) -> None:
        """A container that could not start is removed again."""
        async with connected(url) as client:
            message = await error(
                client, "run_container", image=IMAGE, command="/no/such/binary", labels=TEST_LABEL
            )
        assert "the engine refused" in message
        assert [] == engine.containers.list(all=True)

    @pytest.mark.anyio
    async def test_list_filters_by_label_name_and_state(self, url: str, engine: Any) -> None:
        """Running only by default; `all` adds exited ones; labels and names narrow the list."""
        run(engine, "sleep 30", name="listed-running")
        engine.containers.get(run(engine, "true", name="listed-exited").id).wait()
        async with connected(url) as client:
            running = await call(client, "list_containers", labels=LABELS)
            everything = await call(client, "list_containers", all=True, labels=LABELS)
            by_name = await call(client, "list_containers", all=True, name="exited")
            other = await call(client, "list_containers", all=True, labels=["nobody=here"])
            limited = await call(client, "list_containers", all=True, limit=1)
        assert ["listed-running"] == [c["name"] for c in running["containers"]]
        assert {"listed-running", "listed-exited"} == {c["name"] for c in everything["containers"]}
        assert ["listed-exited"] == [c["name"] for c in by_name["containers"]]
        assert 0 == other["count"]
        assert (1, 2, True) == (len(limited["containers"]), limited["count"], limited["truncated"])
        summary = running["containers"][0]
        assert {"id", "name", "image", "state", "status", "created", "labels"} == set(summary)
        assert 12 == len(summary["id"])

    @pytest.mark.anyio
    async def test_inspect_is_concise_and_hides_environment_values(
        self, url: str, engine: Any
    ) -> None:
        """Inspect gives state and configuration in a few hundred bytes, env by name only."""
        container = engine.containers.run(
            IMAGE,
            ["sleep", "30"],
            name="inspected",
            detach=True,
            network_mode="none",
            environment={"API_TOKEN": "s3cret-value"},
            labels=TEST_LABEL,
        )
        async with connected(url) as client:
            by_name = await call(client, "inspect_container", container="inspected")
            by_prefix = await call(client, "inspect_container", container=container.id[:8])
        assert by_name == by_prefix
        assert container.id == by_name["id"]
        assert ("inspected", "running", True) == (
            by_name["name"],
            by_name["state"],
            by_name["running"],
        )
        assert ["sleep", "30"] == by_name["command"]
        assert "API_TOKEN" in by_name["env_names"]
        assert "s3cret-value" not in json.dumps(by_name)
        assert len(json.dumps(by_name)) < 2000

    @pytest.mark.anyio
    async def test_unknown_container_is_a_clear_error(self, url: str) -> None:
        """The engine's own words come back for a missing container."""
        async with connected(url) as client:
            message = await error(client, "inspect_container", container="no-such-thing")
        assert "no-such-thing" in message

    @pytest.mark.anyio
    async def test_logs_keep_the_tail_within_the_byte_bound(self, url: str, engine: Any) -> None:
        """`tail` picks the last lines; more than 64 KiB is cut at a line start."""
        line = "x" * 99
        container = run(engine, f"yes {line} | head -n 1000; echo last", name="chatty")
        container.wait()
        async with connected(url) as client:
            short = await call(client, "container_logs", container="chatty", tail=2)
            long = await call(client, "container_logs", container="chatty", tail=1000)
        assert (f"{line}\nlast\n", False) == (short["logs"], short["truncated"])
        assert long["truncated"] is True
        assert len(long["logs"].encode()) <= MAX_LOG_BYTES
        assert long["logs"].startswith(line + "\n")
        assert long["logs"].endswith("last\n")

    @pytest.mark.anyio
    async def test_stop_start_restart_and_remove(self, url: str, engine: Any) -> None:
        """The lifecycle tools report the state they leave the container in."""
        run(engine, "sleep 60", name="cycled")
        async with connected(url) as client:
            stopped = await call(client, "stop_container", container="cycled", timeout=0)
            started = await call(client, "start_container", container="cycled")
            restarted = await call(client, "restart_container", container="cycled", timeout=0)
            refused = await error(client, "remove_container", container="cycled")
            removed = await call(client, "remove_container", container="cycled", force=True)
        assert (False, "exited", 137) == (
            stopped["running"],
            stopped["state"],
            stopped["exit_code"],
        )
        assert (True, "running", None) == (
            started["running"],
            started["state"],
            started["exit_code"],
        )
        assert restarted["running"] is True
        assert restarted["started_at"] != started["started_at"]
        assert "the engine refused" in refused
        assert "cycled" == removed["name"]
        assert [] == engine.containers.list(all=True)


class TestImages:
    """The image tools against the engine."""

    @pytest.mark.anyio
    async def test_list_and_inspect_images(self, url: str) -> None:
        """The imported busybox is listed, filterable and inspectable; unknown is an error."""
        async with connected(url) as client:
            listed = await call(client, "list_images")
            filtered = await call(client, "list_images", reference="nothing-like-this")
            details = await call(client, "inspect_image", image=IMAGE)
            missing = await error(client, "inspect_image", image="nothing-like-this")
        assert any(IMAGE in tag for image in listed["images"] for tag in image["tags"])
        assert 0 == filtered["count"]
        assert ("linux", details["id"][7:19]) == (details["os"], listed["images"][0]["id"])
        assert details["size"] > 0
        assert "nothing-like-this" in missing


class TestAssess:
    """The gate's read-only look at a target before remove, stop or restart."""

    @pytest.mark.anyio
    async def test_a_shared_name_prefix_is_ambiguous(self, url: str, engine: Any) -> None:
        """A prefix two names share matches both; an exact name or ID prefix matches one."""
        first = run(engine, "sleep 30", name="shared-alpha")
        run(engine, "sleep 30", name="shared-beta")
        server = hosted(url)
        assert server.assess is not None
        try:
            shared = await server.assess("remove_container", {"container": "shared"})
            exact = await server.assess("docker__stop_container", {"container": "shared-alpha"})
            by_id = await server.assess("restart_container", {"container": first.id[:10]})
            nothing = await server.assess("stop_container", {"container": "zzz-none"})
            read = await server.assess("inspect_container", {"container": "shared"})
        finally:
            assert server.close is not None
            await server.close()
        assert {
            "matches": 2,
            "affected": 2,
            "candidates": ["shared-alpha", "shared-beta"],
        } == shared
        assert (1, 1, ["shared-alpha"]) == (
            exact["matches"],
            exact["affected"],
            exact["candidates"],
        )
        assert ["shared-alpha"] == by_id["candidates"]
        assert (0, 1) == (nothing["matches"], nothing["affected"])
        assert {} == read
