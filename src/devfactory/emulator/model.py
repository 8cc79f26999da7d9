"""The records the local Notion server keeps, one dataclass per kind of object.

Records hold data in the form that is cheapest to query and to render: property values keyed
by property id in a compact stored form (see :mod:`devfactory.emulator.values`), rich text
already in response shape, times as epoch seconds. They are plain data; the store persists
them as JSON documents and the renderers turn them into API objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

__all__ = [
    "CAPABILITIES",
    "KINDS",
    "AsyncTask",
    "Block",
    "Comment",
    "DataSource",
    "Database",
    "FileUpload",
    "Integration",
    "Page",
    "Record",
    "User",
    "View",
    "ViewQuery",
]


# What an integration may do, as in Notion's integration settings. User information is
# either read with e-mail addresses, without them, or not at all (neither capability).
CAPABILITIES = (
    "read_content",
    "update_content",
    "insert_content",
    "read_comments",
    "insert_comments",
    "read_user_with_email",
    "read_user_without_email",
)


@dataclass(slots=True, eq=False)
class Record:
    """Common base: an id, a kind and JSON-document (de)serialisation."""

    kind: ClassVar[str] = "record"
    id: str

    def to_doc(self) -> dict[str, Any]:
        """The record as a JSON-able dict (shallow: nested values are shared)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Record:
        """Rebuild a record from :meth:`to_doc` output, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: val for k, val in doc.items() if k in names})


@dataclass(slots=True, eq=False)
class Integration(Record):
    """An internal integration: a token (stored hashed) and its bot user."""

    kind: ClassVar[str] = "integration"
    name: str = ""
    token_hash: str = ""
    bot_id: str = ""
    created_time: float = 0.0
    capabilities: list[str] = field(default_factory=lambda: list(CAPABILITIES))


@dataclass(slots=True, eq=False)
class User(Record):
    """A person or a bot of the workspace."""

    kind: ClassVar[str] = "user"
    name: str = ""
    type: str = "person"
    email: str | None = None
    avatar_url: str | None = None
    integration_id: str | None = None


@dataclass(slots=True, eq=False)
class Owned(Record):
    """Fields every content object shares: parent, trash, authorship, visibility."""

    parent_type: str = "workspace"
    parent_id: str | None = None
    in_trash: bool = False
    created_time: float = 0.0
    last_edited_time: float = 0.0
    created_by: str = ""
    last_edited_by: str = ""
    owner: str = ""
    seq: int = 0


@dataclass(slots=True, eq=False)
class Page(Owned):
    """A page: a workspace/page child, or a row of a data source (``parent_type`` data_source_id)."""

    kind: ClassVar[str] = "page"
    properties: dict[str, Any] = field(default_factory=dict)
    icon: dict[str, Any] | None = None
    cover: dict[str, Any] | None = None
    is_locked: bool = False
    children: list[str] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Database(Owned):
    """A database: a container of data sources, placed under a page or the workspace."""

    kind: ClassVar[str] = "database"
    title: list[dict[str, Any]] = field(default_factory=list)
    description: list[dict[str, Any]] = field(default_factory=list)
    icon: dict[str, Any] | None = None
    cover: dict[str, Any] | None = None
    is_inline: bool = False
    is_locked: bool = False
    data_source_ids: list[str] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class DataSource(Owned):
    """A data source: a schema (properties keyed by property id, in order) and its rows."""

    kind: ClassVar[str] = "data_source"
    title: list[dict[str, Any]] = field(default_factory=list)
    description: list[dict[str, Any]] = field(default_factory=list)
    icon: dict[str, Any] | None = None
    cover: dict[str, Any] | None = None
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Block(Owned):
    """A content block; ``content`` is the type-specific part in response shape."""

    kind: ClassVar[str] = "block"
    type: str = "paragraph"
    content: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Comment(Owned):
    """A comment on a page or a block, in a discussion."""

    kind: ClassVar[str] = "comment"
    discussion_id: str = ""
    rich_text: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    display_name: dict[str, Any] | None = None


@dataclass(slots=True, eq=False)
class View(Owned):
    """A view of a data source inside a database (``parent_id`` is the database)."""

    kind: ClassVar[str] = "view"
    data_source_id: str = ""
    name: str = ""
    type: str = "table"
    filter: dict[str, Any] | None = None
    sorts: list[dict[str, Any]] | None = None
    quick_filters: dict[str, Any] | None = None
    configuration: dict[str, Any] | None = None


@dataclass(slots=True, eq=False)
class ViewQuery(Owned):
    """A snapshot of a view's results, paged through by id until it expires."""

    kind: ClassVar[str] = "view_query"
    view_id: str = ""
    page_ids: list[str] = field(default_factory=list)
    expires_at: float = 0.0


@dataclass(slots=True, eq=False)
class FileUpload(Owned):
    """A file upload: created, sent (single or multi part), completed."""

    kind: ClassVar[str] = "file_upload"
    status: str = "pending"
    mode: str = "single_part"
    filename: str | None = None
    content_type: str | None = None
    content_length: int | None = None
    number_of_parts: int | None = None
    parts_sent: list[int] = field(default_factory=list)
    external_url: str | None = None
    expiry_time: float = 0.0


@dataclass(slots=True, eq=False)
class AsyncTask(Owned):
    """A long operation answered with 202 and polled at /v1/async_tasks/{id}."""

    kind: ClassVar[str] = "async_task"
    status: str = "queued"
    operation: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None


KINDS: dict[str, type[Record]] = {
    cls.kind: cls
    for cls in (
        Integration,
        User,
        Page,
        Database,
        DataSource,
        Block,
        Comment,
        View,
        ViewQuery,
        FileUpload,
        AsyncTask,
    )
}
