"""Deploy state: what devfactory created, by logical key, per workspace and environment.

The state maps a spec's database keys to Notion ids — database, data source, and each
property's id — so renames are done in place by id and nothing is ever matched by name
alone once it is known. It also remembers the seed rows it wrote (title → page id and a
hash of the values), the root page it made, and the hash of the last applied spec.

Files live in ``$DEVFACTORY_HOME/state/<workspace>.<environment>.json``; every write keeps
the previous version as ``….json.backup`` and replaces the file atomically. A lock file
(``flock``, released by the kernel if the process dies) keeps two applies apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from devfactory.errors import PlanError, StateLockedError

__all__ = ["DatabaseState", "RowState", "State", "StateFile"]

STATE_VERSION = 1


@dataclass
class RowState:
    """A seed row devfactory wrote: its page and the hash of the values it last wrote."""

    page_id: str
    hash: str = ""


@dataclass
class DatabaseState:
    """One database: its ids, its properties' ids by spec name, its seed rows by title."""

    database_id: str
    data_source_id: str
    properties: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    icon: str | None = None
    rows: dict[str, RowState] = field(default_factory=dict)


@dataclass
class State:
    """Everything known about one workspace in one environment on one target."""

    workspace: str
    environment: str
    target: str
    serial: int = 0
    lineage: str = field(default_factory=lambda: str(uuid.uuid4()))
    root_page_id: str | None = None
    databases: dict[str, DatabaseState] = field(default_factory=dict)
    last_applied_hash: str | None = None
    updated: float = 0.0
    version: int = STATE_VERSION

    def to_json(self) -> dict[str, Any]:
        """The state as JSON (no secrets ever go in)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        """Read a state written by :meth:`to_json`."""
        databases = {
            key: DatabaseState(
                database_id=db["database_id"],
                data_source_id=db["data_source_id"],
                properties=dict(db.get("properties", {})),
                description=db.get("description"),
                icon=db.get("icon"),
                rows={title: RowState(**row) for title, row in db.get("rows", {}).items()},
            )
            for key, db in data.get("databases", {}).items()
        }
        return cls(
            workspace=data["workspace"],
            environment=data["environment"],
            target=data["target"],
            serial=int(data.get("serial", 0)),
            lineage=data.get("lineage", str(uuid.uuid4())),
            root_page_id=data.get("root_page_id"),
            databases=databases,
            last_applied_hash=data.get("last_applied_hash"),
            updated=float(data.get("updated", 0.0)),
            version=int(data.get("version", STATE_VERSION)),
        )

    def key_of_data_source(self, data_source_id: str) -> str | None:
        """The logical key of a data source id this state knows."""
        for key, db in self.databases.items():
            if db.data_source_id == data_source_id:
                return key
        return None


class StateFile:
    """The state of one workspace and environment on disk, with its lock."""

    def __init__(self, home: Path, workspace: str, environment: str) -> None:
        self.dir = home / "state"
        self.workspace = workspace
        self.environment = environment
        self.path = self.dir / f"{workspace}.{environment}.json"
        self.lock_path = self.dir / f"{workspace}.{environment}.lock"
        self._lock_handle: IO[str] | None = None

    def load(self, target: str) -> State:
        """The saved state, or a new empty one; a state made for another target is refused."""
        if not self.path.exists():
            # no lineage until first saved, so a plan made now still matches at apply time
            return State(
                workspace=self.workspace, environment=self.environment, target=target, lineage=""
            )
        try:
            data = json.loads(self.path.read_text())
            state = State.from_json(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PlanError(
                f"cannot read state {self.path}: {exc}; restore {self.path.name}.backup or move the file away"
            ) from exc
        if state.target != target:
            raise PlanError(
                f"state {self.path} belongs to target {state.target!r}, not {target!r}; "
                "deploy there, or use another DEVFACTORY_HOME for this target"
            )
        return state

    def save(self, state: State) -> None:
        """Write the state atomically, keeping the previous version as a backup."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if not state.lineage:
            state.lineage = str(uuid.uuid4())
        state.serial += 1
        state.updated = time.time()
        if self.path.exists():
            backup = self.path.with_name(self.path.name + ".backup")
            backup.write_bytes(self.path.read_bytes())
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state.to_json(), indent=2, sort_keys=True))
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(self.path)

    @contextlib.contextmanager
    def lock(self, operation: str) -> Iterator[None]:
        """Hold the state lock for ``operation`` (apply, import, restore)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        handle = self.lock_path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StateLockedError(
                f"the state of {self.workspace} ({self.environment}) is locked: {holder}. "
                "Wait for it to finish; if that process is gone, run `devfactory state unlock`."
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "operation": operation,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": time.time(),
                }
            )
        )
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock now, if anyone."""
        if not self.lock_path.exists():
            return None
        with self.lock_path.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                try:
                    info: dict[str, Any] = json.loads(handle.read() or "{}")
                except ValueError:
                    info = {}
                return info or {"operation": "unknown"}
            fcntl.flock(handle, fcntl.LOCK_UN)
        return None

    def unlock(self) -> bool:
        """Remove a leftover lock file; refused while a live process holds the lock."""
        holder = self.holder()
        if holder is not None:
            raise StateLockedError(
                f"the lock is held by a running process ({holder}); stop it instead of unlocking"
            )
        if not self.lock_path.exists():
            return False
        left = self.lock_path.read_text().strip()
        self.lock_path.unlink()
        return bool(left)
