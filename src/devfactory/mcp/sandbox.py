"""The path guard of the filesystem server: nothing outside the allowed roots is reachable.

Two layers, because a check alone is only true at the moment it runs:

1. **Lexical** (:meth:`Sandbox.locate`, pure): the requested string becomes a
   :class:`Location`, a root plus the plain names below it. Null bytes, Windows drive and
   UNC forms are refused; ``..`` is collapsed; a relative path is taken against the roots,
   never the working directory; containment is component-wise
   (:meth:`~pathlib.PurePath.is_relative_to`), so ``/srv/project2`` is not inside
   ``/srv/project`` (CVE-2025-53110). Names such as ``..test`` are just names.
2. **By file descriptor** (everything that touches the disk): a walk starts from the root's
   own descriptor (checked against the device and inode seen at start) and opens one name at
   a time with ``O_NOFOLLOW`` relative to its parent's descriptor (``dir_fd=``), so no
   symbolic link is ever followed by the kernel — including one swapped in after any check
   (TOCTOU). When the walk meets a link it reads it, re-runs the lexical check on where it
   points and starts over from that root; a link leading outside is refused
   (CVE-2025-53109), whether it points at a file, a directory, nothing (dangling) or another
   link. Writes never follow the last link at all: they write a fresh file created with
   ``O_EXCL | O_NOFOLLOW`` in the same directory and ``os.replace`` it over the name, which
   replaces a link instead of writing through it.

Every refusal and every operating-system failure is a :class:`~devfactory.errors.UserError`
whose message names the path as the caller wrote it, never where a link points. POSIX only
(``O_NOFOLLOW``, ``O_DIRECTORY``, ``dir_fd``).
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import errno
import functools
import os
import re
import secrets
import stat
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, TypeVar

from devfactory.errors import UserError

__all__ = [
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "MAX_READ_BYTES",
    "MAX_SYMLINK_HOPS",
    "MAX_WALK_ENTRIES",
    "MAX_WRITE_BYTES",
    "NARROWED",
    "Entry",
    "Location",
    "Root",
    "Sandbox",
]

MAX_READ_BYTES = 10 * 1024 * 1024
"""Largest file read whole (text, media, an edit's source); head/tail read at most this."""
MAX_WRITE_BYTES = 10 * 1024 * 1024
"""Largest content written by ``write_file`` or produced by ``edit_file``."""
MAX_ENTRIES = 10_000
"""Most entries one listing, tree or search may return."""
MAX_WALK_ENTRIES = 100_000
"""Most entries a recursive walk may visit before it gives up (search, tree, counting)."""
MAX_DEPTH = 128
"""Deepest directory nesting a recursive walk descends into."""
MAX_SYMLINK_HOPS = 40
"""Links followed while resolving one path (the kernel's own limit is 40 too)."""

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
# O_NONBLOCK: opening a FIFO for reading must not hang the server; regular files ignore it.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC
_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:(?:[\\/]|$)|\\\\)")
_RENAME_NOREPLACE = 1

_T = TypeVar("_T")


@dataclass(frozen=True)
class Root:
    """An allowed directory: its real path, the form it was configured under, its identity.

    ``alias`` keeps the configured absolute form when it differs from the real path (say
    ``/tmp/x`` for ``/private/tmp/x``), so paths written either way are recognised.
    ``device``/``inode`` let every walk notice a root that was replaced after start.
    """

    path: PurePosixPath
    alias: PurePosixPath | None
    device: int
    inode: int


@dataclass(frozen=True)
class Location:
    """A requested path after the lexical check: its root and the plain names below it."""

    root: Root
    parts: tuple[str, ...]
    requested: str

    @property
    def path(self) -> PurePosixPath:
        """The absolute path (under the root's real path) this location names."""
        return self.root.path.joinpath(*self.parts)

    @property
    def name(self) -> str:
        """The last name, or ``.`` for the root itself (so the root is opened like any leaf)."""
        return self.parts[-1] if self.parts else "."


@dataclass(frozen=True)
class Entry:
    """One directory entry as ``lstat`` sees it: links are reported, never followed."""

    name: str
    kind: Literal["file", "directory", "symlink", "other"]
    size: int


class _Followed(Exception):
    """A link was met and resolved (inside the roots) to a new location: walk again."""

    def __init__(self, location: Location) -> None:
        super().__init__(location.requested)
        self.location = location


NARROWED: contextvars.ContextVar[tuple[PurePosixPath, ...] | None] = contextvars.ContextVar(
    "devfactory_filesystem_narrowed", default=None
)
"""The client's roots for the request being served (see :meth:`Sandbox.narrow`); None:
the client gave none, so the configured roots apply as they are."""


class Sandbox:
    """The allowed roots and every way of reaching a path below them.

    Build one with :meth:`from_config`. Paths are strings as a client sends them; methods
    that touch the disk also accept a :class:`Location` from :meth:`locate`. Thread-safe:
    it holds no descriptors between calls.
    """

    def __init__(self, roots: Iterable[Root]) -> None:
        self._roots = tuple(roots)
        if not self._roots:
            raise UserError("No allowed directory: give at least one with --root.")

    @classmethod
    def from_config(
        cls, paths: Iterable[str | os.PathLike[str]], warn: Callable[[str], None]
    ) -> Sandbox:
        """Realpath each configured directory, skip (with ``warn``) those that cannot be used.

        Raises:
            UserError: none of them is a usable directory.
        """
        roots: list[Root] = []
        for configured in paths:
            text = os.fspath(configured)
            root = _open_configured_root(text, warn)
            if root is not None and all(root.path != known.path for known in roots):
                roots.append(root)
        if not roots:
            raise UserError(
                "No usable allowed directory: every --root is missing, inaccessible or not "
                "a directory (see the warnings above)."
            )
        return cls(roots)

    @property
    def roots(self) -> tuple[PurePosixPath, ...]:
        """The allowed directories, as real paths."""
        return tuple(root.path for root in self._roots)

    # -- lexical ------------------------------------------------------------------------

    def locate(self, requested: str) -> Location:
        """Turn a client's path into a :class:`Location`, or refuse it. Pure: no disk access.

        Relative paths are taken against each root in turn (the first that keeps the path
        inside a root wins); ``~`` is the user's home, which is then checked like any
        absolute path.
        """
        if not isinstance(requested, str) or not requested:
            raise UserError("A path is required.")
        if "\x00" in requested:
            raise UserError("Access denied: the path contains a null byte.")
        if _WINDOWS_PATH.match(requested):
            raise UserError(
                f"Access denied: {requested} is a Windows path; this server runs on POSIX."
            )
        expanded = requested
        if requested == "~" or requested.startswith("~/"):
            try:
                expanded = str(Path(requested).expanduser())
            except RuntimeError:  # no home directory to expand to
                raise UserError(f"Access denied: {requested} cannot be expanded.") from None
        if PurePosixPath(expanded).is_absolute():
            candidates = [_normalise(expanded)]
        else:
            candidates = [_normalise(f"{root.path}/{expanded}") for root in self._roots]
        for candidate in candidates:
            found = self._below_root(candidate)
            if found is not None:
                root, parts = found
                return Location(root, parts, requested)
        raise UserError(f"Access denied: {requested} is outside the allowed directories.")

    def check(self, requested: str) -> PurePosixPath:
        """Point-in-time check with links resolved (``realpath``): for previews, not for I/O.

        Raises:
            UserError: the path is malformed, outside the roots, or leads outside through a link.
        """
        location = self.locate(requested)
        real = os.path.realpath(location.path)
        if self._below_root(real) is None:
            raise _escaped(location)
        return PurePosixPath(real)

    def narrow(self, client_roots: Iterable[str]) -> tuple[PurePosixPath, ...]:
        """What the client's roots leave of the configured roots: each client root inside a
        configured one, and each configured root inside a client root. Never more than the
        configuration allows; a client root elsewhere adds nothing."""
        found: list[PurePosixPath] = []
        for given in client_roots:
            client = PurePosixPath(_normalise(os.path.realpath(given)))
            for root in self._roots:
                for form in (root.path, root.alias):
                    if form is None:
                        continue
                    if client.is_relative_to(form):
                        found.append(client)
                    elif form.is_relative_to(client):
                        found.append(form)
        return tuple(dict.fromkeys(found))

    def _below_root(self, normalised: str) -> tuple[Root, tuple[str, ...]] | None:
        """The deepest root holding the path, and the names below it (and, while a client's
        roots narrow this request, only inside them)."""
        path = PurePosixPath(normalised)
        narrowed = NARROWED.get()
        if narrowed is not None and not any(path.is_relative_to(p) for p in narrowed):
            return None
        best: tuple[Root, tuple[str, ...]] | None = None
        for root in self._roots:
            for form in (root.path, root.alias):
                if form is not None and path.is_relative_to(form):
                    parts = path.relative_to(form).parts
                    if best is None or len(parts) < len(best[1]):
                        best = (root, parts)
        return best

    # -- by descriptor ------------------------------------------------------------------

    def open_directory(
        self, target: str | Location, *, create: bool = False
    ) -> tuple[int, Location]:
        """Open a directory (links inside the roots followed); ``create`` makes it, ``-p`` style.

        Returns the descriptor (the caller closes it) and where the directory really is.
        """
        location = self._located(target)
        return self._guarded(
            location, lambda: self._at(location, _opener(create), follow=True, create=create)
        )

    def open_file(self, target: str | Location) -> tuple[int, Location]:
        """Open a regular file for reading (links inside the roots followed).

        Returns the descriptor (the caller closes it) and where the file really is.
        """
        location = self._located(target)
        return self._guarded(location, lambda: self._at(location, _open_regular, follow=True))

    def stat(
        self, target: str | Location, *, follow: bool = True
    ) -> tuple[os.stat_result, Location]:
        """``lstat`` of the path, or of what its links (inside the roots) lead to."""
        location = self._located(target)
        return self._guarded(
            location,
            lambda: self._at(location, _lstat_no_link if follow else _lstat, follow=follow),
        )

    def write_atomic(self, target: str | Location, data: bytes) -> None:
        """Replace the file at the path with ``data``, atomically, never writing through a link.

        The new content goes to a temporary file created ``O_EXCL | O_NOFOLLOW`` in the same
        directory, then ``os.replace`` puts it in place; an existing file keeps its mode.
        """
        if len(data) > MAX_WRITE_BYTES:
            raise UserError(f"Content is {len(data)} bytes; the limit is {MAX_WRITE_BYTES} bytes.")
        location = self._located(target)
        self._guarded(
            location,
            lambda: self._at(location, lambda fd, name: _replace(fd, name, data), follow=False),
        )

    def rename(self, source: str | Location, destination: str | Location) -> None:
        """Move a file, directory or link; fails when the destination exists.

        A link is moved, not followed (links in the parent directories are, inside the roots).
        """
        src, dst = self._located(source), self._located(destination)
        if not src.parts:
            raise UserError(f"Refused: {src.requested} is an allowed directory itself.")

        def move(src_fd: int, src_name: str) -> None:
            _lstat(src_fd, src_name)  # a missing source is reported as such

            def into(dst_fd: int, dst_name: str) -> None:
                try:
                    _rename_noreplace(src_fd, src_name, dst_fd, dst_name)
                except OSError as exc:
                    if exc.errno == errno.EEXIST:
                        raise
                    named = f"{src.requested} -> {dst.requested}"
                    if exc.errno == errno.EINVAL:
                        raise UserError(f"Cannot move a directory into itself: {named}") from exc
                    raise _os_error(exc, named) from exc

            self._guarded(dst, lambda: self._at(dst, into, follow=False))

        self._guarded(src, lambda: self._at(src, move, follow=False))

    def _located(self, target: str | Location) -> Location:
        return target if isinstance(target, Location) else self.locate(target)

    def _guarded(self, location: Location, action: Callable[[], _T]) -> _T:
        """Run ``action``, turning operating-system errors into messages about ``location``."""
        try:
            return action()
        except OSError as exc:
            raise _os_error(exc, location.requested) from exc

    def _at(
        self,
        location: Location,
        op: Callable[[int, str], _T],
        *,
        follow: bool,
        create: bool = False,
    ) -> tuple[_T, Location]:
        """Run ``op(parent_fd, name)`` on the path's last name, walking to it by descriptor.

        Links in the parent directories are always resolved (and re-checked); a link at the
        last name only when ``follow`` (``op`` signals it with ``ELOOP``, as ``O_NOFOLLOW``
        does). Returns ``op``'s result and the location it finally ran at.
        """
        for _ in range(MAX_SYMLINK_HOPS + 1):
            try:
                parent = self._walk(location, create=create)
            except _Followed as followed:
                location = followed.location
                continue
            try:
                try:
                    return op(parent, location.name), location
                except OSError as exc:
                    target = (
                        _link_target(parent, location.name)
                        if follow and exc.errno != errno.ENOENT
                        else None
                    )
                    if target is None:
                        raise
                location = self._follow(location, len(location.parts) - 1, target)
            finally:
                os.close(parent)
        raise UserError(f"Too many levels of symbolic links: {location.requested}")

    def _walk(self, location: Location, *, create: bool) -> int:
        """Open the directory holding the last name: the root, then one name at a time.

        Raises :class:`_Followed` when a parent is a link (resolved inside the roots).
        """
        fd = _open_root(location.root)
        try:
            for index, name in enumerate(location.parts[:-1]):
                try:
                    child = _open_dir(fd, name, create)
                except OSError as exc:
                    target = _link_target(fd, name) if exc.errno != errno.ENOENT else None
                    if target is None:
                        raise
                    raise _Followed(self._follow(location, index, target)) from None
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _follow(self, location: Location, index: int, target: str) -> Location:
        """Where ``location`` leads when its name at ``index`` is a link to ``target``.

        The directories before ``index`` were opened without following links, so their
        path is real and a relative target can be resolved against it lexically.
        """
        base = location.root.path.joinpath(*location.parts[:index])
        rest = "/".join(location.parts[index + 1 :])
        joined = target if target.startswith("/") else f"{base}/{target}"
        found = self._below_root(_normalise(f"{joined}/{rest}" if rest else joined))
        if found is None:
            raise _escaped(location)
        root, parts = found
        return Location(root, parts, location.requested)

    # -- listing ------------------------------------------------------------------------

    def scan(self, fd: int, *, limit: int | None = None) -> list[Entry]:
        """The entries of an open directory, sorted by name; at most ``limit`` of them
        (default :data:`MAX_ENTRIES`). An entry removed while listing is left out."""
        limit = MAX_ENTRIES if limit is None else limit
        entries: list[Entry] = []
        with os.scandir(fd) as it:
            for item in it:
                if len(entries) >= limit:
                    raise UserError(
                        f"The directory has more than {limit} entries; the limit is {limit}."
                    )
                with contextlib.suppress(FileNotFoundError):
                    entries.append(_entry(item))
        entries.sort(key=lambda entry: entry.name)
        return entries

    def walk(
        self,
        fd: int,
        *,
        prune: Callable[[tuple[str, ...], Entry], bool] | None = None,
        limit: int | None = None,
    ) -> Generator[tuple[tuple[str, ...], Entry]]:
        """Every entry below an open directory, depth first, as (names from ``fd``, entry).

        Never descends into a link: subdirectories are opened ``O_NOFOLLOW`` relative to
        their parent. ``prune`` drops an entry (and, for a directory, what is under it);
        more than ``limit`` entries (default :data:`MAX_WALK_ENTRIES`) is an error.
        """
        limit = MAX_WALK_ENTRIES if limit is None else limit
        seen = 0

        def below(dir_fd: int, prefix: tuple[str, ...]) -> Generator[tuple[tuple[str, ...], Entry]]:
            nonlocal seen
            if len(prefix) >= MAX_DEPTH:
                raise UserError(
                    f"Directories nest deeper than {MAX_DEPTH} levels; the limit is {MAX_DEPTH}."
                )
            for entry in self.scan(dir_fd, limit=limit):
                parts = (*prefix, entry.name)
                if prune is not None and prune(parts, entry):
                    continue
                seen += 1
                if seen > limit:
                    raise UserError(
                        f"More than {limit} entries below this directory; narrow the path or exclude more."
                    )
                yield parts, entry
                if entry.kind == "directory":
                    try:
                        child = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
                    except OSError:
                        continue  # removed or swapped for a link since the scan: skip it
                    try:
                        yield from below(child, parts)
                    finally:
                        os.close(child)

        return below(fd, ())


def _normalise(path: str) -> str:
    """Collapse ``.``, ``..`` and repeated slashes without touching the disk."""
    normalised = os.path.normpath(path)
    return "/" + normalised.lstrip("/") if normalised.startswith("//") else normalised


def _escaped(location: Location) -> UserError:
    # The message never says where the link points: that could be the secret itself.
    return UserError(
        f"Access denied: {location.requested} leads outside the allowed directories through a symbolic link."
    )


def _open_configured_root(text: str, warn: Callable[[str], None]) -> Root | None:
    """The :class:`Root` for one configured directory, or ``None`` after a warning."""
    if "\x00" in text:
        warn(f"skipping allowed directory {text!r}: it contains a null byte")
        return None
    absolute = _normalise(str(Path(text).expanduser().absolute()))
    try:
        real = os.path.realpath(absolute, strict=True)
        fd = os.open(real, _DIR_FLAGS)
    except OSError as exc:
        warn(f"skipping allowed directory {text}: {exc.strerror or exc}")
        return None
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    path = PurePosixPath(real)
    alias = PurePosixPath(absolute)
    return Root(path, alias if alias != path else None, info.st_dev, info.st_ino)


def _open_root(root: Root) -> int:
    """Open a root by its real path, refusing it if it is no longer the directory seen at start."""
    try:
        fd = os.open(str(root.path), _DIR_FLAGS)
    except OSError as exc:
        raise UserError(
            f"Refused: the allowed directory {root.path} is no longer available ({exc.strerror})."
        ) from exc
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino) != (root.device, root.inode):
        os.close(fd)
        raise UserError(
            f"Refused: the allowed directory {root.path} was replaced since the server started."
        )
    return fd


def _open_dir(parent: int, name: str, create: bool) -> int:
    """Open a subdirectory without following a link, making it first when ``create``."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            raise
    with contextlib.suppress(FileExistsError):  # made concurrently, or a link: the open decides
        os.mkdir(name, 0o777, dir_fd=parent)
    return os.open(name, _DIR_FLAGS, dir_fd=parent)


def _opener(create: bool) -> Callable[[int, str], int]:
    return lambda parent, name: _open_dir(parent, name, create)


def _open_regular(parent: int, name: str) -> int:
    fd = os.open(name, _FILE_FLAGS, dir_fd=parent)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise OSError(errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL, "Not a regular file")
    return fd


def _lstat(parent: int, name: str) -> os.stat_result:
    return os.stat(name, dir_fd=parent, follow_symlinks=False)


def _lstat_no_link(parent: int, name: str) -> os.stat_result:
    """``lstat`` that reports a link as ``ELOOP``, so :meth:`Sandbox._at` follows it."""
    info = _lstat(parent, name)
    if stat.S_ISLNK(info.st_mode):
        raise OSError(errno.ELOOP, "Is a symbolic link")
    return info


def _link_target(parent: int, name: str) -> str | None:
    """Where a link points, or ``None`` when ``name`` is not a link (any more)."""
    try:
        return os.readlink(name, dir_fd=parent)
    except OSError:
        return None


def _replace(parent: int, name: str, data: bytes) -> None:
    """Write ``data`` to a fresh file beside ``name`` and rename it over ``name``."""
    try:
        old: os.stat_result | None = _lstat(parent, name)
    except FileNotFoundError:
        old = None
    if name == "." or (old is not None and stat.S_ISDIR(old.st_mode)):
        raise OSError(errno.EISDIR, "Is a directory")
    temporary = f".devfactory-{secrets.token_hex(8)}.tmp"
    fd = os.open(temporary, _NEW_FILE_FLAGS, 0o666, dir_fd=parent)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if old is not None and stat.S_ISREG(old.st_mode):
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, name, src_dir_fd=parent, dst_dir_fd=parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=parent)
        raise


def _rename_noreplace(src_dir: int, src: str, dst_dir: int, dst: str) -> None:
    """``renameat2(RENAME_NOREPLACE)`` where the C library has it, else check then rename."""
    if dst == ".":
        raise OSError(errno.EEXIST, "File exists")
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is not None:
        result = renameat2(src_dir, os.fsencode(src), dst_dir, os.fsencode(dst), _RENAME_NOREPLACE)
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(code, os.strerror(code))
    # No renameat2 (or not on this filesystem): a small window remains between the two steps.
    with contextlib.suppress(FileNotFoundError):
        _lstat(dst_dir, dst)
        raise OSError(errno.EEXIST, "File exists")
    os.rename(src, dst, src_dir_fd=src_dir, dst_dir_fd=dst_dir)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _entry(item: os.DirEntry[str]) -> Entry:
    info = item.stat(follow_symlinks=False)
    kind: Literal["file", "directory", "symlink", "other"]
    if stat.S_ISDIR(info.st_mode):
        kind = "directory"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    elif stat.S_ISLNK(info.st_mode):
        kind = "symlink"
    else:
        kind = "other"
    return Entry(item.name, kind, info.st_size)


_MESSAGES = {
    errno.ENOENT: "No such file or directory",
    errno.ENOTDIR: "Not a directory",
    errno.EISDIR: "Is a directory",
    errno.EEXIST: "Destination already exists",
    errno.EACCES: "Permission denied",
    errno.EPERM: "Operation not permitted",
    errno.ENOTEMPTY: "Directory not empty",
    errno.EXDEV: "Cannot move across filesystems",
    errno.EINVAL: "Not a regular file",
    errno.ELOOP: "Too many levels of symbolic links",
    errno.ENAMETOOLONG: "File name too long",
    errno.ENOSPC: "No space left on device",
    errno.EROFS: "Read-only file system",
}


def _os_error(exc: OSError, requested: str) -> UserError:
    """A message for an operating-system failure: the caller's path, never a resolved one."""
    reason = _MESSAGES.get(exc.errno or 0) or exc.strerror or type(exc).__name__
    return UserError(f"{reason}: {requested}")
