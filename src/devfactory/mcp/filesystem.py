"""``devfactory mcp filesystem``: the reference filesystem server's tools, without its escapes.

Same tool names, parameters, annotations and ``{"content": text}`` structured results as
``@modelcontextprotocol/server-filesystem``, so existing clients and prompts work unchanged;
every path goes through :mod:`devfactory.mcp.sandbox`, which confines all I/O to the
configured roots by file descriptor (docs/mcp-filesystem.md lists the guarantees).

The configured roots are authoritative: the server never asks the client for ``roots/list``,
so a client can neither widen nor replace them. Failures reach the model as ``is_error``
results with a plain message (a :class:`~mcp.server.mcpserver.exceptions.ToolError`), never a
traceback or a path a link points to.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import stat
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

import anyio.to_thread
import mcp_types
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    ContentBlock,
    EmbeddedResource,
    ImageContent,
    TextContent,
    ToolAnnotations,
)
from pydantic import BaseModel, ConfigDict, Field

from devfactory import __version__
from devfactory.errors import UserError
from devfactory.mcp.fstext import (
    apply_edits,
    describe,
    excluder,
    fenced,
    glob,
    listing,
    sized_listing,
    unified_diff,
)
from devfactory.mcp.hosted import HostedServer
from devfactory.mcp.sandbox import (
    MAX_ENTRIES,
    MAX_READ_BYTES,
    NARROWED,
    Entry,
    Location,
    Sandbox,
)

__all__ = ["AFFECTED_CAP", "EditOperation", "assess_call", "build_server", "hosted"]

AFFECTED_CAP = MAX_ENTRIES + 1
"""``assess`` stops counting files here: "more than the listing limit" is all the gate needs."""
ASSESS_SECONDS = 2.0
"""``assess`` gives up counting after this long and reports :data:`AFFECTED_CAP`."""

MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".svg": "image/svg+xml",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
}

_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_OVERWRITES = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
_CHANGES = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)
_CREATES = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

_P = ParamSpec("_P")
_R = TypeVar("_R")


class TextOutput(BaseModel):
    """Structured result of every text tool, as the reference server sends it."""

    content: str


class MediaItem(BaseModel):
    """One base64 media block in ``read_media_file``'s structured result."""

    type: Literal["image", "audio", "blob"]
    data: str
    mimeType: str  # the reference's wire name


class MediaOutput(BaseModel):
    """Structured result of ``read_media_file``."""

    content: list[MediaItem]


class EditOperation(BaseModel):
    """One replacement in a file: the exact oldText to find and the newText to put there."""

    model_config = ConfigDict(populate_by_name=True)

    old_text: str = Field(alias="oldText", description="Text to search for - must match exactly")
    new_text: str = Field(alias="newText", description="Text to replace with")


TextResult = Annotated[CallToolResult, TextOutput]
MediaResult = Annotated[CallToolResult, MediaOutput]
PathsArgument = Annotated[
    list[str],
    Field(
        min_length=1,
        description="Array of file paths to read. Each path must be a string pointing to a "
        "valid file within allowed directories.",
    ),
]
ExcludeArgument = Annotated[
    tuple[str, ...],
    Field(
        description="Glob patterns to leave out (with their contents). A pattern without '/' "
        "matches a name at any depth; one with '/' matches the path relative to 'path'."
    ),
]


def hosted(roots: list[Path]) -> HostedServer:
    """The filesystem server over the configured ``roots`` (unusable ones skipped, warned).

    Raises:
        UserError: no configured root is a usable directory.
    """
    sandbox = Sandbox.from_config(roots, warn=_warn)

    async def assess(tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(assess_call, sandbox, tool, arguments)

    return HostedServer(name="filesystem", server=build_server(sandbox), assess=assess)


def build_server(sandbox: Sandbox) -> MCPServer:
    """An :class:`MCPServer` with the reference server's tools, confined by ``sandbox``."""
    server = MCPServer(
        "filesystem",
        version=__version__,
        instructions="Files under the allowed directories only (see list_allowed_directories). "
        "Relative paths are taken against them.",
    )

    async def narrow_by_client_roots(ctx: Any, call_next: Any) -> Any:
        """Client roots (MCP ``roots/list``) may narrow the configured roots for a call, never
        widen them (the reference server let them replace its directories)."""
        if ctx.method != "tools/call":
            return await call_next(ctx)
        given = await _client_roots(ctx)
        if given is None:
            return await call_next(ctx)
        token = NARROWED.set(sandbox.narrow(given))
        try:
            return await call_next(ctx)
        finally:
            NARROWED.reset(token)

    server._lowlevel_server.middleware.append(narrow_by_client_roots)

    def add(
        fn: Callable[..., CallToolResult], title: str, hints: ToolAnnotations, **extra: Any
    ) -> None:
        server.add_tool(_reported(fn), title=title, annotations=hints, **extra)

    def read_text_file(
        path: str,
        tail: Annotated[
            int | None,
            Field(ge=1, description="If provided, returns only the last N lines of the file"),
        ] = None,
        head: Annotated[
            int | None,
            Field(ge=1, description="If provided, returns only the first N lines of the file"),
        ] = None,
    ) -> TextResult:
        """Read the complete contents of a file from the file system as text (UTF-8; invalid
        bytes shown as U+FFFD). Use 'head' to read only the first N lines or 'tail' for the
        last N lines, not both. Files over 10 MiB can only be read with head or tail. Only
        works within allowed directories."""
        if head is not None and tail is not None:
            raise UserError("Cannot specify both head and tail parameters simultaneously")
        fd, _ = sandbox.open_file(path)
        try:
            if head is not None:
                return _text(_head(fd, head))
            if tail is not None:
                return _text(_tail(fd, tail))
            return _text(_decode(_read_all(fd, path)))
        finally:
            os.close(fd)

    def read_media_file(path: str) -> MediaResult:
        """Read an image or audio file (at most 10 MiB). Returns the base64 encoded data and
        MIME type; other files come back as a base64 blob. Only works within allowed
        directories."""
        fd, location = sandbox.open_file(path)
        try:
            data = base64.b64encode(_read_all(fd, path)).decode("ascii")
        finally:
            os.close(fd)
        mime = MEDIA_TYPES.get(
            PurePosixPath(location.name).suffix.lower(), "application/octet-stream"
        )
        kind: Literal["image", "audio", "blob"] = (
            "image"
            if mime.startswith("image/")
            else "audio"
            if mime.startswith("audio/")
            else "blob"
        )
        block: ContentBlock
        if kind == "image":
            block = ImageContent(type="image", data=data, mime_type=mime)
        elif kind == "audio":
            block = AudioContent(type="audio", data=data, mime_type=mime)
        else:
            resource = BlobResourceContents(uri=location.path.as_uri(), mime_type=mime, blob=data)
            block = EmbeddedResource(type="resource", resource=resource)
        item = {"type": kind, "data": data, "mimeType": mime}
        return CallToolResult(content=[block], structured_content={"content": [item]})

    def read_multiple_files(paths: PathsArgument) -> TextResult:
        """Read the contents of multiple files simultaneously. This is more efficient than
        reading files one by one when you need to analyze or compare multiple files. Each
        file's content is returned with its path as a reference. Failed reads for individual
        files won't stop the entire operation. At most 10 MiB in all. Only works within
        allowed directories."""
        budget = MAX_READ_BYTES
        results: list[str] = []
        for path in paths:
            try:
                if budget <= 0:
                    raise UserError("skipped, the 10 MiB limit for one call is reached")
                fd, _ = sandbox.open_file(path)
                try:
                    data = _read_all(fd, path, limit=budget)
                finally:
                    os.close(fd)
                budget -= len(data)
                results.append(f"{path}:\n{_decode(data)}\n")
            except (UserError, OSError) as exc:
                results.append(f"{path}: Error - {_message(exc)}")
        return _text("\n---\n".join(results))

    def write_file(path: str, content: str) -> TextResult:
        """Create a new file or completely overwrite an existing file with new content (at
        most 10 MiB). Use with caution as it will overwrite existing files without warning.
        The write is atomic, and a symbolic link at the path is replaced, never written
        through. Only works within allowed directories."""
        sandbox.write_atomic(path, content.encode("utf-8"))
        return _text(f"Successfully wrote to {path}")

    def edit_file(
        path: str,
        edits: list[EditOperation],
        dryRun: Annotated[
            bool, Field(description="Preview changes using git-style diff format")
        ] = False,
    ) -> TextResult:
        """Make line-based edits to a text file. Each edit replaces exact line sequences with
        new content; when the text differs only in indentation, the file's indentation is
        kept. Returns a git-style diff showing the changes made. Only works within allowed
        directories."""
        fd, location = sandbox.open_file(path)
        try:
            raw = _read_all(fd, path)
        finally:
            os.close(fd)
        try:
            original = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"Not UTF-8 text, refusing to edit: {path}") from None
        crlf = "\r\n" in original
        before = original.replace("\r\n", "\n")
        after = apply_edits(before, [(edit.old_text, edit.new_text) for edit in edits])
        diff = fenced(unified_diff(before, after, path))
        if not dryRun:
            sandbox.write_atomic(
                location, (after.replace("\n", "\r\n") if crlf else after).encode("utf-8")
            )
        return _text(diff)

    def create_directory(path: str) -> TextResult:
        """Create a new directory or ensure a directory exists. Can create multiple nested
        directories in one operation. If the directory already exists, this operation will
        succeed silently. Only works within allowed directories."""
        fd, _ = sandbox.open_directory(path, create=True)
        os.close(fd)
        return _text(f"Successfully created directory {path}")

    def list_directory(path: str) -> TextResult:
        """Get a detailed listing of all files and directories in a specified path. Results
        clearly distinguish between files and directories with [FILE] and [DIR] prefixes
        (a symbolic link is listed as a [FILE]). At most 10,000 entries. Only works within
        allowed directories."""
        return _text(listing(_entries(sandbox, path)))

    def list_directory_with_sizes(
        path: str,
        sortBy: Annotated[
            Literal["name", "size"], Field(description="Sort entries by name or size")
        ] = "name",
    ) -> TextResult:
        """Get a detailed listing of all files and directories in a specified path, including
        sizes. Results clearly distinguish between files and directories with [FILE] and
        [DIR] prefixes. At most 10,000 entries. Only works within allowed directories."""
        return _text(sized_listing(_entries(sandbox, path), sortBy))

    def directory_tree(path: str, excludePatterns: ExcludeArgument = ()) -> TextResult:
        """Get a recursive tree view of files and directories as a JSON structure. Each entry
        includes 'name', 'type' (file/directory), and 'children' for directories. Files have
        no children array, while directories always have a children array (which may be
        empty). Symbolic links are not descended. At most 10,000 entries. The output is
        formatted with 2-space indentation for readability. Only works within allowed
        directories."""
        fd, _ = sandbox.open_directory(path)
        try:
            tree = _tree(sandbox, fd, excludePatterns)
        finally:
            os.close(fd)
        return _text(json.dumps(tree, indent=2, ensure_ascii=False))

    def move_file(source: str, destination: str) -> TextResult:
        """Move or rename files and directories. Can move files between directories and
        rename them in a single operation. If the destination exists, the operation will
        fail. A symbolic link is moved itself, not what it points to. Both source and
        destination must be within allowed directories."""
        sandbox.rename(source, destination)
        return _text(f"Successfully moved {source} to {destination}")

    def search_files(
        path: str,
        pattern: Annotated[
            str, Field(description="Glob relative to 'path': '*.ext' here, '**/*.ext' at any depth")
        ],
        excludePatterns: ExcludeArgument = (),
    ) -> TextResult:
        """Recursively search for files and directories matching a pattern. The patterns
        should be glob-style patterns that match paths relative to the working directory.
        Use pattern like '*.ext' to match files in current directory, and '**/*.ext' to
        match files in all subdirectories. Returns full paths to all matching items (at most
        10,000). Symbolic links are not descended. Only searches within allowed
        directories."""
        fd, location = sandbox.open_directory(path)
        try:
            found = _search(sandbox, fd, location, pattern, excludePatterns)
        finally:
            os.close(fd)
        return _text("\n".join(found) if found else "No matches found")

    def get_file_info(path: str) -> TextResult:
        """Retrieve detailed metadata about a file or directory. Returns comprehensive
        information including size, creation time, last modified time, permissions, and
        type. This tool is perfect for understanding file characteristics without reading
        the actual content. Only works within allowed directories."""
        info, _ = sandbox.stat(path)
        return _text(describe(info))

    def list_allowed_directories() -> TextResult:
        """Returns the list of directories that this server is allowed to access.
        Subdirectories within these allowed directories are also accessible. Use this to
        understand which directories and their nested paths are available before trying to
        access files."""
        return _text("Allowed directories:\n" + "\n".join(str(root) for root in sandbox.roots))

    add(
        read_text_file,
        "Read File (Deprecated)",
        _READ_ONLY,
        name="read_file",
        description="Read the complete contents of a file as text. "
        "DEPRECATED: Use read_text_file instead.",
    )
    add(read_text_file, "Read Text File", _READ_ONLY)
    add(read_media_file, "Read Media File", _READ_ONLY)
    add(read_multiple_files, "Read Multiple Files", _READ_ONLY)
    add(write_file, "Write File", _OVERWRITES)
    add(edit_file, "Edit File", _CHANGES)
    add(create_directory, "Create Directory", _CREATES)
    add(list_directory, "List Directory", _READ_ONLY)
    add(list_directory_with_sizes, "List Directory with Sizes", _READ_ONLY)
    add(directory_tree, "Directory Tree", _READ_ONLY)
    add(move_file, "Move File", _CHANGES)
    add(search_files, "Search Files", _READ_ONLY)
    add(get_file_info, "Get File Info", _READ_ONLY)
    add(list_allowed_directories, "List Allowed Directories", _READ_ONLY)
    return server


# -- the confidence gate's look ahead -------------------------------------------------------

_PATH_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "read_file": ("path",),
    "read_text_file": ("path",),
    "read_media_file": ("path",),
    "read_multiple_files": ("paths",),
    "write_file": ("path",),
    "edit_file": ("path",),
    "create_directory": ("path",),
    "list_directory": ("path",),
    "list_directory_with_sizes": ("path",),
    "directory_tree": ("path",),
    "move_file": ("source", "destination"),
    "search_files": ("path",),
    "get_file_info": ("path",),
}
_REPLACING = {"move_file", "write_file"}  # act on a link itself, not where it points
_MODIFYING = {"move_file", "write_file", "edit_file"}


def assess_call(sandbox: Sandbox, tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The gate's context for one call; reads only (``lstat`` and directory listings).

    ``validation_errors`` when a path is malformed or leads outside the roots (links
    resolved as they are now); otherwise ``affected``, the number of files under the path
    (capped at :data:`AFFECTED_CAP`), for a change to an existing path or any call on a
    directory. Accepts the gateway's prefixed names (``filesystem__write_file``).
    """
    name = tool.rpartition("__")[2]
    keys = _PATH_ARGUMENTS.get(name)
    if keys is None:
        return {}
    errors = [error for key in keys for error in _argument_errors(sandbox, key, arguments.get(key))]
    if name in ("read_file", "read_text_file") and arguments.get("head") and arguments.get("tail"):
        errors.append("Cannot specify both head and tail parameters simultaneously")
    if errors:
        return {"validation_errors": errors}
    target = arguments.get("source" if name == "move_file" else "path")
    if not isinstance(target, str):
        return {}
    try:
        info, location = sandbox.stat(target, follow=name not in _REPLACING)
        if stat.S_ISDIR(info.st_mode):
            return {"affected": _count_files(sandbox, location)}
    except UserError:
        return {}  # nothing there yet: nothing existing is affected
    return {"affected": 1} if name in _MODIFYING else {}


def _argument_errors(sandbox: Sandbox, key: str, value: object) -> list[str]:
    if key == "paths":
        if not isinstance(value, list) or not value:
            return ["paths: expected a non-empty list of paths"]
        return [error for item in value for error in _argument_errors(sandbox, "path", item)]
    if not isinstance(value, str):
        return [f"{key}: expected a path"]
    try:
        sandbox.check(value)
    except UserError as exc:
        return [str(exc)]
    return []


def _count_files(sandbox: Sandbox, location: Location) -> int:
    """Files (anything but a directory) under a directory, up to :data:`AFFECTED_CAP`.

    A tree too big to walk, or too slow (:data:`ASSESS_SECONDS`), counts as the cap: the
    gate should treat it as large, not as empty.
    """
    deadline = time.monotonic() + ASSESS_SECONDS
    fd, _ = sandbox.open_directory(location)
    count = 0
    try:
        with contextlib.closing(sandbox.walk(fd)) as entries:
            for _parts, entry in entries:
                count += entry.kind != "directory"
                if count >= AFFECTED_CAP or time.monotonic() > deadline:
                    return AFFECTED_CAP
    except UserError:
        return AFFECTED_CAP
    finally:
        os.close(fd)
    return count


# -- reading --------------------------------------------------------------------------------

_CHUNK = 64 * 1024


def _read_all(fd: int, requested: str, *, limit: int | None = None) -> bytes:
    """The whole file, refused when it is larger than ``limit`` (default the read limit)."""
    limit = MAX_READ_BYTES if limit is None else limit
    size = os.fstat(fd).st_size
    if size > limit:
        raise UserError(
            f"File too large to read whole ({size} bytes; the limit is {limit}): {requested}"
        )
    chunks: list[bytes] = []
    total = 0
    while chunk := os.read(fd, _CHUNK):
        total += len(chunk)
        if total > limit:
            raise UserError(f"File too large to read whole (over {limit} bytes): {requested}")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _head(fd: int, lines: int) -> str:
    """The first ``lines`` lines, reading no further than needed (at most the read limit)."""
    data = b""
    while data.count(b"\n") < lines and len(data) <= MAX_READ_BYTES:
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            break
        data += chunk
    return "\n".join(_decode(data).replace("\r\n", "\n").split("\n")[:lines])


def _tail(fd: int, lines: int) -> str:
    """The last ``lines`` lines, reading backwards from the end (at most the read limit)."""
    position = os.fstat(fd).st_size
    data = b""
    while position > 0 and data.count(b"\n") <= lines and len(data) <= MAX_READ_BYTES:
        size = min(_CHUNK, position)
        position -= size
        data = os.pread(fd, size, position) + data
    text = _decode(data).replace("\r\n", "\n").split("\n")
    if text and text[-1] == "":
        text.pop()
    return "\n".join(text[-lines:])


# -- listing --------------------------------------------------------------------------------


def _entries(sandbox: Sandbox, path: str) -> list[Entry]:
    fd, _ = sandbox.open_directory(path)
    try:
        return sandbox.scan(fd)
    finally:
        os.close(fd)


def _tree(sandbox: Sandbox, fd: int, exclude: Sequence[str]) -> list[dict[str, Any]]:
    """``directory_tree``'s JSON: ``{name, type, children?}`` per entry, at most MAX_ENTRIES."""
    top: list[dict[str, Any]] = []
    children: dict[tuple[str, ...], list[dict[str, Any]]] = {(): top}
    for parts, entry in sandbox.walk(fd, prune=excluder(exclude), limit=MAX_ENTRIES):
        node: dict[str, Any] = {"name": entry.name, "type": "file"}
        if entry.kind == "directory":
            node["type"] = "directory"
            node["children"] = children[parts] = []
        children[parts[:-1]].append(node)
    return top


def _search(
    sandbox: Sandbox, fd: int, location: Location, pattern: str, exclude: Sequence[str]
) -> list[str]:
    """Full paths of the entries whose path relative to ``location`` matches ``pattern``."""
    matcher = glob(pattern)
    found: list[str] = []
    for parts, _entry in sandbox.walk(fd, prune=excluder(exclude)):
        if matcher.fullmatch("/".join(parts)):
            if len(found) >= MAX_ENTRIES:
                raise UserError(f"More than {MAX_ENTRIES} matches; narrow the pattern or the path.")
            found.append(str(location.path.joinpath(*parts)))
    return found


# -- plumbing -------------------------------------------------------------------------------


def _text(text: str) -> CallToolResult:
    """A text result as the reference server sends it: the text, and ``{"content": text}``."""
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content={"content": text}
    )


def _message(exc: Exception) -> str:
    return (
        str(exc)
        if isinstance(exc, UserError)
        else (getattr(exc, "strerror", None) or type(exc).__name__)
    )


def _reported(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn expected failures into a :class:`ToolError`, which the model reads (``is_error``).

    Anything else the SDK reports as a bare "Error executing tool", keeping the traceback on
    the server's stderr.
    """

    @functools.wraps(fn)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except (UserError, OSError) as exc:
            raise ToolError(_message(exc)) from exc
        except UnicodeError as exc:  # a lone surrogate in a path or in content
            raise ToolError("Text that cannot be encoded as UTF-8 (a lone surrogate?)") from exc

    return call


async def _client_roots(ctx: Any) -> list[str] | None:
    """The paths of the client's ``file://`` roots, or None when it declares no roots or the
    connection cannot ask (no back channel: the 2026 protocol deprecates roots)."""
    wanted = mcp_types.ClientCapabilities(roots=mcp_types.RootsCapability())
    try:
        if not ctx.session.check_client_capability(wanted):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            answer = await ctx.session.list_roots()
    except (MCPError, AttributeError, TypeError):
        return None
    return [
        unquote(urlsplit(str(root.uri)).path)
        for root in answer.roots
        if str(root.uri).startswith("file://")
    ]


def _warn(message: str) -> None:
    print(f"devfactory mcp filesystem: warning: {message}", file=sys.stderr)
