"""A real Docker Engine API for tests: Debian's podman serving it on a unix socket.

The Docker daemon does not run on our machines, but ``podman system service`` speaks the
Docker Engine API (v1.41) and the ``docker`` SDK works against it unchanged. No registry is
involved: the only image, ``local/busybox``, is a root filesystem built from Debian's
``busybox-static`` package and ``podman import``-ed.

This follows /work/shared/reference/docker-engine-for-tests.md exactly: a fresh directory
with the same two config files every time, always empty storage (mixing podman flags and
config files on one storage stalls for 20 s and breaks the graph driver), ``runc`` with
``cgroupfs``, lowered default ulimits, and teardown by the service's pid, ``podman system
reset -f`` and removing what the run wrote.

Nothing here installs packages: :func:`podman_missing` says what is absent and the fixture
skips (or fails under ``DEVFACTORY_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker  # type: ignore[import-untyped]

__all__ = ["IMAGE", "busybox_rootfs", "podman_engine", "podman_missing"]

IMAGE = "local/busybox"
"""The one image the engine holds (no registry to pull from)."""

_CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{base}/ptmp"
[network]
network_config_dir = "{base}/netcfg"
"""

_STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{base}/storage"
runroot = "{base}/run"
"""

# `podman import` leaves a blob-info cache here; removed afterwards unless it predates us.
_SYSTEM_CACHE = Path("/var/lib/containers")
_APT_ARCHIVES = Path("/var/cache/apt/archives")
_RUNC_STATE = Path("/run/runc")


def podman_missing() -> str | None:
    """Why the engine cannot start here (a missing tool), or None when it can."""
    for tool in ("podman", "runc", "apt-get", "dpkg"):
        if shutil.which(tool) is None:
            return (
                f"`{tool}` is not on PATH; apt-get install -y --no-install-recommends podman runc"
            )
    return None


def busybox_rootfs(cache: Path) -> Path:
    """A tar of a busybox root filesystem, built once into ``cache`` and reused.

    Every applet is linked next to the binary because podman's ``top`` runs ``ps`` inside
    the container.
    """
    archive = cache / "busybox-rootfs.tar"
    if archive.exists():
        return archive
    # A package apt already fetched (an offline machine) will do; else download it.
    cached = sorted(_APT_ARCHIVES.glob("busybox-static_*.deb"))
    if cached:
        shutil.copy2(cached[-1], cache)
    else:
        subprocess.run(
            ["apt-get", "download", "busybox-static"], cwd=cache, check=True, capture_output=True
        )
    (deb,) = cache.glob("busybox-static_*.deb")
    unpacked = cache / "deb"
    subprocess.run(["dpkg", "-x", str(deb), str(unpacked)], check=True, capture_output=True)
    rootfs = cache / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    for directory in ("tmp", "etc", "proc", "sys", "dev"):
        (rootfs / directory).mkdir()
    busybox = rootfs / "bin" / "busybox"
    shutil.copy2(unpacked / "bin" / "busybox", busybox)
    applets = subprocess.run(
        [str(busybox), "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for applet in applets:
        link = rootfs / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".")
    return archive


@contextlib.contextmanager
def podman_engine(base: Path, rootfs: Path) -> Iterator[str]:
    """Run a podman API service in the empty directory ``base``; yield its ``unix://`` URL.

    The engine holds :data:`IMAGE` (imported from ``rootfs``) and nothing else. On exit the
    service is stopped by its pid and its storage reset and removed.
    """
    env = _podman_env(base)
    cache_existed = _SYSTEM_CACHE.exists()
    runc_state_existed = _RUNC_STATE.exists()
    socket_path = base / "podman.sock"
    service: subprocess.Popen[bytes] | None = None
    try:
        with rootfs.open("rb") as tar:
            subprocess.run(
                ["podman", "import", "-q", "-", IMAGE],
                stdin=tar,
                env=env,
                check=True,
                capture_output=True,
                timeout=60,
            )
        log = (base / "service.log").open("wb")
        with log:
            service = subprocess.Popen(
                ["podman", "system", "service", "--time=0", f"unix://{socket_path}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base_url = f"unix://{socket_path}"
        _wait_for_ping(base_url, service, base / "service.log")
        yield base_url
    finally:
        if service is not None:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(timeout=10)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()
        subprocess.run(
            ["podman", "system", "reset", "-f"], env=env, capture_output=True, timeout=60
        )
        shutil.rmtree(base, ignore_errors=True)
        if not cache_existed:
            shutil.rmtree(_SYSTEM_CACHE, ignore_errors=True)
        if not runc_state_existed:
            with contextlib.suppress(OSError):  # runc's state root; left alone if in use
                _RUNC_STATE.rmdir()


def _podman_env(base: Path) -> dict[str, str]:
    """The environment every podman command of this engine runs with: our two config files."""
    for directory in ("ptmp", "netcfg", "storage", "run"):
        (base / directory).mkdir(parents=True, exist_ok=True)
    containers_conf = base / "containers.conf"
    storage_conf = base / "storage.conf"
    containers_conf.write_text(_CONTAINERS_CONF.format(base=base))
    storage_conf.write_text(_STORAGE_CONF.format(base=base))
    return {
        **os.environ,
        "CONTAINERS_CONF": str(containers_conf),
        "CONTAINERS_STORAGE_CONF": str(storage_conf),
    }


def _wait_for_ping(base_url: str, service: subprocess.Popen[bytes], log: Path) -> None:
    """Block until the engine answers ``/_ping`` (a few hundred ms), or raise with its log."""
    deadline = time.monotonic() + 30
    while True:
        if service.poll() is not None:
            raise RuntimeError(f"podman system service exited: {log.read_text()[-2000:]}")
        try:
            # A bare connect first: the SDK leaks its socket when the connect fails.
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.connect(base_url.removeprefix("unix://"))
            with docker.APIClient(base_url=base_url, version="1.41", timeout=2) as api:
                if api.ping():
                    return
        except (docker.errors.DockerException, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"podman system service never answered: {log.read_text()[-2000:]}")
        time.sleep(0.05)
