"""Client roots (MCP ``roots/list``) narrow the configured roots for a call, never widen them:
the reference server let a client's roots replace its directories (srv #3929, #3133)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.types import ListRootsResult, Root, TextContent

from devfactory.mcp.filesystem import hosted


def roots_of(*paths: Path) -> Any:
    async def answer(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=path.as_uri()) for path in paths])  # type: ignore[arg-type]

    return answer


def text(result: Any) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "open").mkdir(parents=True)
    (project / "closed").mkdir()
    (project / "open" / "a.txt").write_text("open file")
    (project / "closed" / "b.txt").write_text("closed file")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "c.txt").write_text("elsewhere")
    return project


@pytest.mark.anyio
async def test_a_client_root_inside_the_configured_one_narrows_it(tree: Path) -> None:
    server = hosted([tree]).server
    async with Client(server, mode="legacy", list_roots_callback=roots_of(tree / "open")) as client:
        opened = await client.call_tool("read_text_file", {"path": str(tree / "open" / "a.txt")})
        assert not opened.is_error and "open file" == text(opened)
        closed = await client.call_tool("read_text_file", {"path": str(tree / "closed" / "b.txt")})
        assert closed.is_error and "outside the allowed directories" in text(closed)


@pytest.mark.anyio
async def test_a_client_root_never_widens(tree: Path) -> None:
    """A root above the configured one leaves it as it is; one elsewhere adds nothing."""
    server = hosted([tree]).server
    wide = roots_of(tree.parent, tree.parent / "elsewhere")
    async with Client(server, mode="legacy", list_roots_callback=wide) as client:
        inside = await client.call_tool("read_text_file", {"path": str(tree / "closed" / "b.txt")})
        assert not inside.is_error
        other = await client.call_tool(
            "read_text_file", {"path": str(tree.parent / "elsewhere" / "c.txt")}
        )
        assert other.is_error and "elsewhere" != text(other)


@pytest.mark.anyio
async def test_disjoint_client_roots_leave_nothing(tree: Path) -> None:
    server = hosted([tree]).server
    async with Client(
        server, mode="legacy", list_roots_callback=roots_of(tree.parent / "elsewhere")
    ) as client:
        refused = await client.call_tool("read_text_file", {"path": str(tree / "open" / "a.txt")})
        assert refused.is_error


@pytest.mark.anyio
async def test_without_client_roots_the_configured_roots_apply(tree: Path) -> None:
    async with Client(hosted([tree]).server, mode="legacy") as client:
        result = await client.call_tool("read_text_file", {"path": str(tree / "closed" / "b.txt")})
        assert not result.is_error
