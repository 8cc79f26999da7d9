"""Encrypted backups of deployed databases, and restoring them into an empty workspace.

A backup holds, for each database the deploy state knows (or the ones asked for), the
database object, its data source (the schema) and every row with all its property values,
relations included — and never a token: only what Notion answers about the content.

The file is ``MAGIC | mode | salt | nonce | AES-256-GCM(zlib(JSON))`` with the 35-byte
header authenticated as associated data, so a changed byte anywhere fails to decrypt. The key
comes from ``DEVFACTORY_BACKUP_KEY``: base64 of 32 bytes is used as it is (mode 0); anything
else is a passphrase stretched with scrypt and the file's random salt (mode 1).

Restoring only ever creates: a new page (or the ``--into`` page) gets new databases with the
same schemas, the rows with their writable values, then the relations, the rollups and
formulas over them, and finally the links between the new rows.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from devfactory.config import Settings
from devfactory.deploy.observe import find_database_under, find_root_page, plain
from devfactory.deploy.plan import Plan
from devfactory.deploy.state import State
from devfactory.errors import NotionError, TargetError, UserError
from devfactory.notion.api import NotionAPI
from devfactory.notion.target import NotionSession

__all__ = [
    "BackupSummary",
    "RestoreResult",
    "backup_before_destroy",
    "backup_key",
    "backup_path",
    "decrypt",
    "encrypt",
    "read_backup",
    "restore_backup",
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
PAGE_SIZE = 100
# A page object lists at most 25 items of a title, rich_text, people or relation value.
LISTED_AT_MOST = 25
MAX_ITEMS = 100  # items per array in a request
MAKE_KEY = 'python -c "import os,base64;print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
LINKED_TYPES = frozenset(["relation", "rollup", "formula"])
UNCREATABLE_TYPES = frozenset(["button", "verification", "location", "place", "last_visited_time"])
_TOKEN = re.compile(r"\{\{notion:block_property:([^:}]+):[^}]*\}\}")
_PROP = re.compile(r'prop\("((?:[^"\\]|\\.)*)"\)')


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


async def _read(api: NotionAPI, fn: Any, label: str) -> Json:
    try:
        answer = await api.call(fn, idempotent=True, label=label)
    except NotionError as exc:
        if exc.status == 404:
            raise UserError(
                f"cannot {label}: it is gone or not shared with the integration ({exc}); "
                "back up the others with --database"
            ) from exc
        raise
    answer.pop("request_id", None)
    return answer


async def _property_items(
    session: NotionSession, api: NotionAPI, page_id: str, property_id: str, kind: str
) -> list[Any]:
    """Every item of a paginated property value (``GET /v1/pages/{id}/properties/{prop}``)."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        query: Json = {"page_size": PAGE_SIZE}
        if cursor:
            query["start_cursor"] = cursor
        answer = await _read(
            api,
            partial(session.client.pages.properties.retrieve, page_id, property_id, **query),
            f"read {kind} of page {page_id}",
        )
        items += [i[kind] for i in answer.get("results", []) if kind in i]
        if not answer.get("has_more"):
            return items
        cursor = answer.get("next_cursor")


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
    cursor: str | None = None
    while True:
        body: Json = {"page_size": PAGE_SIZE}
        if cursor:
            body["start_cursor"] = cursor
        page = await _read(
            api,
            partial(session.client.data_sources.query, data_source_id, **body),
            f"read the rows of {key}",
        )
        if (page.get("request_status") or {}).get("type") == "incomplete":
            raise UserError(
                f"cannot back up {key}: Notion stops a query at 10,000 rows, so the backup would "
                "be incomplete"
            )
        for row in page.get("results", []):
            if row.get("object") == "page":
                await _complete_row(session, api, row)
                rows.append(row)
        if not page.get("has_more"):
            return rows
        cursor = page.get("next_cursor")


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


# ---------------------------------------------------------------------------- restore


@dataclass
class RestoreResult:
    """What a restore made: counts, the page it made them under, and old id -> new id."""

    page_id: str
    page_title: str | None = None
    databases: int = 0
    properties: int = 0
    rows: int = 0
    links: int = 0
    ids: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _rich_text(items: list[Json] | None) -> list[Json]:
    """Rich text as a request takes it; mentions (of things the target may not have) become
    their text."""
    out: list[Json] = []
    for item in (items or [])[:MAX_ITEMS]:
        kind = item.get("type")
        new: Json
        if kind == "equation":
            new = {"type": "equation", "equation": {"expression": item["equation"]["expression"]}}
        else:
            text = item.get("text") or {}
            content = text.get("content", item.get("plain_text", ""))
            body: Json = {"content": content}
            link = text.get("link")
            if kind == "text" and link and link.get("url"):
                body["link"] = {"url": link["url"]}
            new = {"type": "text", "text": body}
        if item.get("annotations"):
            new["annotations"] = item["annotations"]
        out.append(new)
    return out


def _file_url(obj: Json | None) -> str | None:
    if not obj:
        return None
    body = obj.get(obj.get("type", ""))
    url = body.get("url") if isinstance(body, dict) else None
    return str(url) if url else None


def _icon(icon: Json | None, *, cover: bool = False) -> Json | None:
    """An icon or cover as a request takes it; Notion-hosted files become external URLs."""
    if not icon:
        return None
    if icon.get("type") == "emoji" and not cover:
        return {"type": "emoji", "emoji": icon["emoji"]}
    url = _file_url(icon) if icon.get("type") in ("external", "file") else None
    return {"type": "external", "external": {"url": url}} if url else None


def _option(option: Json) -> Json:
    out: Json = {"name": option["name"]}
    if option.get("color"):
        out["color"] = option["color"]
    if option.get("description"):
        out["description"] = option["description"]
    return out


def _schema(prop: Json) -> Json:
    """The request config that creates a property like ``prop`` (not a relation, rollup or
    formula)."""
    kind = prop["type"]
    body = prop.get(kind) or {}
    config: Json = {}
    if kind == "number":
        config = {"format": body.get("format", "number")}
    elif kind in ("select", "multi_select", "status"):
        config = {"options": [_option(o) for o in body.get("options", [])]}
    elif kind == "unique_id" and body.get("prefix"):
        config = {"prefix": body["prefix"]}
    payload: Json = {kind: config}
    if prop.get("description"):
        payload["description"] = prop["description"]
    return payload


def _expression(expression: str, names_by_id: dict[str, str]) -> str:
    """Notion's ``{{notion:block_property:…}}`` tokens as ``prop("Name")``."""

    def name(match: re.Match[str]) -> str:
        found = names_by_id.get(match.group(1), match.group(1))
        return 'prop("' + found.replace("\\", "\\\\").replace('"', '\\"') + '")'

    return _TOKEN.sub(name, expression)


def _references(expression: str) -> set[str]:
    return {re.sub(r"\\(.)", r"\1", m.group(1)) for m in _PROP.finditer(expression)}


def _title(row: Json) -> str:
    return next(
        (
            plain(v.get("title"))
            for v in row.get("properties", {}).values()
            if v.get("type") == "title"
        ),
        "",
    )


@dataclass
class _Computed:
    """A rollup or formula waiting for the properties it needs."""

    key: str
    name: str
    payload: Json
    needs: set[tuple[str, str]]


class _Restorer:
    """Recreates a backup's databases step by step; every call goes through ``api``."""

    def __init__(self, data: Json, session: NotionSession, api: NotionAPI) -> None:
        self.data = data
        self.entries: dict[str, Json] = data["databases"]
        self.session = session
        self.client = session.client
        self.api = api
        self.result = RestoreResult(page_id="")
        self.data_sources: dict[str, str] = {}  # key -> new data source id
        self.key_of: dict[str, str] = {  # old data source id -> key
            entry["data_source"]["id"]: key for key, entry in self.entries.items()
        }
        self.made: set[tuple[str, str]] = set()  # (key, property name) that exist now
        self.owned: dict[str, list[str]] = {}  # relations whose values are written from key
        self.users: set[str] | None = None
        self.dropped_people = 0

    async def run(self, into_page_id: str | None) -> RestoreResult:
        self.result.page_id = into_page_id or await self._make_root_page()
        if into_page_id is not None:
            await self._check_parent(into_page_id)
        for key, entry in self.entries.items():
            await self._create_database(key, entry)
        for key, entry in self.entries.items():
            await self._create_rows(key, entry)
        await self._create_relations()
        await self._create_computed()
        await self._link_rows()
        if self.dropped_people:
            self.result.warnings.append(
                f"{self.dropped_people} people values name users this workspace does not have; left out"
            )
        return self.result

    async def _call(self, fn: Any, label: str, *, lookup: Any = None, create: bool = False) -> Json:
        return await self.api.call(fn, idempotent=not create, lookup=lookup, label=label)

    async def _make_root_page(self) -> str:
        if not self.session.target.creates_root_pages:
            raise TargetError(
                "this target cannot make workspace-level pages: give --into PAGE_ID, a page "
                "shared with the integration, to restore under"
            )
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        title = f"{self.data.get('workspace', 'devfactory')} (restored {stamp})"
        page = await self._call(
            partial(
                self.client.pages.create,
                parent={"type": "workspace", "workspace": True},
                properties={"title": {"title": [{"type": "text", "text": {"content": title}}]}},
            ),
            "create the restore page",
            lookup=partial(find_root_page, self.api, self.session, title),
            create=True,
        )
        self.result.page_title = title
        return str(page["id"])

    async def _check_parent(self, page_id: str) -> None:
        try:
            page = await self._call(partial(self.client.pages.retrieve, page_id), "read --into")
        except NotionError as exc:
            raise TargetError(
                f"--into {page_id}: no such page, or it is not shared with the integration ({exc})"
            ) from exc
        self.result.page_title = plain(
            next(
                (
                    v.get("title")
                    for v in page.get("properties", {}).values()
                    if v.get("type") == "title"
                ),
                None,
            )
        )

    async def _create_database(self, key: str, entry: Json) -> None:
        database, schema = entry["database"], entry["data_source"]["properties"]
        properties: Json = {}
        for name, prop in schema.items():
            if prop["type"] in UNCREATABLE_TYPES:
                self.result.warnings.append(
                    f"{key}.{name}: {prop['type']} properties cannot be made through the API; left out"
                )
            elif prop["type"] not in LINKED_TYPES:
                properties[name] = _schema(prop)
        parent = self.result.page_id
        title = _rich_text(database.get("title"))
        body: Json = {
            "parent": {"type": "page_id", "page_id": parent},
            "title": title,
            "is_inline": bool(database.get("is_inline", False)),
            "initial_data_source": {"properties": properties},
        }
        if database.get("description"):
            body["description"] = _rich_text(database["description"])
        for field_name in ("icon", "cover"):
            value = _icon(database.get(field_name), cover=field_name == "cover")
            if value is not None:
                body[field_name] = value
        claimed = set(self.result.ids.values())
        made = await self._call(
            partial(self.client.databases.create, **body),
            f"create database {key}",
            lookup=partial(
                find_database_under, self.api, self.session, parent, plain(title), claimed
            ),
            create=True,
        )
        data_source_id = str((made.get("data_sources") or [{}])[0].get("id", ""))
        self.result.ids[database["id"]] = str(made["id"])
        self.result.ids[entry["data_source"]["id"]] = data_source_id
        self.data_sources[key] = data_source_id
        self.made.update((key, name) for name in properties)
        self.result.databases += 1
        self.result.properties += len(properties)
        source_title = entry["data_source"].get("title")
        if source_title and plain(source_title) != plain(database.get("title")):
            await self._call(
                partial(
                    self.client.data_sources.update, data_source_id, title=_rich_text(source_title)
                ),
                f"name the data source of {key}",
            )

    async def _known_users(self) -> set[str]:
        if self.users is None:
            self.users = set()
            cursor: str | None = None
            try:
                while True:
                    query: Json = {"page_size": PAGE_SIZE}
                    if cursor:
                        query["start_cursor"] = cursor
                    page = await self._call(partial(self.client.users.list, **query), "list users")
                    self.users.update(str(u["id"]) for u in page.get("results", []))
                    if not page.get("has_more"):
                        break
                    cursor = page.get("next_cursor")
            except NotionError as exc:  # no user capability: no people can be kept
                if exc.status != 403:
                    raise
        return self.users

    async def _value(self, value: Json) -> Json | None:
        """The request value that writes ``value`` again, or None to leave it out."""
        kind = value.get("type", "")
        item = value.get(kind)
        if kind in ("title", "rich_text"):
            return {kind: _rich_text(item)} if item else None
        if kind in ("number", "url", "email", "phone_number"):
            return None if item is None else {kind: item}
        if kind == "checkbox":
            return {kind: bool(item)}
        if kind in ("select", "status"):
            return {kind: {"name": item["name"]}} if item else None
        if kind == "multi_select":
            return {kind: [{"name": o["name"]} for o in item]} if item else None
        if kind == "date":
            if not item:
                return None
            date: Json = {"start": item["start"], "end": item.get("end")}
            if item.get("time_zone"):
                date["time_zone"] = item["time_zone"]
            return {kind: date}
        if kind == "people" and item:
            users = await self._known_users()
            kept = [{"id": p["id"]} for p in item if p.get("id") in users]
            self.dropped_people += len(item) - len(kept)
            return {kind: kept[:MAX_ITEMS]} if kept else None
        if kind == "files" and item:
            files = [
                {
                    "name": (f.get("name") or url.rsplit("/", 1)[-1] or "file")[:100],
                    "type": "external",
                    "external": {"url": url},
                }
                for f in item
                if (url := _file_url(f))
            ]
            return {kind: files[:MAX_ITEMS]} if files else None
        return None  # computed, relation (linked later), or empty

    async def _find_row(self, data_source_id: str, title: str) -> Json | None:
        """A row with this title that no earlier create of this restore claimed."""
        claimed = set(self.result.ids.values())
        condition = {"equals": title} if title else {"is_empty": True}
        cursor: str | None = None
        while True:
            body: Json = {
                "filter": {"property": "title", "title": condition},
                "page_size": PAGE_SIZE,
            }
            if cursor:
                body["start_cursor"] = cursor
            page = await self._call(
                partial(self.client.data_sources.query, data_source_id, **body),
                "find a restored row",
            )
            for row in page.get("results", []):
                if row["id"] not in claimed:
                    return dict(row)
            if not page.get("has_more"):
                return None
            cursor = page.get("next_cursor")

    async def _create_rows(self, key: str, entry: Json) -> None:
        data_source_id = self.data_sources[key]
        for row in entry["rows"]:
            properties: Json = {}
            for name, value in row.get("properties", {}).items():
                if (key, name) in self.made:
                    written = await self._value(value)
                    if written is not None:
                        properties[name] = written
            body: Json = {
                "parent": {"type": "data_source_id", "data_source_id": data_source_id},
                "properties": properties,
            }
            for field_name in ("icon", "cover"):
                extra = _icon(row.get(field_name), cover=field_name == "cover")
                if extra is not None:
                    body[field_name] = extra
            page = await self._call(
                partial(self.client.pages.create, **body),
                f"restore row {_title(row)!r} of {key}",
                lookup=partial(self._find_row, data_source_id, _title(row)),
                create=True,
            )
            self.result.ids[row["id"]] = str(page["id"])
            self.result.rows += 1

    async def _create_relations(self) -> None:
        done: set[tuple[str, str]] = set()  # (old data source id, property id) made already
        for key, entry in self.entries.items():
            source = entry["data_source"]
            properties: Json = {}
            backs: list[tuple[str, str, str | None]] = []
            for name, prop in source["properties"].items():
                if prop["type"] != "relation" or (source["id"], prop["id"]) in done:
                    continue
                relation = prop["relation"]
                target = self.key_of.get(relation.get("data_source_id", ""))
                if target is None:
                    self.result.warnings.append(
                        f"{key}.{name}: links to a database not in the backup; left out"
                    )
                    continue
                config: Json = {"data_source_id": self.data_sources[target]}
                if relation.get("type") == "dual_property":
                    synced_id = (relation.get("dual_property") or {}).get("synced_property_id")
                    other = next(
                        (
                            n
                            for n, p in self.entries[target]["data_source"]["properties"].items()
                            if p["id"] == synced_id
                        ),
                        (relation.get("dual_property") or {}).get("synced_property_name"),
                    )
                    done.add((relation["data_source_id"], str(synced_id)))
                    dual = {"synced_property_name": other} if other else {}
                    config.update({"type": "dual_property", "dual_property": dual})
                    backs.append((name, target, other))
                else:
                    config.update({"type": "single_property", "single_property": {}})
                payload: Json = {"relation": config}
                if prop.get("description"):
                    payload["description"] = prop["description"]
                properties[name] = payload
                self.owned.setdefault(key, []).append(name)
            if not properties:
                continue
            answer = await self._call(
                partial(
                    self.client.data_sources.update, self.data_sources[key], properties=properties
                ),
                f"create the relations of {key}",
            )
            self.made.update((key, name) for name in properties)
            self.result.properties += len(properties)
            for name, target, other in backs:
                await self._name_back(answer, name, target, other)

    async def _name_back(self, answer: Json, name: str, target: str, other: str | None) -> None:
        """Give a two-way relation's back property its old name, if the target chose another."""
        relation = answer.get("properties", {}).get(name, {}).get("relation", {})
        dual = relation.get("dual_property") or {}
        back_id, got = dual.get("synced_property_id"), dual.get("synced_property_name")
        self.result.properties += 1
        if other is not None and got != other and back_id:
            await self._call(
                partial(
                    self.client.data_sources.update,
                    self.data_sources[target],
                    properties={back_id: {"name": other}},
                ),
                f"name the back property {other!r} of {target}",
            )
        if other is not None or got is not None:
            self.made.add((target, str(other or got)))

    def _pending_computed(self) -> list[_Computed]:
        pending: list[_Computed] = []
        for key, entry in self.entries.items():
            schema = entry["data_source"]["properties"]
            names_by_id = {p["id"]: n for n, p in schema.items()}
            for name, prop in schema.items():
                body = prop.get(prop["type"]) or {}
                if prop["type"] == "formula":
                    expression = _expression(body.get("expression", ""), names_by_id)
                    needs = {(key, n) for n in _references(expression)}
                    pending.append(
                        _Computed(key, name, {"formula": {"expression": expression}}, needs)
                    )
                elif prop["type"] == "rollup":
                    item = self._rollup(key, schema, name, body)
                    if item is not None:
                        pending.append(item)
        return pending

    def _rollup(self, key: str, schema: Json, name: str, body: Json) -> _Computed | None:
        names_by_id = {p["id"]: n for n, p in schema.items()}
        relation = body.get("relation_property_name") or names_by_id.get(
            body.get("relation_property_id", "")
        )
        linked = schema.get(relation or "", {})
        target = self.key_of.get((linked.get("relation") or {}).get("data_source_id", ""))
        if relation is None or target is None:
            self.result.warnings.append(
                f"{key}.{name}: rolls up a relation to a database not in the backup; left out"
            )
            return None
        target_schema = self.entries[target]["data_source"]["properties"]
        rolled = body.get("rollup_property_name") or next(
            (n for n, p in target_schema.items() if p["id"] == body.get("rollup_property_id")), None
        )
        config = {
            "relation_property_name": relation,
            "rollup_property_name": rolled,
            "function": body.get("function", "show_original"),
        }
        return _Computed(key, name, {"rollup": config}, {(key, relation), (target, str(rolled))})

    async def _create_computed(self) -> None:
        """Rollups and formulas, in passes: each pass adds those whose inputs exist."""
        pending = self._pending_computed()
        while pending:
            ready = [p for p in pending if p.needs <= self.made]
            if not ready:
                break
            for key in dict.fromkeys(p.key for p in ready):
                properties = {p.name: p.payload for p in ready if p.key == key}
                await self._call(
                    partial(
                        self.client.data_sources.update,
                        self.data_sources[key],
                        properties=properties,
                    ),
                    f"create the rollups and formulas of {key}",
                )
                self.made.update((key, name) for name in properties)
                self.result.properties += len(properties)
            pending = [p for p in pending if p not in ready]
        for item in pending:
            missing = ", ".join(sorted(f"{k}.{n}" for k, n in item.needs - self.made))
            self.result.warnings.append(
                f"{item.key}.{item.name}: needs {missing}, which was not restored; left out"
            )

    async def _link_rows(self) -> None:
        """Write relation values from the side each relation was made from, with new ids."""
        ids = self.result.ids
        for key, names in self.owned.items():
            lost: dict[str, int] = {}
            for row in self.entries[key]["rows"]:
                properties: Json = {}
                for name in names:
                    items = (row.get("properties", {}).get(name) or {}).get("relation") or []
                    linked = [ids[i["id"]] for i in items if i.get("id") in ids]
                    lost[name] = lost.get(name, 0) + len(items) - len(linked)
                    if len(linked) > MAX_ITEMS:
                        self.result.warnings.append(
                            f"{key}.{name}: {_title(row)!r} links {len(linked)} pages; a request writes {MAX_ITEMS}, the rest are left out"
                        )
                        linked = linked[:MAX_ITEMS]
                    if linked:
                        properties[name] = {"relation": [{"id": i} for i in linked]}
                        self.result.links += len(linked)
                if properties:
                    await self._call(
                        partial(self.client.pages.update, ids[row["id"]], properties=properties),
                        f"link row {_title(row)!r} of {key}",
                    )
            for name, count in lost.items():
                if count:
                    self.result.warnings.append(
                        f"{key}.{name}: {count} links to pages not in the backup; left out"
                    )


async def restore_backup(
    data: Json, session: NotionSession, api: NotionAPI, *, into_page_id: str | None
) -> RestoreResult:
    """Recreate a backup's databases, rows and links under a new page (or ``into_page_id``).

    Only creates; the databases the backup came from are never read or written.
    """
    if data.get("format") != FORMAT or not isinstance(data.get("databases"), dict):
        raise UserError(f"not backup data of format {FORMAT}")
    restorer = _Restorer(data, session, api)
    try:
        return await restorer.run(into_page_id)
    except NotionError as exc:
        where = restorer.result.page_id
        raise UserError(
            f"the restore stopped: {exc}"
            + (
                f"; what it made so far is under page {where} — delete that page and restore again"
                if where
                else ""
            )
        ) from exc
