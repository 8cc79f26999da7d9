"""The path guard alone: the lexical check, then every descriptor-based way in or out.

Each attack class of docs/mcp-filesystem.md (and the edge-case table in the MCP reference)
has a test here; tests/mcp/test_filesystem.py runs the same attacks through the tools.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from devfactory.errors import UserError
from devfactory.mcp import sandbox as sandbox_module
from devfactory.mcp.sandbox import Location, Sandbox

SECRET = "TOP SECRET, outside the root"
SIBLINGS = ["project2", "project_backup", "project-old", "projectile", "project.bak"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``<tmp>/project`` (the root) beside prefix siblings and ``<tmp>/outside``, each with a secret."""
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "file.txt").write_text("inside\n")
    (project / "sub" / "nested.txt").write_text("nested\n")
    for name in ("..test", "test..", "te..st"):
        (project / name).write_text(f"lookalike {name}\n")
    for name in [*SIBLINGS, "outside"]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "secret.txt").write_text(SECRET)
    return project


@pytest.fixture
def outside(root: Path) -> Path:
    return root.parent / "outside"


@pytest.fixture
def box(root: Path) -> Sandbox:
    return Sandbox.from_config([root], warn=pytest.fail)


def read(box: Sandbox, target: str | Location) -> str:
    fd, _ = box.open_file(target)
    try:
        return os.read(fd, 1 << 16).decode()
    finally:
        os.close(fd)


def snapshot(directory: Path) -> dict[str, str]:
    """Every path under ``directory`` with its content (or its kind), to prove nothing changed."""
    found: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        key = str(path.relative_to(directory))
        if path.is_symlink():
            found[key] = f"-> {path.readlink()}"
        elif path.is_dir():
            found[key] = "<dir>"
        else:
            found[key] = path.read_text()
    return found


@pytest.fixture
def untouched(root: Path) -> Iterator[None]:
    """Fails the test if anything beside the root (outside, the siblings) changed."""
    before = snapshot(root.parent)
    yield
    after = snapshot(root.parent)
    changed = {key for key in before.keys() | after.keys() if not key.startswith("project/")}
    assert {k: before.get(k) for k in changed} == {k: after.get(k) for k in changed}


# -- lexical ------------------------------------------------------------------------------


def test_relative_and_absolute_paths_inside_the_root(box: Sandbox, root: Path) -> None:
    """A relative path is taken against the root, not the working directory."""
    assert ("sub", "nested.txt") == box.locate("sub/nested.txt").parts
    assert ("sub", "nested.txt") == box.locate(str(root / "sub" / "nested.txt")).parts
    assert () == box.locate(".").parts
    assert () == box.locate(str(root)).parts
    assert ("file.txt",) == box.locate("sub/../file.txt").parts


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "../outside/secret.txt",
        "../../../../../../etc/passwd",
        "./../outside",
        "sub/../../outside/secret.txt",
        "{root}/../outside/secret.txt",
        "{root}/sub/../../outside",
        "{root}/..",
    ],
)
def test_traversal_is_refused(box: Sandbox, root: Path, path: str) -> None:
    """``..`` may move around inside the root, never above it."""
    with pytest.raises(UserError, match="outside the allowed directories"):
        box.locate(path.format(root=root))


@pytest.mark.parametrize("name", ["..test", "test..", "te..st", "sub/..test", "...", "..."])
def test_lookalike_names_are_allowed(box: Sandbox, name: str) -> None:
    """Names that merely contain dots are names, not traversal."""
    assert tuple(name.split("/")) == box.locate(name).parts


@pytest.mark.parametrize("sibling", SIBLINGS)
def test_prefix_siblings_are_refused(box: Sandbox, root: Path, sibling: str) -> None:
    """CVE-2025-53110: ``/x/project2`` shares a string prefix with ``/x/project``, not a parent."""
    for path in (
        str(root.parent / sibling / "secret.txt"),
        f"../{sibling}/secret.txt",
        str(root) + sibling[7:],
    ):
        with pytest.raises(UserError, match="outside the allowed directories"):
            box.locate(path)


@pytest.mark.parametrize("path", ["/etc/passwd", "//etc/passwd", "/", "{outside}/secret.txt"])
def test_absolute_paths_outside_are_refused(box: Sandbox, outside: Path, path: str) -> None:
    """An absolute path is never joined onto the root (``Path(base) / "/etc"`` drops the base)."""
    with pytest.raises(UserError, match="outside the allowed directories"):
        box.locate(path.format(outside=outside))


@pytest.mark.parametrize(
    "path", ["file.txt\x00", "\x00", "sub/\x00/../file.txt", "file.txt\x00../../outside"]
)
def test_null_bytes_are_refused(box: Sandbox, path: str) -> None:
    """A null byte would truncate the path in C; it is refused before anything else."""
    with pytest.raises(UserError, match="null byte"):
        box.locate(path)


@pytest.mark.parametrize("path", ["C:\\Windows\\system32", "c:/x", "D:", "\\\\server\\share\\x"])
def test_windows_paths_are_refused(box: Sandbox, path: str) -> None:
    """Drive letters and UNC paths are refused rather than becoming odd names inside the root."""
    with pytest.raises(UserError, match="Windows path"):
        box.locate(path)


def test_empty_path_and_home_outside(box: Sandbox) -> None:
    """An empty path is an error; ``~`` is expanded and then checked like any absolute path."""
    with pytest.raises(UserError, match="required"):
        box.locate("")
    with pytest.raises(UserError, match="outside"):
        box.locate("~/.ssh/id_rsa")


def test_nested_roots_and_relative_paths_across_roots(root: Path, outside: Path) -> None:
    """The deepest root holds a path; a relative path may reach a second root, never beyond."""
    box = Sandbox.from_config([root, root / "sub", outside], warn=pytest.fail)
    nested = box.locate(str(root / "sub" / "nested.txt"))
    assert (root / "sub", ("nested.txt",)) == (Path(nested.root.path), nested.parts)
    assert outside == Path(box.locate("../outside/secret.txt").root.path)
    with pytest.raises(UserError):
        box.locate(str(root.parent / "project2" / "secret.txt"))
    with pytest.raises(UserError):
        box.locate("../../project2/secret.txt")


# -- configured roots ---------------------------------------------------------------------


def test_unusable_roots_are_skipped_with_a_warning(root: Path, tmp_path: Path) -> None:
    """Missing, non-directory and null-byte roots are skipped and named in a warning."""
    warnings: list[str] = []
    box = Sandbox.from_config(
        [tmp_path / "missing", root / "file.txt", "bad\x00root", root, root], warn=warnings.append
    )
    assert (root,) == tuple(Path(p) for p in box.roots)
    assert 3 == len(warnings)
    assert "missing" in warnings[0] and "file.txt" in warnings[1] and "null byte" in warnings[2]


def test_no_usable_root_is_a_clear_error(tmp_path: Path) -> None:
    """With nothing left the server does not start."""
    with pytest.raises(UserError, match="No usable allowed directory"):
        Sandbox.from_config([tmp_path / "missing", "x\x00"], warn=lambda message: None)


def test_a_symlinked_root_is_realpathed_and_its_alias_accepted(root: Path, tmp_path: Path) -> None:
    """A root configured through a link is used by its real path; both spellings work."""
    (tmp_path / "alias").symlink_to(root)
    box = Sandbox.from_config([tmp_path / "alias"], warn=pytest.fail)
    assert (root,) == tuple(Path(p) for p in box.roots)
    assert "nested\n" == read(box, str(tmp_path / "alias" / "sub" / "nested.txt"))
    assert "inside\n" == read(box, str(root / "file.txt"))


def test_a_replaced_root_is_refused(root: Path, tmp_path: Path) -> None:
    """A root swapped for a link, or for another directory, after start is not used."""
    box = Sandbox.from_config([root], warn=pytest.fail)
    root.rename(tmp_path / "moved")
    root.symlink_to(tmp_path / "outside")
    with pytest.raises(UserError, match="no longer available"):
        read(box, "secret.txt")
    root.unlink()
    root.mkdir()
    (root / "file.txt").write_text("impostor")
    with pytest.raises(UserError, match="replaced since the server started"):
        read(box, "file.txt")


# -- symbolic links -----------------------------------------------------------------------


def test_links_inside_the_root_are_followed_for_reads(box: Sandbox, root: Path) -> None:
    """A link to a file or directory inside the root resolves and is re-checked."""
    (root / "to_file").symlink_to("file.txt")
    (root / "to_dir").symlink_to(root / "sub")
    (root / "chain").symlink_to("to_file")
    assert "inside\n" == read(box, "to_file")
    assert "nested\n" == read(box, "to_dir/nested.txt")
    assert "inside\n" == read(box, "chain")
    _, location = box.open_file("chain")
    assert ("file.txt",) == location.parts


def test_link_to_a_file_outside(box: Sandbox, root: Path, outside: Path, untouched: None) -> None:
    """CVE-2025-53109: the link is followed, its target checked, and refused; the target's path
    is not in the message."""
    (root / "leak").symlink_to(outside / "secret.txt")
    with pytest.raises(UserError, match="symbolic link") as caught:
        read(box, "leak")
    assert str(outside) not in str(caught.value)
    with pytest.raises(UserError):
        box.stat("leak")


def test_link_to_a_directory_outside(
    box: Sandbox, root: Path, outside: Path, untouched: None
) -> None:
    """A linked directory outside can be neither listed, read through, created in nor written."""
    (root / "door").symlink_to(outside)
    with pytest.raises(UserError, match="symbolic link"):
        box.open_directory("door")
    with pytest.raises(UserError, match="symbolic link"):
        read(box, "door/secret.txt")
    with pytest.raises(UserError, match="symbolic link"):
        box.write_atomic("door/new.txt", b"x")
    with pytest.raises(UserError, match="symbolic link"):
        box.open_directory("door/newdir", create=True)
    with pytest.raises(UserError, match="symbolic link"):
        box.rename("file.txt", "door/file.txt")


def test_relative_link_climbing_out(box: Sandbox, root: Path, untouched: None) -> None:
    """A relative target with ``..`` is resolved against the link's real directory."""
    (root / "sub" / "up").symlink_to("../../outside/secret.txt")
    (root / "sub" / "ok").symlink_to("../file.txt")
    assert "inside\n" == read(box, "sub/ok")
    with pytest.raises(UserError, match="symbolic link"):
        read(box, "sub/up")


def test_dangling_link_leaf_pointing_outside(
    box: Sandbox, root: Path, outside: Path, untouched: None
) -> None:
    """A write replaces a dangling link instead of creating its target outside; mkdir
    through it is refused."""
    (root / "trap").symlink_to(outside / "new.txt")
    (root / "trapdir").symlink_to(outside / "newdir")
    with pytest.raises(UserError, match="symbolic link"):
        read(box, "trap")
    box.write_atomic("trap", b"written inside")
    assert not (root / "trap").is_symlink()
    assert "written inside" == (root / "trap").read_text()
    with pytest.raises(UserError, match="symbolic link"):
        box.open_directory("trapdir", create=True)
    assert not (outside / "new.txt").exists() and not (outside / "newdir").exists()


def test_writes_replace_a_link_to_an_outside_file(
    box: Sandbox, root: Path, outside: Path, untouched: None
) -> None:
    """Writes never follow the last link, even one that exists: the link itself is replaced."""
    (root / "leak").symlink_to(outside / "secret.txt")
    box.write_atomic("leak", b"mine")
    assert "mine" == (root / "leak").read_text()
    assert not (root / "leak").is_symlink()


def test_chained_links_leading_outside(
    box: Sandbox, root: Path, outside: Path, untouched: None
) -> None:
    """Every hop of a chain is checked: inside → inside → outside is refused."""
    (root / "hop").symlink_to(outside / "secret.txt")
    (root / "sub" / "chain").symlink_to("../hop")
    (root / "dirhop").symlink_to(outside)
    (root / "dirchain").symlink_to("dirhop")
    with pytest.raises(UserError, match="symbolic link"):
        read(box, "sub/chain")
    with pytest.raises(UserError, match="symbolic link"):
        read(box, "dirchain/secret.txt")


def test_link_loops_end(box: Sandbox, root: Path) -> None:
    """A cycle of links stops after MAX_SYMLINK_HOPS."""
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    with pytest.raises(UserError, match="Too many levels"):
        read(box, "a")


def test_check_resolves_links_for_previews(box: Sandbox, root: Path, outside: Path) -> None:
    """``check`` (used by assess) refuses what the I/O would refuse, at this moment."""
    (root / "leak").symlink_to(outside / "secret.txt")
    assert root / "file.txt" == Path(box.check("file.txt"))
    with pytest.raises(UserError, match="symbolic link"):
        box.check("leak")


# -- swaps between check and use (TOCTOU) -------------------------------------------------


def test_directory_swapped_for_a_link_after_the_check(
    box: Sandbox, root: Path, outside: Path, untouched: None
) -> None:
    """A location checked while ``sub`` was a directory is refused once ``sub`` became a link."""
    checked = box.locate("sub/secret.txt")
    new = box.locate("sub/new.txt")
    (root / "sub").rename(root / "sub_old")
    (root / "sub").symlink_to(outside)
    with pytest.raises(UserError, match="symbolic link"):
        read(box, checked)
    with pytest.raises(UserError, match="symbolic link"):
        box.write_atomic(new, b"x")
    assert not (outside / "new.txt").exists()


def test_file_swapped_for_a_link_after_the_check(
    box: Sandbox, root: Path, outside: Path, untouched: None
) -> None:
    """A file replaced by a link after the check: reads refuse, writes replace the link."""
    checked = box.locate("file.txt")
    (root / "file.txt").unlink()
    (root / "file.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(UserError, match="symbolic link"):
        read(box, checked)
    box.write_atomic(checked, b"new")
    assert "new" == (root / "file.txt").read_text()


def test_leaf_swapped_after_the_parent_was_opened(
    box: Sandbox, root: Path, outside: Path, monkeypatch: pytest.MonkeyPatch, untouched: None
) -> None:
    """The tightest race: the parent is open, then the leaf becomes a link; ``O_NOFOLLOW``
    on the final open notices, and the link is checked like any other."""
    walk = Sandbox._walk

    def walk_then_swap(self: Sandbox, location: Location, *, create: bool) -> int:
        fd = walk(self, location, create=create)
        leaf = root.joinpath(*location.parts)
        if not leaf.is_symlink():
            leaf.unlink()
            leaf.symlink_to(outside / "secret.txt")
        return fd

    monkeypatch.setattr(Sandbox, "_walk", walk_then_swap)
    with pytest.raises(UserError, match="symbolic link"):
        read(box, "sub/nested.txt")


def test_parent_swapped_after_it_was_opened(
    box: Sandbox, root: Path, outside: Path, monkeypatch: pytest.MonkeyPatch, untouched: None
) -> None:
    """Once ``sub`` is open by descriptor, swapping the name for a link changes nothing: the
    write lands in the real directory (now ``sub_old``), never outside."""
    walk = Sandbox._walk

    def walk_then_swap(self: Sandbox, location: Location, *, create: bool) -> int:
        fd = walk(self, location, create=create)
        if not (root / "sub").is_symlink():
            (root / "sub").rename(root / "sub_old")
            (root / "sub").symlink_to(outside)
        return fd

    monkeypatch.setattr(Sandbox, "_walk", walk_then_swap)
    box.write_atomic("sub/new.txt", b"written")
    assert "written" == (root / "sub_old" / "new.txt").read_text()
    assert not (outside / "new.txt").exists()


# -- writes, moves, listings --------------------------------------------------------------


def test_atomic_write_keeps_the_mode_and_leaves_no_temporary(box: Sandbox, root: Path) -> None:
    """The replaced file keeps its permission bits; the temporary file is gone."""
    (root / "file.txt").chmod(0o600)
    box.write_atomic("file.txt", b"rewritten")
    assert "rewritten" == (root / "file.txt").read_text()
    assert 0o600 == stat.S_IMODE((root / "file.txt").stat().st_mode)
    assert [] == [p.name for p in root.iterdir() if p.name.startswith(".devfactory-")]


def test_write_limits_and_directories(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Oversized content, a directory, the root and a missing parent are clear errors."""
    monkeypatch.setattr(sandbox_module, "MAX_WRITE_BYTES", 4)
    with pytest.raises(UserError, match="limit is 4 bytes"):
        box.write_atomic("file.txt", b"12345")
    with pytest.raises(UserError, match="Is a directory: sub"):
        box.write_atomic("sub", b"x")
    with pytest.raises(UserError, match="Is a directory"):
        box.write_atomic(".", b"x")
    with pytest.raises(UserError, match="No such file or directory: nope/x"):
        box.write_atomic("nope/x", b"x")


def test_rename_never_replaces(box: Sandbox, root: Path, outside: Path) -> None:
    """A move fails on an existing destination, refuses the root, and moves a link itself."""
    with pytest.raises(UserError, match="already exists"):
        box.rename("file.txt", "sub/../..test")
    assert "inside\n" == (root / "file.txt").read_text()
    with pytest.raises(UserError, match="allowed directory itself"):
        box.rename(".", "elsewhere")
    with pytest.raises(UserError, match="No such file or directory: ghost"):
        box.rename("ghost", "x")
    with pytest.raises(UserError, match="into itself"):
        box.rename("sub", "sub/inner")
    (root / "leak").symlink_to(outside / "secret.txt")
    box.rename("leak", "sub/leak")
    assert (root / "sub" / "leak").is_symlink()
    assert SECRET == (outside / "secret.txt").read_text()


def test_mkdir_p_and_fifo(box: Sandbox, root: Path) -> None:
    """``create`` makes every missing level; a FIFO is refused without blocking."""
    fd, location = box.open_directory("a/b/c", create=True)
    os.close(fd)
    assert ("a", "b", "c") == location.parts and (root / "a" / "b" / "c").is_dir()
    os.mkfifo(root / "pipe")
    with pytest.raises(UserError, match="Not a regular file: pipe"):
        read(box, "pipe")
    with pytest.raises(UserError, match="Is a directory: sub"):
        read(box, "sub")


def test_scan_and_walk_are_bounded_and_never_follow_links(
    box: Sandbox, root: Path, outside: Path
) -> None:
    """Entries are listed by ``lstat``; a linked directory is an entry, not a subtree."""
    (root / "door").symlink_to(outside)
    fd, _ = box.open_directory(".")
    try:
        kinds = {entry.name: entry.kind for entry in box.scan(fd)}
        walked = ["/".join(parts) for parts, _ in box.walk(fd)]
        with pytest.raises(UserError, match="more than 2 entries"):
            box.scan(fd, limit=2)
        with pytest.raises(UserError, match=r"(?i)more than 3 entries"):
            list(box.walk(fd, limit=3))
    finally:
        os.close(fd)
    assert (
        "symlink" == kinds["door"] and "directory" == kinds["sub"] and "file" == kinds["file.txt"]
    )
    assert "door" in walked and "sub/nested.txt" in walked
    assert not any(path.startswith("door/") for path in walked)


def test_walk_depth_is_bounded(box: Sandbox, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deep nesting stops at MAX_DEPTH with a clear error."""
    monkeypatch.setattr(sandbox_module, "MAX_DEPTH", 2)
    (root / "a" / "b" / "c").mkdir(parents=True)
    fd, _ = box.open_directory(".")
    try:
        with pytest.raises(UserError, match="deeper than 2"):
            list(box.walk(fd))
    finally:
        os.close(fd)
