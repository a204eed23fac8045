"""Archives and folders that stay in their folder: the one routine that unpacks every archive
the project opens (model.tar.gz, sourcedir.tar.gz) and the one that copies user folders.

Each tar member is checked before anything is written and each file is written here, in
chunks, from `TarFile.extractfile`: tarfile's `data` filter is not relied on, because Python
3.11.7 (and other unpatched interpreters) let a crafted archive through it (CVE-2025-4517).
Rules, the same for archives and folders: relative paths only, no `..`; regular files, folders,
symbolic links whose target stays inside the tree and hard links to a file of the archive
(`smlocal.core.links`: links are made last, nothing is written through one); no devices or
fifos; at most `MAX_MEMBERS` entries and `max_unpacked_bytes()` bytes, and for an archive at
most `max_unpack_ratio()` times its own size once past `unpack_ratio_floor()` bytes. Sizes are
checked from each member's header before its bytes are written, and decompression stops as
soon as the archive's stream passes the bound, so a bomb costs neither memory nor disk. An
archive that breaks a rule leaves nothing of itself in the target folder.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from smlocal.core.errors import ArchiveError
from smlocal.core.links import Links, Parts, mkdirs

__all__ = ["ArchiveError", "extract", "inside", "relative_parts", "safe_join"]

# An unpacked model or sourcedir larger than this is refused (SMLOCAL_MAX_UNPACKED_BYTES): the
# storage volume a SageMaker endpoint gets by default (a larger model needs VolumeSizeInGB there).
MAX_UNPACKED_BYTES = 30 * 1024**3
# Past the floor, an archive may unpack to at most this many times its own size
# (SMLOCAL_MAX_UNPACK_RATIO, SMLOCAL_UNPACK_RATIO_FLOOR): model weights compress about 1.1x,
# code and text about 5x, a gigabyte of zeros about 1000x.
MAX_UNPACK_RATIO = 100
UNPACK_RATIO_FLOOR = 64 * 1024**2
MAX_MEMBERS = 100_000
_CHUNK = 1024 * 1024
# tarfile reads a member header (with its pax records or GNU long name) in one read; a
# legitimate one is a few KiB, so a larger read can only be a bomb aimed at memory.
_MAX_READ = _CHUNK
# Headers and padding take up to this much per member on top of the file bytes.
_HEADER_SLACK = 2048
_KINDS = {
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a fifo",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


def _setting(name: str, default: int, *, zero: bool = False) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0 or (value == 0 and not zero):
        kind = "a non-negative" if zero else "a positive"
        raise ArchiveError(f"{name} must be {kind} integer, got {raw!r}")
    return value


def max_unpacked_bytes() -> int:
    """The size cap of an unpacked archive or a copied folder (SMLOCAL_MAX_UNPACKED_BYTES)."""
    return _setting("SMLOCAL_MAX_UNPACKED_BYTES", MAX_UNPACKED_BYTES)


def max_unpack_ratio() -> int:
    """How many times its own size an archive may unpack to (SMLOCAL_MAX_UNPACK_RATIO)."""
    return _setting("SMLOCAL_MAX_UNPACK_RATIO", MAX_UNPACK_RATIO)


def unpack_ratio_floor() -> int:
    """The unpacked size under which any ratio passes (SMLOCAL_UNPACK_RATIO_FLOOR)."""
    return _setting("SMLOCAL_UNPACK_RATIO_FLOOR", UNPACK_RATIO_FLOOR, zero=True)


@dataclass(frozen=True)
class Bounds:
    """What one archive may unpack to: the size cap, and the ratio to its own size."""

    size: int
    ratio: int
    floor: int
    archive_bytes: int

    @classmethod
    def of(cls, source: Path | bytes, max_bytes: int | None) -> Bounds:
        archive_bytes = len(source) if isinstance(source, bytes) else os.stat(source).st_size
        size = max_unpacked_bytes() if max_bytes is None else max_bytes
        return cls(size, max_unpack_ratio(), unpack_ratio_floor(), archive_bytes)

    @property
    def by_ratio(self) -> int:
        return max(self.floor, self.ratio * self.archive_bytes)

    @property
    def limit(self) -> int:
        return min(self.size, self.by_ratio)

    def check(self, name: str, unpacked: int) -> None:
        """ArchiveError when member `name` takes the unpacked size to `unpacked`, past a bound."""
        if unpacked <= self.limit:
            return
        if self.by_ratio < self.size:
            raise ArchiveError(
                f"member {name!r} takes the unpacked size past {self.by_ratio} bytes, "
                f"{self.ratio} times the archive's {self.archive_bytes} bytes: a compression "
                "bomb, or data that compresses far better than models and code do "
                "(SMLOCAL_MAX_UNPACK_RATIO sets the ratio, SMLOCAL_UNPACK_RATIO_FLOOR the size "
                "under which any ratio passes)"
            )
        raise ArchiveError(
            f"member {name!r} takes the unpacked size past the cap of {self.size} bytes "
            "(SMLOCAL_MAX_UNPACKED_BYTES sets the cap)"
        )


def relative_parts(name: str, *, what: str = "member") -> Parts:
    """The components of a relative path (`.` and empty ones dropped); ArchiveError for an
    absolute path, a `..` component or a NUL byte."""
    if "\x00" in name:
        raise ArchiveError(f"{what} {name!r} has a NUL byte in its path")
    if name.startswith("/"):
        raise ArchiveError(f"{what} {name!r} is an absolute path; only relative paths may be used")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise ArchiveError(f"{what} {name!r} has a '..' component; it would leave the folder")
    return parts


def safe_join(root: Path, name: str, *, what: str = "path") -> Path:
    """`root/name` where `name` is relative, has no `..` and does not resolve (through a link
    already on disk) outside `root`; ArchiveError otherwise."""
    path = Path(root).joinpath(*relative_parts(name, what=what))
    base = Path(root).resolve()
    if not path.resolve().is_relative_to(base):
        raise ArchiveError(f"{what} {name!r} resolves outside {base}")
    return path


def inside(root: Path, *parts: str) -> Path:
    """`root/part/...` for names taken from a request; ArchiveError if one is empty, `.`, `..`
    or holds a `/`, or the result resolves outside `root`."""
    for part in parts:
        if part in ("", ".", "..") or "/" in part or "\x00" in part:
            raise ArchiveError(f"name {part!r} cannot be a folder name under {root}")
    return safe_join(root, "/".join(parts), what="name")


class _Bounded(io.RawIOBase):
    """A decompressed stream that refuses to go past `limit` bytes or read a huge block."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self._inner = inner
        self._limit = limit
        self.last = ""  # the member read last, for the messages

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._inner.tell()

    def _check(self, end: int) -> None:
        if end > self._limit:
            after = f" after member {self.last!r}" if self.last else ""
            raise ArchiveError(
                f"the archive expands past the cap of {self._limit} bytes{after}; "
                "it is refused (a compression bomb or a model over the size cap)"
            )

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._check(offset)
        return self._inner.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > _MAX_READ:
            after = f" after member {self.last!r}" if self.last else ""
            raise ArchiveError(
                f"a member header{after} asks for {size} bytes at once, over the "
                f"{_MAX_READ}-byte header cap"
            )
        self._check(self._inner.tell() + size)
        return self._inner.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@contextlib.contextmanager
def _opened(source: Path | bytes) -> Iterator[IO[bytes]]:
    """The archive's decompressed bytes (gzip, bzip2, xz or plain tar, told by magic)."""
    with contextlib.ExitStack() as stack:
        raw: IO[bytes] = (
            io.BytesIO(source)
            if isinstance(source, bytes)
            else stack.enter_context(open(source, "rb"))
        )
        magic = raw.read(6)
        raw.seek(0)
        if magic.startswith(b"\x1f\x8b"):
            yield stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        elif magic.startswith(b"BZh"):
            yield stack.enter_context(bz2.BZ2File(raw, mode="rb"))
        elif magic.startswith(b"\xfd7zXZ\x00"):
            yield stack.enter_context(lzma.LZMAFile(raw, mode="rb"))
        else:
            yield raw


def _clear(path: Path, name: str) -> None:
    """Make room for member `name` at `path`: a file there (a duplicate member, a hard link) is
    removed, never written through; a folder there is an error."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            raise ArchiveError(f"member {name!r} is a file where a folder already is")
        os.unlink(path)


def _write(data: IO[bytes], path: Path, size: int, mode: int, name: str) -> None:
    _clear(path, name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    written = 0
    with os.fdopen(os.open(path, flags, mode), "wb") as out:
        while written < size:
            chunk = data.read(min(_CHUNK, size - written))
            if not chunk:
                raise ArchiveError(f"member {name!r} is cut short: the archive is truncated")
            out.write(chunk)
            written += len(chunk)


def _hard_link(root: Path, parts: Parts, member: tarfile.TarInfo, files: set[Parts]) -> None:
    """A hard link member, made at once: its target must be a file this archive wrote."""
    name, linkname = member.name, member.linkname
    try:
        target = relative_parts(linkname)
    except ArchiveError:
        target = None
    if not parts or target is None or target not in files:
        raise ArchiveError(
            f"member {name!r} is a hard link to {linkname!r}, which is not a file of the "
            "archive before it; only hard links to its own files are allowed"
        )
    path = mkdirs(root, parts[:-1], f"member {name!r}") / parts[-1]
    _clear(path, name)
    os.link(root.joinpath(*target), path, follow_symlinks=False)


def _check(member: tarfile.TarInfo, parts: Parts) -> None:
    """ArchiveError for a member that is no file, folder or link, or a file without a name."""
    if member.isdir() or member.issym() or member.islnk():
        return
    if not member.isfile() or member.issparse():
        kind = "a sparse file" if member.issparse() else _KINDS.get(member.type, "of an odd type")
        raise ArchiveError(
            f"member {member.name!r} is {kind}; only regular files, folders and links are allowed"
        )
    if not parts:
        raise ArchiveError(f"member {member.name!r} is a file without a name")


def _discard(target: Path, before: set[str] | None) -> None:
    """Remove what a refused archive wrote: the target it made, or the entries it added."""
    if before is None:
        shutil.rmtree(target, ignore_errors=True)
        return
    for entry in os.scandir(target):
        if entry.name in before:
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def extract(
    source: Path | bytes,
    target: Path,
    *,
    max_bytes: int | None = None,
    max_members: int = MAX_MEMBERS,
) -> int:
    """Unpack a tar archive (a path or its bytes; gzip, bzip2, xz or plain) into `target`;
    returns the bytes written. ArchiveError names the first member that breaks a rule, and
    what the archive wrote is gone by then."""
    target = Path(target)
    before = set(os.listdir(target)) if target.is_dir() else None
    target.mkdir(parents=True, exist_ok=True)
    try:
        return _unpack(source, target.resolve(), max_bytes, max_members)
    except BaseException:
        _discard(target, before)
        raise


def _unpack(source: Path | bytes, root: Path, max_bytes: int | None, max_members: int) -> int:
    total = count = 0
    name = ""
    links = Links(root)
    files: set[Parts] = set()  # what hard links may point at
    try:
        bounds = Bounds.of(source, max_bytes)
        with _opened(source) as stream:
            bounded = _Bounded(stream, bounds.limit + max_members * _HEADER_SLACK)
            with tarfile.open(fileobj=bounded, mode="r:") as tar:  # type: ignore[arg-type]
                while (member := tar.next()) is not None:
                    name = bounded.last = member.name
                    count += 1
                    if count > max_members:
                        raise ArchiveError(
                            f"member {name!r} is past the cap of {max_members} members"
                        )
                    parts = relative_parts(name)
                    _check(member, parts)
                    links.check_path(parts, f"member {name!r}")
                    if member.issym():
                        links.add(parts, member.linkname, f"member {name!r}")
                        files.discard(parts)
                        continue
                    links.discard(parts)
                    if member.isdir():
                        mkdirs(root, parts, f"member {name!r}")
                    elif member.islnk():
                        _hard_link(root, parts, member, files)
                        files.add(parts)
                    else:
                        bounds.check(name, total + member.size)
                        total += member.size
                        folder = mkdirs(root, parts[:-1], f"member {name!r}")
                        data = tar.extractfile(member)
                        assert data is not None  # a regular file always has data
                        mode = 0o755 if member.mode & 0o100 else 0o644
                        _write(data, folder / parts[-1], member.size, mode, name)
                        files.add(parts)
        links.make()
    except ArchiveError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as err:
        at = f" at member {name!r}" if name else ""
        raise ArchiveError(
            f"not a readable tar.gz (or tar, tar.bz2, tar.xz) archive{at}: {err}"
        ) from None
    except OSError as err:
        at = f"member {name!r}" if name else "the archive"
        raise ArchiveError(f"{at} cannot be unpacked: {err.strerror or err}") from None
    return total
