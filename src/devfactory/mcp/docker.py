"""``devfactory mcp docker``: containers and images through the Docker Engine API.

Ten tools over the ``docker`` SDK against ``DOCKER_HOST`` (or ``--host``): list, inspect,
logs, start, stop, restart, remove and run containers; list and inspect images. Results are
small JSON objects picked out of the engine's answers, never its raw dumps (one container
inspect is ~6 KB of mostly defaults; logs are cut to their last lines and bytes).

Safety defaults, on top of the gateway's policy (defence in depth):

- ``run_container`` gives the container no network unless asked (``network="none"``), sets
  ``no-new-privileges``, labels it ``devfactory.mcp=docker`` and never pulls: the image must
  already be on the engine.
- It refuses privileged containers, the host network, and bind mounts of the host root or of
  a directory that holds an engine socket: each hands the host over.
- ``inspect_container`` shows environment variable names, not values (they carry secrets).

The docker client is made on first use, so the server starts and lists its tools with no
engine; every call then answers ``no Docker engine reachable at <url>: <reason>``.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
import docker  # type: ignore[import-untyped]
import requests
import urllib3.exceptions
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from devfactory.mcp.hosted import HostedServer

__all__ = ["CREATED_BY", "DockerEngine", "build_server", "hosted", "refusals"]

DEFAULT_HOST = "unix:///var/run/docker.sock"
CREATED_BY = {"devfactory.mcp": "docker"}
"""The label every container started by ``run_container`` carries."""

MAX_LOG_LINES = 1000
MAX_LOG_BYTES = 64 * 1024
MAX_LISTED = 500
MAX_CANDIDATES = 10
_API_TIMEOUT = 30
_PROBE_TIMEOUT = 5
_ASSESS_TIMEOUT = 5
# Well-known engine sockets; the engine's own socket (from its URL) is added per engine.
_SOCKETS = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/podman/podman.sock",
    "/run/podman/podman.sock",
)
_TARGETED = frozenset({"stop_container", "restart_container", "remove_container"})

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_START = ToolAnnotations(destructive_hint=False, idempotent_hint=True, open_world_hint=False)
_STOP = ToolAnnotations(destructive_hint=True, idempotent_hint=True, open_world_hint=False)
_RESTART = ToolAnnotations(destructive_hint=True, idempotent_hint=False, open_world_hint=False)
_REMOVE = ToolAnnotations(destructive_hint=True, idempotent_hint=True, open_world_hint=False)
# A new container runs whatever its image holds: not destructive to what exists, but open.
_RUN = ToolAnnotations(destructive_hint=False, idempotent_hint=False, open_world_hint=True)

_T = TypeVar("_T")

Container = Annotated[str, Field(min_length=1, description="Container name or ID (prefix).")]
StopTimeout = Annotated[
    int, Field(ge=0, le=300, description="Seconds to wait for a clean exit before SIGKILL.")
]


class DockerEngine:
    """The engine at one URL, through one docker client made on first use.

    Creating ``docker.DockerClient`` already talks to the engine (API version detection), so
    it waits for the first call; a failed attempt is not cached and the next call retries.
    Every engine failure comes out of :meth:`call` as a ``ToolError`` the model can read.
    """

    def __init__(self, base_url: str | None = None) -> None:
        self.url = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        self._from_env = base_url is None
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def socket_path(self) -> str | None:
        """The engine's unix socket on this host, when its URL names one."""
        if self.url.startswith("unix://"):
            return self.url.removeprefix("unix://") or None
        return None

    def call(self, operation: Callable[[Any], _T]) -> _T:
        """``operation(client)``, with the engine's failures translated for the model."""
        try:
            return operation(self._connected())
        except docker.errors.NotFound as exc:
            raise ToolError(_explain(exc)) from exc
        except docker.errors.APIError as exc:
            raise ToolError(f"the engine refused: {_explain(exc)}") from exc
        except requests.exceptions.RequestException as exc:
            if _timed_out(exc):
                raise ToolError(f"the engine at {self.url} did not answer in time") from exc
            raise ToolError(self._unreachable(exc)) from exc
        except docker.errors.DockerException as exc:
            raise ToolError(str(exc)) from exc

    def close(self) -> None:
        """Close the client's connections, if it was ever made."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _connected(self) -> Any:
        with self._lock:
            if self._client is None:
                # Without --host, DOCKER_HOST and the DOCKER_TLS_* variables apply as in the CLI.
                kwargs = docker.utils.kwargs_from_env() if self._from_env else {}
                kwargs.setdefault("base_url", self.url)
                try:
                    self._probe()
                    self._client = docker.DockerClient(timeout=_API_TIMEOUT, **kwargs)
                except (docker.errors.DockerException, OSError) as exc:
                    raise ToolError(self._unreachable(exc)) from exc
            return self._client

    def _probe(self) -> None:
        """Connect to a unix socket once and close it; raise ``OSError`` when nobody listens.

        The SDK's unix connection leaks its socket when ``connect`` fails (an unclosed-socket
        ResourceWarning per attempt), so the common no-engine case is caught here first.
        """
        if self.socket_path is None:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(_PROBE_TIMEOUT)
            probe.connect(self.socket_path)

    def _unreachable(self, exc: BaseException) -> str:
        return f"no Docker engine reachable at {self.url}: {_reason(exc)}"


def refusals(
    *,
    network: str = "none",
    volumes: Sequence[str] = (),
    privileged: bool = False,
    engine_socket: str | None = None,
) -> list[str]:
    """Why ``run_container`` must not run with these options (empty when it may).

    The gateway policy denies the same options; this holds when the server runs alone.
    ``engine_socket`` is the engine's unix socket when it runs on this host: that socket is
    guarded too, and host paths are also checked with their symlinks resolved.
    """
    reasons = []
    if privileged:
        reasons.append("privileged containers are refused: a privileged container owns the host")
    if network.strip().lower() == "host":
        reasons.append("the host network is refused: it exposes the host's ports and services")
    sockets = [*_SOCKETS, *([engine_socket] if engine_socket else [])]
    for volume in volumes:
        source, _, target = volume.partition(":")
        if not target:
            reasons.append(f"volume {volume!r} is not 'source:target[:mode]'")
        elif source.startswith("/"):
            paths = {posixpath.normpath(source)}
            if engine_socket:
                paths.add(os.path.realpath(source))
            if why := next(filter(None, (_dangerous_source(p, sockets) for p in paths)), None):
                reasons.append(f"mounting {source!r} is refused: {why}")
    return reasons


def build_server(engine: DockerEngine) -> MCPServer:
    """The MCP server with the ten tools, all going through ``engine``."""
    server = MCPServer(
        "docker",
        instructions=(
            f"Containers and images on the Docker engine at {engine.url}. New containers get "
            "no network unless asked, and images are never pulled."
        ),
    )

    @server.tool(annotations=_READ)
    def list_containers(
        all: Annotated[bool, Field(description="Include stopped containers.")] = False,
        labels: Annotated[
            list[str] | None,
            Field(description="Label filters, `key` or `key=value`; all must hold."),
        ] = None,
        name: Annotated[str | None, Field(description="Only names containing this.")] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LISTED)] = 100,
    ) -> dict[str, Any]:
        """List containers (running only unless `all`): id, name, image, state, labels."""
        filters: dict[str, Any] = {"label": labels or []}
        if name:
            filters["name"] = name
        rows = engine.call(lambda c: c.api.containers(all=all, filters=filters))
        return _listed("containers", [_container_summary(row) for row in rows], limit)

    @server.tool(annotations=_READ)
    def inspect_container(container: Container) -> dict[str, Any]:
        """One container's state, command, image, mounts, networks and labels.

        Environment variables are given by name only: their values often hold secrets.
        """
        return _container_details(engine.call(lambda c: c.api.inspect_container(container)))

    @server.tool(annotations=_READ)
    def container_logs(
        container: Container,
        tail: Annotated[int, Field(ge=1, le=MAX_LOG_LINES, description="Last N lines.")] = 100,
        timestamps: bool = False,
    ) -> dict[str, Any]:
        """The last lines of a container's output (stdout and stderr), at most 64 KiB."""
        raw = engine.call(
            lambda c: c.api.logs(
                container, stdout=True, stderr=True, tail=tail, timestamps=timestamps
            )
        )
        return {"container": container, **_bounded_logs(raw)}

    @server.tool(annotations=_START)
    def start_container(container: Container) -> dict[str, Any]:
        """Start a stopped container; starting a running one changes nothing."""
        return engine.call(lambda c: _after(c, container, c.api.start))

    @server.tool(annotations=_STOP)
    def stop_container(container: Container, timeout: StopTimeout = 10) -> dict[str, Any]:
        """Stop a running container: SIGTERM, then SIGKILL after `timeout` seconds."""
        return engine.call(lambda c: _after(c, container, lambda ref: c.api.stop(ref, timeout)))

    @server.tool(annotations=_RESTART)
    def restart_container(container: Container, timeout: StopTimeout = 10) -> dict[str, Any]:
        """Stop (as stop_container does) and start a container again."""
        return engine.call(lambda c: _after(c, container, lambda ref: c.api.restart(ref, timeout)))

    @server.tool(annotations=_REMOVE)
    def remove_container(
        container: Container,
        force: Annotated[bool, Field(description="Kill it first if it is running.")] = False,
    ) -> dict[str, Any]:
        """Delete a container and its writable layer; this cannot be undone."""

        def remove(client: Any) -> dict[str, Any]:
            raw = client.api.inspect_container(container)
            client.api.remove_container(raw["Id"], force=force)
            return {"removed": raw["Id"][:12], "name": _name(raw)}

        return engine.call(remove)

    @server.tool(annotations=_RUN)
    def run_container(
        image: Annotated[str, Field(min_length=1, description="An image on the engine.")],
        command: Annotated[
            str | list[str] | None, Field(description="Overrides the image's command.")
        ] = None,
        name: str | None = None,
        env: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        detach: Annotated[
            bool, Field(description="Return once started instead of waiting for the exit.")
        ] = False,
        network: Annotated[
            str, Field(description="Docker network mode: none (default), bridge or a network.")
        ] = "none",
        network_mode: Annotated[
            str | None, Field(description="The same as `network` (the Docker SDK's name).")
        ] = None,
        volumes: Annotated[
            list[str] | None, Field(description="Mounts as `source:target[:ro|rw]`.")
        ] = None,
        privileged: Annotated[bool, Field(description="Always refused.")] = False,
        remove: Annotated[bool, Field(description="Delete it once it has exited.")] = False,
        timeout: Annotated[
            int, Field(ge=1, le=300, description="Seconds to wait for the exit (not detached).")
        ] = 60,
    ) -> dict[str, Any]:
        """Create and start a container from a local image (never pulled).

        Attached (the default), wait up to `timeout` seconds and return the exit code and the
        output's tail; a container still running then is left running. Detached, return at
        once. Refused: privileged, the host network, mounts of `/` or an engine socket.
        """
        mode = _network_mode(network, network_mode)
        mounts = volumes or []
        refused = refusals(
            network=mode, volumes=mounts, privileged=privileged, engine_socket=engine.socket_path
        )
        if refused:
            raise ToolError("refused: " + "; ".join(refused))
        options: dict[str, Any] = {
            "command": command,
            "name": name,
            "environment": env,
            "labels": {**(labels or {}), **CREATED_BY},
            "network_mode": mode,
            "volumes": mounts,
        }
        return engine.call(lambda c: _run(c, image, options, detach, remove, timeout))

    @server.tool(annotations=_READ)
    def list_images(
        reference: Annotated[
            str | None, Field(description="Only images matching this name, e.g. `busybox`.")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LISTED)] = 100,
    ) -> dict[str, Any]:
        """List the images on the engine: id, tags, size, created."""
        rows = engine.call(lambda c: c.api.images(name=reference))
        return _listed("images", [_image_summary(row) for row in rows], limit)

    @server.tool(annotations=_READ)
    def inspect_image(
        image: Annotated[str, Field(min_length=1, description="Image name, tag or ID.")],
    ) -> dict[str, Any]:
        """One image's tags, size, platform and default command, environment and labels."""
        return _image_details(engine.call(lambda c: c.api.inspect_image(image)))

    return server


def hosted(base_url: str | None = None) -> HostedServer:
    """The Docker server for the gateway or stdio: no engine contact until the first call."""
    engine = DockerEngine(base_url)

    async def assess(tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        return await _assess(engine, tool, arguments)

    async def close() -> None:
        engine.close()

    return HostedServer(name="docker", server=build_server(engine), assess=assess, close=close)


# --- the gate's view ----------------------------------------------------------------------


async def _assess(engine: DockerEngine, tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Read-only gate context: how many containers a target names; what a run would refuse."""
    tool = tool.rpartition("__")[2]  # the gateway's `docker__stop_container` as well
    if tool == "run_container":
        return _run_context(engine, arguments)
    target = arguments.get("container")
    if tool not in _TARGETED or not isinstance(target, str) or not target:
        return {}
    rows = None
    # No engine (ToolError) or a hung one: add nothing; the call itself will say what is wrong.
    with anyio.move_on_after(_ASSESS_TIMEOUT), contextlib.suppress(ToolError):
        rows = await anyio.to_thread.run_sync(
            lambda: engine.call(lambda c: c.api.containers(all=True)), abandon_on_cancel=True
        )
    if rows is None:
        return {}
    names = _matching(rows, target)
    return {
        "matches": len(names),
        "affected": len(names) if len(names) > 1 else 1,
        "candidates": names[:MAX_CANDIDATES],
    }


def _run_context(engine: DockerEngine, arguments: Mapping[str, Any]) -> dict[str, Any]:
    network = arguments.get("network_mode") or arguments.get("network") or "none"
    volumes = arguments.get("volumes") or []
    errors = refusals(
        network=network if isinstance(network, str) else "none",
        volumes=[v for v in volumes if isinstance(v, str)] if isinstance(volumes, list) else [],
        privileged=arguments.get("privileged") is True,
        engine_socket=engine.socket_path,
    )
    return {"validation_errors": errors} if errors else {}


def _matching(rows: Sequence[Mapping[str, Any]], target: str) -> list[str]:
    """Names of the containers ``target`` may mean, as the engine resolves it.

    An exact name or full ID is one container (the engine takes it over any prefix);
    otherwise every container whose ID or name starts with ``target`` is a candidate.
    """
    exact = [r for r in rows if target in (r["Id"], *_names(r))]
    hits = exact or [
        r
        for r in rows
        if r["Id"].startswith(target) or any(n.startswith(target) for n in _names(r))
    ]
    return sorted(_names(r)[0] if _names(r) else r["Id"][:12] for r in hits)


# --- operations -----------------------------------------------------------------------------


def _network_mode(network: str, network_mode: str | None) -> str:
    """The one network mode asked for under either name; two different ones are an error."""
    if network_mode is None or network_mode == network:
        return network
    if network != "none":
        raise ToolError(f"network {network!r} and network_mode {network_mode!r} disagree")
    return network_mode


def _after(client: Any, container: str, action: Callable[[str], object]) -> dict[str, Any]:
    """Apply ``action`` to the container, then report its state."""
    action(container)
    return _state(client.api.inspect_container(container))


def _create(client: Any, image: str, options: Mapping[str, Any]) -> dict[str, Any]:
    host_config = client.api.create_host_config(
        network_mode=options["network_mode"],
        binds=options["volumes"],
        security_opt=["no-new-privileges"],
    )
    created: dict[str, Any] = client.api.create_container(
        image,
        command=options["command"],
        name=options["name"],
        environment=options["environment"],
        labels=options["labels"],
        host_config=host_config,
    )
    return created


def _run(
    client: Any, image: str, options: Mapping[str, Any], detach: bool, remove: bool, timeout: int
) -> dict[str, Any]:
    try:
        created = _create(client, image, options)
    except docker.errors.ImageNotFound as exc:
        raise ToolError(f"{_explain(exc)} (this server never pulls images)") from exc
    ref = created["Id"]
    try:
        client.api.start(ref)
    except docker.errors.APIError:
        client.api.remove_container(ref, force=True)  # a container that never ran is debris
        raise
    if detach:
        return _state(client.api.inspect_container(ref))
    try:
        exit_code = client.api.wait(ref, timeout=timeout)["StatusCode"]
    except requests.exceptions.RequestException as exc:
        if not _timed_out(exc):
            raise
        state = _state(client.api.inspect_container(ref))
        logs = client.api.logs(ref, tail=MAX_LOG_LINES)
        return {**state, "timed_out": True, **_bounded_logs(logs)}
    state = _state(client.api.inspect_container(ref))
    logs = client.api.logs(ref, tail=MAX_LOG_LINES)
    result = {**state, "exit_code": exit_code, **_bounded_logs(logs)}
    if remove:
        client.api.remove_container(ref, force=True)
        result["removed"] = True
    return result


# --- concise views of the engine's answers ----------------------------------------------------


def _listed(key: str, items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {key: items[:limit], "count": len(items), "truncated": len(items) > limit}


def _container_summary(raw: Mapping[str, Any]) -> dict[str, Any]:
    names = _names(raw)
    return {
        "id": raw["Id"][:12],
        "name": names[0] if names else None,
        "image": raw.get("Image"),
        "state": raw.get("State"),
        "status": raw.get("Status"),
        "created": _iso(raw.get("Created")),
        "labels": raw.get("Labels") or {},
    }


def _container_details(raw: Mapping[str, Any]) -> dict[str, Any]:
    config = raw.get("Config") or {}
    host = raw.get("HostConfig") or {}
    settings = raw.get("NetworkSettings") or {}
    return {
        **_state(raw),
        "id": raw["Id"],
        "image": config.get("Image"),
        "image_id": raw.get("Image"),
        "created": raw.get("Created"),
        "command": [raw.get("Path") or "", *(raw.get("Args") or [])],
        "working_dir": config.get("WorkingDir") or None,
        "user": config.get("User") or None,
        "env_names": [item.partition("=")[0] for item in config.get("Env") or []],
        "labels": config.get("Labels") or {},
        "network_mode": host.get("NetworkMode"),
        "networks": {
            net: (info or {}).get("IPAddress") or None
            for net, info in (settings.get("Networks") or {}).items()
        },
        "ports": {
            port: [f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}" for b in bindings or []]
            for port, bindings in (settings.get("Ports") or {}).items()
        },
        "mounts": [
            {
                "type": m.get("Type"),
                "source": m.get("Source") or m.get("Name"),
                "target": m.get("Destination"),
                "read_only": not m.get("RW", True),
            }
            for m in raw.get("Mounts") or []
        ],
        "privileged": bool(host.get("Privileged")),
        "restart_policy": (host.get("RestartPolicy") or {}).get("Name") or None,
        "restart_count": raw.get("RestartCount", 0),
    }


def _state(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Who a container is and how it is doing, from an inspect."""
    state = raw.get("State") or {}
    view: dict[str, Any] = {
        "id": raw["Id"][:12],
        "name": _name(raw),
        "state": state.get("Status"),
        "running": bool(state.get("Running")),
        "exit_code": None if state.get("Running") else state.get("ExitCode"),
        "started_at": _when(state.get("StartedAt")),
        "finished_at": _when(state.get("FinishedAt")),
    }
    if state.get("Error"):
        view["error"] = state["Error"]
    if state.get("OOMKilled"):
        view["oom_killed"] = True
    if (state.get("Health") or {}).get("Status"):
        view["health"] = state["Health"]["Status"]
    return view


def _image_summary(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": _short_image_id(raw["Id"]),
        "tags": [t for t in raw.get("RepoTags") or [] if t != "<none>:<none>"],
        "size": raw.get("Size"),
        "created": _iso(raw.get("Created")),
    }


def _image_details(raw: Mapping[str, Any]) -> dict[str, Any]:
    config = raw.get("Config") or {}
    return {
        "id": raw["Id"],
        "tags": raw.get("RepoTags") or [],
        "digests": raw.get("RepoDigests") or [],
        "created": raw.get("Created"),
        "size": raw.get("Size"),
        "architecture": raw.get("Architecture"),
        "os": raw.get("Os"),
        "cmd": config.get("Cmd"),
        "entrypoint": config.get("Entrypoint"),
        "working_dir": config.get("WorkingDir") or None,
        "user": config.get("User") or None,
        "env": config.get("Env") or [],
        "exposed_ports": sorted(config.get("ExposedPorts") or {}),
        "labels": config.get("Labels") or {},
    }


def _bounded_logs(raw: bytes) -> dict[str, Any]:
    """Log bytes as text, keeping only the last ``MAX_LOG_BYTES`` (cut at a line start)."""
    truncated = len(raw) > MAX_LOG_BYTES
    if truncated:
        raw = raw[-MAX_LOG_BYTES:]
        newline = raw.find(b"\n")
        if 0 <= newline < len(raw) - 1:  # drop the partial first line, unless it is all
            raw = raw[newline + 1 :]
    return {"logs": raw.decode("utf-8", errors="replace"), "truncated": truncated}


def _names(raw: Mapping[str, Any]) -> list[str]:
    return [n.lstrip("/") for n in raw.get("Names") or []]


def _name(raw: Mapping[str, Any]) -> str:
    return str(raw.get("Name") or "").lstrip("/")


def _short_image_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _iso(epoch: object) -> str | None:
    if not isinstance(epoch, int | float):
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _when(stamp: object) -> str | None:
    """An engine timestamp, or None for Go's zero time ("never")."""
    return stamp if isinstance(stamp, str) and not stamp.startswith("0001-") else None


# --- refusals and errors -----------------------------------------------------------------------------------


def _dangerous_source(path: str, sockets: Sequence[str]) -> str | None:
    """Why mounting the normalised host ``path`` gives the host away, or None."""
    if path in ("/", "//"):
        return "it is the host's root"
    for engine_socket in sockets:
        if engine_socket == path or engine_socket.startswith(path.rstrip("/") + "/"):
            return f"it exposes the engine socket {engine_socket}"
    return None


def _explain(exc: Any) -> str:
    """The engine's own words for an API error (``explanation``), else the HTTP error."""
    return str(exc.explanation or exc)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps: causes, contexts and exceptions among its args."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        pending.extend(e for e in (*wrapped, *current.args) if isinstance(e, BaseException))


def _timed_out(exc: BaseException) -> bool:
    timeouts = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    return any(isinstance(e, timeouts) for e in _causes(exc))


def _reason(exc: BaseException) -> str:
    """The root cause in a few words ("No such file or directory"), not a wrapper's repr."""
    causes = list(_causes(exc))
    for cause in causes:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    return str(causes[-1]) or str(exc)
