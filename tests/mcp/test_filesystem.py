"""The filesystem server through an MCP client: the reference's tools work, nothing escapes.

In-memory ``Client(server)`` for almost everything; one test runs ``devfactory mcp
filesystem`` as a subprocess over stdio.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.types import AudioContent, CallToolResult, EmbeddedResource, ImageContent, TextContent

from devfactory.errors import UserError
from devfactory.mcp import filesystem, fstext, sandbox
from devfactory.mcp.filesystem import AFFECTED_CAP, hosted
from devfactory.mcp.hosted import HostedServer
from devfactory.mcp.sandbox import Location, Sandbox

pytestmark = pytest.mark.anyio

SECRET = "TOP SECRET, outside the root"
SIBLINGS = ["project2", "project_backup", "project-old", "projectile", "project.bak"]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
READ_ONLY = {"readOnlyHint": True, "openWorldHint": False}
ANNOTATIONS = {
    "read_file": READ_ONLY,
    "read_text_file": READ_ONLY,
    "read_media_file": READ_ONLY,
    "read_multiple_files": READ_ONLY,
    "write_file": {
        "readOnlyHint": False,
        "destructiveHint": True,
        "idempotentHint": True,
        "openWorldHint": False,
    },
    "edit_file": {
        "readOnlyHint": False,
        "destructiveHint": True,
        "idempotentHint": False,
        "openWorldHint": False,
    },
    "create_directory": {
        "readOnlyHint": False,
        "destructiveHint": False,
        "idempotentHint": True,
        "openWorldHint": False,
    },
    "list_directory": READ_ONLY,
    "list_directory_with_sizes": READ_ONLY,
    "directory_tree": READ_ONLY,
    "move_file": {
        "readOnlyHint": False,
        "destructiveHint": True,
        "idempotentHint": False,
        "openWorldHint": False,
    },
    "search_files": READ_ONLY,
    "get_file_info": READ_ONLY,
    "list_allowed_directories": READ_ONLY,
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``<tmp>/project`` (the root) beside prefix siblings and ``<tmp>/outside``, each with a secret."""
    project = tmp_path / "project"
    (project / "src" / "pkg").mkdir(parents=True)
    (project / "node_modules" / "dep").mkdir(parents=True)
    (project / "notes.txt").write_text("one\ntwo\nthree\nfour\nfive\n")
    (project / "src" / "main.py").write_text("def main():\n    return 1\n")
    (project / "src" / "pkg" / "util.py").write_text("X = 1\n")
    (project / "node_modules" / "dep" / "index.js").write_text("module.exports = 1\n")
    (project / "pic.png").write_bytes(PNG)
    for name in [*SIBLINGS, "outside"]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "secret.txt").write_text(SECRET)
    return project


@pytest.fixture
def outside(root: Path) -> Path:
    return root.parent / "outside"


@pytest.fixture
def server(root: Path) -> HostedServer:
    return hosted([root])


@pytest.fixture
async def client(server: HostedServer) -> AsyncIterator[Client]:
    async with Client(server.server, raise_exceptions=True) as connected:
        yield connected


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    return await client.call_tool(tool, arguments)


def text(result: CallToolResult) -> str:
    """The text of a result, checking the reference's shape: one block and ``{"content": text}``."""
    [block] = result.content
    assert isinstance(block, TextContent)
    if not result.is_error:
        assert {"content": block.text} == result.structured_content
    return block.text


async def ok(client: Client, tool: str, **arguments: Any) -> str:
    result = await call(client, tool, **arguments)
    assert not result.is_error, text(result)
    return text(result)


async def fails(client: Client, tool: str, **arguments: Any) -> str:
    result = await call(client, tool, **arguments)
    assert result.is_error, text(result)
    message = text(result)
    assert "Traceback" not in message
    return message


def snapshot(directory: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        key = str(path.relative_to(directory))
        if path.is_symlink():
            found[key] = f"-> {path.readlink()}"
        elif path.is_dir():
            found[key] = "<dir>"
        else:
            found[key] = path.read_text(errors="replace")
    return found


@pytest.fixture
def untouched(root: Path) -> Iterator[None]:
    """Fails the test if anything beside the root (outside, the siblings) changed."""
    before = {k: v for k, v in snapshot(root.parent).items() if not k.startswith("project/")}
    yield
    after = {k: v for k, v in snapshot(root.parent).items() if not k.startswith("project/")}
    assert before == after


# -- the tool surface ---------------------------------------------------------------------


async def test_tools_match_the_reference(client: Client) -> None:
    """Names, annotations, descriptions and output schemas as the reference server has them."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert list(ANNOTATIONS) == list(tools)
    for name, tool in tools.items():
        assert tool.annotations is not None
        assert ANNOTATIONS[name] == tool.annotations.model_dump(by_alias=True, exclude_none=True), (
            name
        )
        assert tool.description and len(tool.description) > 40, name
        assert tool.output_schema is not None and "content" in tool.output_schema["properties"]
    assert "DEPRECATED" in (tools["read_file"].description or "")
    edit = tools["edit_file"].input_schema
    assert {"path", "edits", "dryRun"} == set(edit["properties"])
    assert {"oldText", "newText"} == set(edit["$defs"]["EditOperation"]["properties"])
    assert {"path", "sortBy"} == set(tools["list_directory_with_sizes"].input_schema["properties"])
    assert {"path", "pattern", "excludePatterns"} == set(
        tools["search_files"].input_schema["properties"]
    )
    assert {"source", "destination"} == set(tools["move_file"].input_schema["required"])


async def test_read_text_file_whole_head_and_tail(client: Client) -> None:
    """Whole file, first N lines, last N lines; both at once is an error; read_file is an alias."""
    assert "one\ntwo\nthree\nfour\nfive\n" == await ok(client, "read_text_file", path="notes.txt")
    assert "one\ntwo" == await ok(client, "read_text_file", path="notes.txt", head=2)
    assert "four\nfive" == await ok(client, "read_text_file", path="notes.txt", tail=2)
    assert "one\ntwo\nthree\nfour\nfive" == await ok(
        client, "read_text_file", path="notes.txt", tail=50
    )
    message = await fails(client, "read_text_file", path="notes.txt", head=1, tail=1)
    assert "both head and tail" in message
    assert "one\n" == (await ok(client, "read_file", path="notes.txt", head=1)) + "\n"


async def test_read_media_file(client: Client, root: Path) -> None:
    """An image comes back as a base64 image block, audio as audio, anything else as a blob."""
    result = await call(client, "read_media_file", path="pic.png")
    [block] = result.content
    assert isinstance(block, ImageContent) and "image/png" == block.mime_type
    assert PNG == base64.b64decode(block.data)
    assert {
        "content": [{"type": "image", "data": block.data, "mimeType": "image/png"}]
    } == result.structured_content
    (root / "beep.mp3").write_bytes(b"ID3")
    (root / "blob.bin").write_bytes(b"\x00\x01")
    [audio] = (await call(client, "read_media_file", path="beep.mp3")).content
    assert isinstance(audio, AudioContent) and "audio/mpeg" == audio.mime_type
    [other] = (await call(client, "read_media_file", path="blob.bin")).content
    assert isinstance(other, EmbeddedResource)


async def test_read_multiple_files_survives_failures(client: Client) -> None:
    """Each file is reported on its own; a missing or forbidden one doesn't stop the others."""
    output = await ok(
        client,
        "read_multiple_files",
        paths=["notes.txt", "missing.txt", "../outside/secret.txt", "src/pkg/util.py"],
    )
    parts = output.split("\n---\n")
    assert 4 == len(parts)
    assert parts[0].startswith("notes.txt:\none\n")
    assert parts[1].startswith("missing.txt: Error - No such file or directory")
    assert parts[2].startswith("../outside/secret.txt: Error - Access denied")
    assert "src/pkg/util.py:\nX = 1\n\n" == parts[3]
    assert SECRET not in output
    assert "at least 1" in await fails(client, "read_multiple_files", paths=[])


async def test_write_then_read(client: Client, root: Path) -> None:
    """A write creates or overwrites, atomically, and reads back."""
    assert "Successfully wrote to new.txt" == await ok(
        client, "write_file", path="new.txt", content="héllo\n"
    )
    assert "héllo\n" == await ok(client, "read_text_file", path="new.txt")
    await ok(client, "write_file", path="new.txt", content="again")
    assert "again" == (root / "new.txt").read_text()
    assert "No such file or directory" in await fails(
        client, "write_file", path="no/dir/x.txt", content="x"
    )
    assert "cannot be encoded" in await fails(client, "write_file", path="\ud800", content="x")


async def test_edit_file_dry_run_then_edit(client: Client, root: Path) -> None:
    """dryRun shows a git-style diff and changes nothing; the real edit writes the same change."""
    edits = [{"oldText": "return 1", "newText": "return 2"}]
    preview = await ok(client, "edit_file", path="src/main.py", edits=edits, dryRun=True)
    assert preview.startswith(
        "```diff\n--- src/main.py\toriginal\n+++ src/main.py\tmodified\n@@ -1,2 +1,2 @@\n"
    )
    assert "-    return 1\n+    return 2\n" in preview
    assert "return 1" in (root / "src" / "main.py").read_text()
    assert preview == await ok(client, "edit_file", path="src/main.py", edits=edits)
    assert "def main():\n    return 2\n" == (root / "src" / "main.py").read_text()
    assert "Could not find exact match" in await fails(
        client, "edit_file", path="src/main.py", edits=edits
    )


async def test_edit_file_keeps_the_file_indentation_and_line_endings(
    client: Client, root: Path
) -> None:
    """An edit written without the file's indentation is re-indented; CRLF files stay CRLF."""
    (root / "cls.py").write_text("class A:\n    def f(self):\n        return 1\n")
    edits = [{"oldText": "def f(self):\n    return 1", "newText": "def f(self):\n    return 2\n\n"}]
    await ok(client, "edit_file", path="cls.py", edits=edits)
    assert "class A:\n    def f(self):\n        return 2\n\n\n" == (root / "cls.py").read_text()
    (root / "dos.txt").write_bytes(b"a\r\nb\r\n")
    await ok(client, "edit_file", path="dos.txt", edits=[{"oldText": "b", "newText": "c"}])
    assert b"a\r\nc\r\n" == (root / "dos.txt").read_bytes()


async def test_create_directory_is_mkdir_p(client: Client, root: Path) -> None:
    """Nested levels are made in one call; an existing directory is fine."""
    assert "Successfully created directory a/b/c" == await ok(
        client, "create_directory", path="a/b/c"
    )
    await ok(client, "create_directory", path="a/b/c")
    assert (root / "a" / "b" / "c").is_dir()
    assert "Not a directory" in await fails(client, "create_directory", path="notes.txt/x")


async def test_list_directory_and_sizes(client: Client, root: Path) -> None:
    """``[DIR]``/``[FILE]`` lines; with sizes, sorted by name or largest first, then totals."""
    listing = await ok(client, "list_directory", path=".")
    assert [
        "[DIR] node_modules",
        "[FILE] notes.txt",
        "[FILE] pic.png",
        "[DIR] src",
    ] == listing.split("\n")
    (root / "big.bin").write_bytes(b"x" * 2048)
    by_size = (await ok(client, "list_directory_with_sizes", path=".", sortBy="size")).split("\n")
    assert by_size[0].startswith("[FILE] big.bin") and by_size[0].endswith("2.00 KB")
    assert by_size[1].startswith("[FILE] pic.png")
    assert "Total: 3 files, 2 directories" in by_size
    by_name = (await ok(client, "list_directory_with_sizes", path=".")).split("\n")
    assert by_name[0].startswith("[FILE] big.bin") and by_name[1].startswith("[DIR] node_modules")
    assert "Not a directory" in await fails(client, "list_directory", path="notes.txt")


async def test_directory_tree_with_excludes(client: Client) -> None:
    """JSON ``{name, type, children}``; an excluded name is left out with its contents."""
    tree = json.loads(
        await ok(client, "directory_tree", path=".", excludePatterns=["node_modules", "*.png"])
    )
    assert [
        {"name": "notes.txt", "type": "file"},
        {
            "name": "src",
            "type": "directory",
            "children": [
                {"name": "main.py", "type": "file"},
                {
                    "name": "pkg",
                    "type": "directory",
                    "children": [{"name": "util.py", "type": "file"}],
                },
            ],
        },
    ] == tree
    nested = json.loads(await ok(client, "directory_tree", path="src", excludePatterns=["pkg/**"]))
    assert [
        {"name": "main.py", "type": "file"},
        {"name": "pkg", "type": "directory", "children": []},
    ] == nested


async def test_move_file(client: Client, root: Path) -> None:
    """A move renames; an existing destination makes it fail with both files intact."""
    assert "Successfully moved notes.txt to src/notes.md" == await ok(
        client, "move_file", source="notes.txt", destination="src/notes.md"
    )
    assert (root / "src" / "notes.md").exists() and not (root / "notes.txt").exists()
    message = await fails(client, "move_file", source="src/notes.md", destination="src/main.py")
    assert "already exists" in message
    assert "def main" in (root / "src" / "main.py").read_text()


async def test_search_files_with_excludes(client: Client, root: Path) -> None:
    """Globs are relative to ``path``; ``**`` spans directories; excluded trees are skipped."""
    found = await ok(
        client, "search_files", path=".", pattern="**/*.{py,js}", excludePatterns=["pkg"]
    )
    assert [str(root / "node_modules/dep/index.js"), str(root / "src/main.py")] == found.split("\n")
    assert str(root / "notes.txt") == await ok(client, "search_files", path=".", pattern="*.txt")
    assert "No matches found" == await ok(client, "search_files", path="src", pattern="*.txt")


async def test_get_file_info_and_allowed_directories(client: Client, root: Path) -> None:
    """File metadata in the reference's keys; the allowed directories as real paths."""
    info = dict(
        line.split(": ", 1)
        for line in (await ok(client, "get_file_info", path="notes.txt")).split("\n")
    )
    assert {
        "size",
        "created",
        "modified",
        "accessed",
        "isDirectory",
        "isFile",
        "permissions",
    } == set(info)
    assert ("24", "false", "true") == (info["size"], info["isDirectory"], info["isFile"])
    assert f"Allowed directories:\n{root}" == await ok(client, "list_allowed_directories")


# -- the pure text helpers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.py", "a.py", True),
        ("*.py", "d/a.py", False),
        ("**/*.py", "a.py", True),
        ("**/*.py", "d/e/a.py", True),
        ("src/**", "src/a/b", True),
        ("?.txt", "a.txt", True),
        ("?.txt", "ab.txt", False),
        ("[!a]b", "cb", True),
        ("[!a]b", "ab", False),
        ("[a-c]x", "bx", True),
        ("{a,b}.md", "b.md", True),
        ("{a,b}.md", "c.md", False),
        (".*", ".env", True),
        ("a[", "a[", True),
        ("a.b", "axb", False),
    ],
)
def test_globs_read_like_minimatch(pattern: str, path: str, matches: bool) -> None:
    """``*`` stays in a name, ``**`` spans directories, dot files match, regex characters don't."""
    assert matches == bool(fstext.glob(pattern).fullmatch(path))


def test_sizes_and_diffs_are_formatted_like_the_reference() -> None:
    """Sizes in binary units with two decimals; a last line without newline is marked."""
    assert ["0 B", "1023 B", "1.00 KB", "1.50 MB"] == [
        fstext.format_size(n) for n in (0, 1023, 1024, 1572864)
    ]
    diff = fstext.unified_diff("a\nb", "a\nc", "f")
    assert diff.endswith("-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n")
    assert fstext.fenced("```x```").startswith("````diff\n")


# -- limits -------------------------------------------------------------------------------


async def test_size_and_count_limits(
    client: Client, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Oversized reads and writes, long listings, big trees and many matches are clear errors;
    head still reads the start of a file too big to read whole."""
    assert 10 * 1024 * 1024 == sandbox.MAX_READ_BYTES == sandbox.MAX_WRITE_BYTES
    with (root / "huge.log").open("wb") as huge:
        huge.write(b"first line\n")
        huge.truncate(sandbox.MAX_READ_BYTES + 1)
    assert "too large" in await fails(client, "read_text_file", path="huge.log")
    assert "first line" == await ok(client, "read_text_file", path="huge.log", head=1)
    monkeypatch.setattr(sandbox, "MAX_WRITE_BYTES", 1024)
    assert "limit is 1024 bytes" in await fails(client, "write_file", path="x", content="x" * 1025)
    monkeypatch.setattr(sandbox, "MAX_ENTRIES", 3)
    monkeypatch.setattr(filesystem, "MAX_ENTRIES", 3)
    assert "more than 3 entries" in await fails(client, "list_directory", path=".")
    for index in range(4):
        (root / "src" / f"m{index}.py").write_text("")
    assert "more than 3 entries" in (await fails(client, "directory_tree", path="src")).lower()
    assert "More than 3 matches" in await fails(client, "search_files", path="src", pattern="*.py")


# -- attacks ------------------------------------------------------------------------------

LEXICAL_ATTACKS = [
    "../outside/secret.txt",
    "../../../../../../../etc/passwd",
    "./../outside",
    "src/../../outside/secret.txt",
    "{root}/../outside/secret.txt",
    "{outside}/secret.txt",
    "/etc/passwd",
    "notes.txt\x00../../outside/secret.txt",
    "\x00",
    *[f"../{sibling}/secret.txt" for sibling in SIBLINGS],
    *[f"{{root}}/../{sibling}/secret.txt" for sibling in SIBLINGS],
]


def every_call(path: str) -> list[tuple[str, dict[str, Any]]]:
    """Every tool with ``path`` in each of its path arguments."""
    return [
        ("read_text_file", {"path": path}),
        ("read_file", {"path": path, "head": 1}),
        ("read_media_file", {"path": path}),
        ("write_file", {"path": path, "content": "pwned"}),
        ("edit_file", {"path": path, "edits": [{"oldText": "TOP", "newText": "pwned"}]}),
        ("create_directory", {"path": path}),
        ("list_directory", {"path": path}),
        ("list_directory_with_sizes", {"path": path}),
        ("directory_tree", {"path": path}),
        ("move_file", {"source": path, "destination": "stolen.txt"}),
        ("move_file", {"source": "notes.txt", "destination": path}),
        ("search_files", {"path": path, "pattern": "**"}),
        ("get_file_info", {"path": path}),
    ]


@pytest.mark.parametrize("attack", LEXICAL_ATTACKS)
async def test_paths_outside_are_refused_by_every_tool(
    client: Client, root: Path, outside: Path, attack: str, untouched: None
) -> None:
    """Traversal, absolute paths, prefix siblings (CVE-2025-53110) and null bytes: every tool
    refuses, and nothing outside is read, created, changed or moved."""
    path = attack.format(root=root, outside=outside)
    for tool, arguments in every_call(path):
        result = await client.call_tool(tool, arguments)
        assert result.is_error, (tool, text(result))
        assert SECRET not in text(result) and "pwned" not in text(result)
    assert not (root / "stolen.txt").exists()
    output = await ok(client, "read_multiple_files", paths=[path])
    assert "Error - " in output and SECRET not in output


def plant_links(root: Path, outside: Path) -> None:
    """The symlink escapes of CVE-2025-53109 and the reference's edge-case table."""
    (root / "leak").symlink_to(outside / "secret.txt")  # to a file outside
    (root / "door").symlink_to(outside)  # to a directory outside (and a symlinked parent)
    (root / "trap").symlink_to(outside / "created.txt")  # dangling, pointing outside
    (root / "src" / "hop").symlink_to("../leak")  # chained: inside → inside → outside
    (root / "src" / "up").symlink_to("../../outside")  # relative, climbing out


LEAF_LINKS = ["leak", "door", "trap", "src/hop"]
LINK_ATTACKS = [*LEAF_LINKS, "door/secret.txt", "door/new.txt", "src/up/secret.txt"]


@pytest.mark.parametrize("attack", LINK_ATTACKS)
async def test_symlinks_never_lead_outside(
    client: Client, root: Path, outside: Path, attack: str, untouched: None
) -> None:
    """Whatever the tool, a link out is refused or — for writes — replaced; the outside is
    untouched, the secret never returned and the link's target never named."""
    plant_links(root, outside)
    for tool, arguments in every_call(attack):
        acts_on_the_link = tool == "write_file" or (
            tool == "move_file" and arguments["source"] == attack
        )
        if attack in LEAF_LINKS and acts_on_the_link:
            continue  # legitimate, on the link itself: see test_writes_and_moves_act_on_the_link
        result = await client.call_tool(tool, arguments)
        assert result.is_error, (tool, text(result))
        assert SECRET not in text(result) and str(outside) not in text(result)
    assert not (outside / "created.txt").exists()


async def test_writes_and_moves_act_on_the_link(
    client: Client, root: Path, outside: Path, untouched: None
) -> None:
    """A write to a link (even a dangling one) replaces the link with a regular file inside;
    a move moves the link itself. Neither reaches what the link points to."""
    plant_links(root, outside)
    await ok(client, "move_file", source="door", destination="src/door")
    assert (root / "src" / "door").is_symlink()
    for link in LEAF_LINKS:
        await ok(client, "write_file", path=link, content="inside now")
        assert not (root / link).is_symlink() and "inside now" == (root / link).read_text()
    assert not (outside / "created.txt").exists()


async def test_links_inside_the_root_work(client: Client, root: Path) -> None:
    """Links that stay inside are followed for reads (and edits edit the real file)."""
    (root / "alias.txt").symlink_to("notes.txt")
    (root / "code").symlink_to(root / "src")
    assert "one" == await ok(client, "read_text_file", path="alias.txt", head=1)
    assert "X = 1\n" == await ok(client, "read_text_file", path="code/pkg/util.py")
    await ok(client, "edit_file", path="alias.txt", edits=[{"oldText": "one", "newText": "uno"}])
    assert (root / "alias.txt").is_symlink() and (root / "notes.txt").read_text().startswith(
        "uno\n"
    )
    listing = await ok(client, "list_directory", path="code")
    assert "[FILE] main.py" in listing


async def test_swap_between_check_and_use(
    client: Client, root: Path, outside: Path, monkeypatch: pytest.MonkeyPatch, untouched: None
) -> None:
    """TOCTOU: the guard's lexical check passes, then ``src`` becomes a link outside before
    any I/O; the descriptor walk notices and refuses."""
    locate = Sandbox.locate

    def locate_then_swap(self: Sandbox, requested: str) -> Location:
        location = locate(self, requested)
        if not (root / "src").is_symlink():
            (root / "src").rename(root / "src_old")
            (root / "src").symlink_to(outside)
        return location

    monkeypatch.setattr(Sandbox, "locate", locate_then_swap)
    assert "symbolic link" in await fails(client, "read_text_file", path="src/secret.txt")
    assert "symbolic link" in await fails(client, "write_file", path="src/new.txt", content="x")
    assert "symbolic link" in await fails(client, "list_directory", path="src")
    assert not (outside / "new.txt").exists()


# -- the gate's assessment ----------------------------------------------------------------


async def test_assess_counts_what_a_call_touches(server: HostedServer, root: Path) -> None:
    """``affected`` is the number of files under the path (changes to existing targets, and
    any call on a directory); new targets and plain reads of a file have none."""
    assert server.assess is not None
    assert {"affected": 5} == await server.assess("directory_tree", {"path": "."})
    assert {"affected": 2} == await server.assess(
        "filesystem__move_file", {"source": "src", "destination": "lib"}
    )
    assert {"affected": 1} == await server.assess(
        "write_file", {"path": "notes.txt", "content": ""}
    )
    assert {"affected": 1} == await server.assess("edit_file", {"path": "notes.txt", "edits": []})
    assert {} == await server.assess("write_file", {"path": "new.txt", "content": ""})
    assert {} == await server.assess("read_text_file", {"path": "notes.txt"})
    assert {} == await server.assess("list_allowed_directories", {})


async def test_assess_reports_paths_it_would_refuse(
    server: HostedServer, root: Path, outside: Path
) -> None:
    """``validation_errors`` for paths outside the roots, through links, or malformed."""
    assert server.assess is not None
    (root / "leak").symlink_to(outside / "secret.txt")
    for arguments in (
        {"path": "/etc/passwd", "content": ""},
        {"path": "../project2/secret.txt", "content": ""},
        {"path": "leak", "content": ""},
        {"path": "a\x00b", "content": ""},
        {"path": 3, "content": ""},
        {},
    ):
        context = await server.assess("write_file", arguments)
        assert 1 == len(context["validation_errors"]), arguments
        assert str(outside) not in context["validation_errors"][0]
    moved = await server.assess("move_file", {"source": "notes.txt", "destination": "/tmp/x"})
    assert ["Access denied: /tmp/x is outside the allowed directories."] == moved[
        "validation_errors"
    ]
    assert ["paths: expected a non-empty list of paths"] == (
        await server.assess("read_multiple_files", {"paths": []})
    )["validation_errors"]


async def test_assess_count_is_capped(
    server: HostedServer, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting stops at AFFECTED_CAP."""
    assert server.assess is not None
    monkeypatch.setattr(filesystem, "AFFECTED_CAP", 3)
    assert {"affected": 3} == await server.assess("directory_tree", {"path": "."})
    assert 10_001 == AFFECTED_CAP


# -- configuration and the real process ---------------------------------------------------


def test_unusable_roots_warn_on_stderr(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing roots are skipped with a warning; with none left the server refuses to start."""
    hosted([tmp_path / "missing", root])
    assert "skipping allowed directory" in capsys.readouterr().err
    with pytest.raises(UserError, match="No usable allowed directory"):
        hosted([tmp_path / "missing"])


async def test_stdio_subprocess(root: Path) -> None:
    """``devfactory mcp filesystem --root DIR`` speaks MCP over stdio to the SDK's client."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "devfactory", "mcp", "filesystem", "--root", str(root)]
    )
    async with Client(params, read_timeout_seconds=30) as stdio:
        names = {tool.name for tool in (await stdio.list_tools()).tools}
        assert set(ANNOTATIONS) == names
        result = await stdio.call_tool("read_text_file", {"path": "notes.txt", "head": 2})
        assert "one\ntwo" == text(result)
        refused = await stdio.call_tool("read_text_file", {"path": "../outside/secret.txt"})
        assert refused.is_error and SECRET not in text(refused)
