"""Encrypted backups of deployed databases; :mod:`devfactory.deploy.restore` brings them back.

A backup holds, for each database the deploy state knows (or the ones asked for), the
database object, its data source (the schema) and every row with all its property values,
relations included — and never a token: only what Notion answers about the content.

The file is ``MAGIC | mode | salt | nonce | AES-256-GCM(zlib(JSON))`` with the 35-byte
header authenticated as associated data, so a changed byte anywhere fails to decrypt. The key
comes from ``DEVFACTORY_BACKUP_KEY``: base64 of 32 bytes is used as it is (mode 0); anything
else is a passphrase stretched with scrypt and the file's random salt (mode 1).
"""

from __future__ import annotations

import base64
import binascii
import os
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from devfactory.config import Settings
from devfactory.deploy.observe import plain
from devfactory.deploy.plan import Plan
from devfactory.deploy.state import State
from devfactory.errors import NotionError, UserError
from devfactory.notion.api import Idempotency, NotionAPI
from devfactory.notion.target import NotionSession

__all__ = [
    "BackupSummary",
    "Json",
    "answers",
    "backup_before_destroy",
    "backup_key",
    "backup_path",
    "decrypt",
    "encrypt",
    "read_backup",
    "save_backup",
    "summarize",
    "take_backup",
    "write_backup",
]

Json = dict[str, Any]
FORMAT = 1
MAGIC = b"DFBK1\n"
MODE_RAW, MODE_SCRYPT = 0, 1
SALT_BYTES, NONCE_BYTES, KEY_BYTES, TAG_BYTES = 16, 12, 32, 16
HEADER_BYTES = len(MAGIC) + 1 + SALT_BYTES + NONCE_BYTES
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
# A page object lists at most 25 items of a title, rich_text, people or relation value.
LISTED_AT_MOST = 25
MAX_ITEMS = 100  # items per array in a request
MAKE_KEY = 'python -c "import os,base64;print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
LINKED_TYPES = frozenset(["relation", "rollup", "formula"])
UNCREATABLE_TYPES = frozenset(["button", "verification", "location", "place", "last_visited_time"])


# ---------------------------------------------------------------------------- keys and files


def backup_key(settings: Settings) -> str:
    """The backup key from ``DEVFACTORY_BACKUP_KEY``; a :class:`UserError` when unset."""
    value = settings.backup_key.get_secret_value() if settings.backup_key is not None else ""
    if not value:
        raise UserError(
            "backups are encrypted and DEVFACTORY_BACKUP_KEY is not set: set it to a key "
            f"(make one with `{MAKE_KEY}`) or to a long passphrase, and keep it safe — "
            "a backup cannot be read without it"
        )
    return value


def _raw_key(key: str) -> bytes | None:
    """The 32 bytes a url-safe or standard base64 key stands for, or None (a passphrase)."""
    text = key.strip()
    try:
        # altchars maps "-_" onto "+/", so this reads both alphabets.
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == KEY_BYTES else None


def _scrypt(passphrase: str, salt: bytes) -> bytes:
    kdf = Scrypt(salt=salt, length=KEY_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(passphrase.encode())


def _cannot_decrypt(what: str) -> UserError:
    return UserError(f"cannot decrypt {what}: wrong DEVFACTORY_BACKUP_KEY or the file was changed")


def encrypt(data: Json, key: str) -> bytes:
    """The backup file's bytes for ``data``, encrypted with ``key`` (a raw key or a passphrase)."""
    raw = _raw_key(key)
    salt = os.urandom(SALT_BYTES)
    mode = MODE_RAW if raw is not None else MODE_SCRYPT
    secret = raw if raw is not None else _scrypt(key, salt)
    nonce = os.urandom(NONCE_BYTES)
    header = MAGIC + bytes([mode]) + salt + nonce
    plaintext = zlib.compress(orjson.dumps(data), 9)
    return header + AESGCM(secret).encrypt(nonce, plaintext, header)


def decrypt(blob: bytes, key: str, *, what: str = "the backup") -> Json:
    """The data in a backup file's bytes; a :class:`UserError` for a wrong key or a changed file."""
    if len(blob) < HEADER_BYTES + TAG_BYTES or not blob.startswith(MAGIC):
        raise UserError(f"{what} is not a devfactory backup (it does not start with DFBK1)")
    header = blob[:HEADER_BYTES]
    mode = header[len(MAGIC)]
    salt = header[len(MAGIC) + 1 : len(MAGIC) + 1 + SALT_BYTES]
    nonce = header[-NONCE_BYTES:]
    if mode == MODE_RAW:
        secret = _raw_key(key)
    elif mode == MODE_SCRYPT:
        secret = _scrypt(key, salt)
    else:
        secret = None
    if secret is None:
        raise _cannot_decrypt(what)
    try:
        plaintext = AESGCM(secret).decrypt(nonce, blob[HEADER_BYTES:], header)
    except InvalidTag as exc:
        raise _cannot_decrypt(what) from exc
    try:
        data = orjson.loads(zlib.decompress(plaintext))
    except (zlib.error, orjson.JSONDecodeError) as exc:
        raise UserError(f"{what} decrypts but holds no backup data ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise UserError(f"{what} has backup format {found!r}; this devfactory reads {FORMAT}")
    return data


def backup_path(home: Path, workspace: str, environment: str) -> Path:
    """A new file name under ``$DEVFACTORY_HOME/backups`` stamped with the UTC time."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = home / "backups"
    path = folder / f"{workspace}.{environment}.{stamp}.dfbak"
    counter = 1
    while path.exists():
        counter += 1
        path = folder / f"{workspace}.{environment}.{stamp}-{counter}.dfbak"
    return path


def save_backup(data: Json, key: str, path: Path) -> Path:
    """Encrypt ``data`` to ``path`` (mode 0600, replaced atomically)."""
    blob = encrypt(data, key)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o600)  # the umask cannot widen it, but an old tmp file could be wider
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write the backup to {path}: {exc}") from exc
    return path


def read_backup(path: Path, key: str) -> Json:
    """Read and decrypt a backup file."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return decrypt(blob, key, what=str(path))


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds of one database."""

    key: str
    title: str
    properties: int
    rows: int


def summarize(data: Json) -> list[BackupSummary]:
    """One line per database of a backup's data."""
    return [
        BackupSummary(
            key,
            plain(entry["database"].get("title")),
            len(entry["data_source"].get("properties", {})),
            len(entry["rows"]),
        )
        for key, entry in data["databases"].items()
    ]


# ---------------------------------------------------------------------------- backup


def _selected(state: State, databases: Sequence[str] | None) -> list[str]:
    if databases is None:
        keys = list(state.databases)
    else:
        unknown = [k for k in databases if k not in state.databases]
        if unknown:
            known = ", ".join(state.databases) or "none"
            raise UserError(
                f"no database {', '.join(map(repr, unknown))} in the state of "
                f"{state.workspace} ({state.environment}); known: {known}"
            )
        keys = list(dict.fromkeys(databases))
    if not keys:
        raise UserError(
            f"nothing to back up: the state of {state.workspace} ({state.environment}) "
            "knows no database yet"
        )
    return keys


def _gone(label: str, exc: NotionError) -> UserError:
    return UserError(
        f"cannot {label}: it is gone or not shared with the integration ({exc}); "
        "back up the others with --database"
    )


async def _read(api: NotionAPI, fn: Any, label: str) -> Json:
    try:
        answer = await api.call(fn, idempotency=Idempotency.SAFE, label=label)
    except NotionError as exc:
        if exc.status == 404:
            raise _gone(label, exc) from exc
        raise
    answer.pop("request_id", None)
    return answer


async def answers(
    api: NotionAPI, fn: Callable[..., Awaitable[Any]], label: str, **body: Any
) -> AsyncIterator[Json]:
    """Each answer of a paginated read; a page gone or not shared is a clear error."""
    try:
        async for answer in api.pages(fn, label, **body):
            answer.pop("request_id", None)
            yield answer
    except NotionError as exc:
        if exc.status == 404:
            raise _gone(label, exc) from exc
        raise


async def _property_items(
    session: NotionSession, api: NotionAPI, page_id: str, property_id: str, kind: str
) -> list[Any]:
    """Every item of a paginated property value (``GET /v1/pages/{id}/properties/{prop}``)."""
    fn = partial(session.client.pages.properties.retrieve, page_id, property_id)
    return [
        item[kind]
        async for answer in answers(api, fn, f"read {kind} of page {page_id}")
        for item in answer.get("results", [])
        if kind in item
    ]


async def _complete_row(session: NotionSession, api: NotionAPI, row: Json) -> None:
    """Replace the values a page object cuts short with their full, paginated lists."""
    for value in row.get("properties", {}).values():
        kind = value.get("type")
        items = value.get(kind)
        cut = (kind == "relation" and value.get("has_more")) or (
            kind in ("title", "rich_text", "people")
            and isinstance(items, list)
            and len(items) >= LISTED_AT_MOST
        )
        if cut:
            value[kind] = await _property_items(session, api, row["id"], value["id"], kind)
            if kind == "relation":
                value["has_more"] = False


async def _rows(
    session: NotionSession, api: NotionAPI, key: str, data_source_id: str
) -> list[Json]:
    rows: list[Json] = []
    fn = partial(session.client.data_sources.query, data_source_id)
    async for answer in answers(api, fn, f"read the rows of {key}"):
        if (answer.get("request_status") or {}).get("type") == "incomplete":
            raise UserError(
                f"cannot back up {key}: Notion stops a query at 10,000 rows, so the backup would "
                "be incomplete"
            )
        for row in answer.get("results", []):
            if row.get("object") == "page":
                await _complete_row(session, api, row)
                rows.append(row)
    return rows


async def take_backup(
    state: State,
    session: NotionSession,
    api: NotionAPI,
    *,
    databases: Sequence[str] | None = None,
) -> Json:
    """Read the schema and every row of the state's databases (or ``databases``) as data."""
    keys = _selected(state, databases)
    client = session.client
    out: dict[str, Json] = {}
    for key in keys:
        known = state.databases[key]
        database = await _read(
            api, partial(client.databases.retrieve, known.database_id), f"read database {key}"
        )
        data_source = await _read(
            api,
            partial(client.data_sources.retrieve, known.data_source_id),
            f"read the schema of {key}",
        )
        rows = await _rows(session, api, key, known.data_source_id)
        out[key] = {"database": database, "data_source": data_source, "rows": rows}
    return {
        "format": FORMAT,
        "workspace": state.workspace,
        "environment": state.environment,
        "target": state.target,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "databases": out,
    }


async def write_backup(
    state: State,
    session: NotionSession,
    api: NotionAPI,
    settings: Settings,
    *,
    databases: Sequence[str] | None = None,
    path: Path | None = None,
) -> Path:
    """Take a backup and write it encrypted (default: ``$DEVFACTORY_HOME/backups/…``)."""
    key = backup_key(settings)  # before reading anything: no key, no backup
    data = await take_backup(state, session, api, databases=databases)
    target = path or backup_path(settings.home, state.workspace, state.environment)
    return save_backup(data, key, target)


async def backup_before_destroy(
    plan: Plan, state: State, session: NotionSession, api: NotionAPI, settings: Settings
) -> list[str]:
    """Back up the databases the plan changes destructively; the files written."""
    wanted = {c.database for c in plan.destructive if c.database is not None}
    keys = [k for k in state.databases if k in wanted]
    if not keys:
        return []
    return [str(await write_backup(state, session, api, settings, databases=keys))]
