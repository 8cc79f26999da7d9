"""Run the Ansible collection in this repository: ansible-playbook, ansible-doc and
ansible-test from the venv, with ANSIBLE_COLLECTIONS_PATH at the repository root and
everything Ansible writes kept under the test's own directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import notion_client
import yaml

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "ansible_collections" / "devfactory" / "notion"
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
SPEC = ROOT / "examples" / "consulting" / "workspace.yaml"
BIN = Path(sys.executable).parent

_RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+"
    r"rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.MULTILINE,
)


@dataclass
class Run:
    """A finished ansible command."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def recap(self) -> dict[str, dict[str, int]]:
        """The PLAY RECAP counters by host (``changed=N`` and the others)."""
        _, _, tail = self.stdout.rpartition("PLAY RECAP")
        return {
            m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
            for m in _RECAP.finditer(tail)
        }

    def changed(self) -> dict[str, int]:
        """``changed=N`` of each host."""
        return {host: counts["changed"] for host, counts in self.recap().items()}

    def explain(self) -> str:
        """The end of the output, for assertion messages."""
        return f"$ {' '.join(self.args)}\n{self.stdout[-6000:]}\n{self.stderr[-3000:]}"


def ansible_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of an ansible command: no ANSIBLE_*, NOTION_* or DEVFACTORY_* from
    outside, the collection found in this repository, Ansible's files under ``workdir``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANSIBLE_", "NOTION_", "DEVFACTORY_"))
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=str(ROOT),
        ANSIBLE_HOME=str(workdir / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(workdir / "ansible-home" / "tmp"),
        ANSIBLE_REMOTE_TEMP=str(workdir / "ansible-home" / "remote-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_HOST_KEY_CHECKING="0",
        LC_ALL="C.UTF-8",
        LANG="C.UTF-8",
    )
    env.update(extra)
    return env


def run(args: list[str], workdir: Path, *, timeout: float = 300, **env: str) -> Run:
    """Run an ansible command in ``workdir`` (no ansible.cfg there)."""
    workdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        args,
        capture_output=True,
        text=True,
        cwd=workdir,
        env=ansible_env(workdir, **env),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Run(args, done.returncode, done.stdout, done.stderr)


def playbook(path: Path, inventory: Path, workdir: Path, *options: str, **env: str) -> Run:
    """ansible-playbook ``path`` with ``inventory``."""
    return run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(path), *options], workdir, **env
    )


def write_inventory(path: Path, hosts: dict[str, dict[str, Any]], **group_vars: Any) -> Path:
    """A YAML inventory with ``hosts`` in the group ``workspaces``, run on the controller."""
    data = {
        "all": {
            "children": {
                "workspaces": {
                    "vars": {
                        "ansible_connection": "local",
                        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                        **group_vars,
                    },
                    "hosts": hosts,
                }
            }
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def data_sources(base_url: str, token: str) -> list[dict[str, Any]]:
    """Every data source the token sees on a local server."""
    with notion_client.Client(auth=token, base_url=base_url, retry=False) as client:
        found: dict[str, Any] = client.search(filter={"property": "object", "value": "data_source"})
        return list(found["results"])
