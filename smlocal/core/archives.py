"""Archives and folders that stay in their folder: the one routine that unpacks every archive
the project opens (model.tar.gz, sourcedir.tar.gz) and the one that copies user folders.

Each tar member is checked before anything is written and each file is written here, in
chunks, from `TarFile.extractfile`: tarfile's `data` filter is not relied on, because Python
3.11.7 (and other unpatched interpreters) let a crafted archive through it (CVE-2025-4517).
Rules, the same for archives and folders: relative paths only, no `..`, regular files and
folders only (no links, devices or fifos), at most `MAX_MEMBERS` entries and
`max_unpacked_bytes()` bytes. Decompression stops as soon as the archive's stream passes the
cap, so a bomb costs neither memory nor disk.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import stat
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from smlocal.core.errors import UserError

# An unpacked model or sourcedir larger than this is refused (override: SMLOCAL_MAX_UNPACKED_BYTES).
MAX_UNPACKED_BYTES = 4 * 1024**3
MAX_MEMBERS = 100_000
_CHUNK = 1024 * 1024
# tarfile reads a member header (with its pax records or GNU long name) in one read; a
# legitimate one is a few KiB, so a larger read can only be a bomb aimed at memory.
_MAX_READ = _CHUNK
# Headers and padding take up to this much per member on top of the file bytes.
_HEADER_SLACK = 2048
_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a fifo",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


class ArchiveError(UserError):
    """An archive member, folder entry or key that breaks a rule; the message names it."""


def max_unpacked_bytes() -> int:
    """The size cap of an unpacked archive or a copied folder (SMLOCAL_MAX_UNPACKED_BYTES)."""
    raw = os.environ.get("SMLOCAL_MAX_UNPACKED_BYTES")
    if raw is None:
        return MAX_UNPACKED_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ArchiveError(f"SMLOCAL_MAX_UNPACKED_BYTES must be a positive integer, got {raw!r}")
    return value


def relative_parts(name: str, *, what: str = "member") -> tuple[str, ...]:
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


def _mkdirs(root: Path, parts: tuple[str, ...], label: str) -> Path:
    """Create `root/parts...` one folder at a time, refusing any existing non-folder."""
    path = root
    for part in parts:
        path = path / part
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                message = f"{label} goes through {part!r}, which is not a folder"
                raise ArchiveError(message) from None
    return path


def _write(data: IO[bytes], path: Path, size: int, mode: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            raise ArchiveError(f"member {name!r} is a file where a folder already is")
        # A duplicate member (or a hard link already there) is replaced, never written through.
        os.unlink(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    written = 0
    with os.fdopen(os.open(path, flags, mode), "wb") as out:
        while written < size:
            chunk = data.read(min(_CHUNK, size - written))
            if not chunk:
                raise ArchiveError(f"member {name!r} is cut short: the archive is truncated")
            out.write(chunk)
            written += len(chunk)


def _check(member: tarfile.TarInfo, total: int, limit: int) -> tuple[str, ...]:
    """The member's path components, once its name, type and size keep to the rules."""
    name = member.name
    parts = relative_parts(name)
    if member.isdir():
        return parts
    if not member.isfile() or member.issparse():
        kind = "a sparse file" if member.issparse() else _KINDS.get(member.type, "of an odd type")
        link = f" to {member.linkname!r}" if member.issym() or member.islnk() else ""
        raise ArchiveError(
            f"member {name!r} is {kind}{link}; only regular files and folders are allowed"
        )
    if total + member.size > limit:
        raise ArchiveError(
            f"member {name!r} takes the unpacked size past the cap of {limit} bytes "
            "(SMLOCAL_MAX_UNPACKED_BYTES sets the cap)"
        )
    if not parts:
        raise ArchiveError(f"member {name!r} is a file without a name")
    return parts


def extract(
    source: Path | bytes,
    target: Path,
    *,
    max_bytes: int | None = None,
    max_members: int = MAX_MEMBERS,
) -> int:
    """Unpack a tar archive (a path or its bytes; gzip, bzip2, xz or plain) into `target`;
    returns the bytes written. ArchiveError names the first member that breaks a rule."""
    limit = max_unpacked_bytes() if max_bytes is None else max_bytes
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    total = count = 0
    name = ""
    try:
        with _opened(source) as stream:
            bounded = _Bounded(stream, limit + max_members * _HEADER_SLACK)
            with tarfile.open(fileobj=bounded, mode="r:") as tar:  # type: ignore[arg-type]
                while (member := tar.next()) is not None:
                    name = bounded.last = member.name
                    count += 1
                    if count > max_members:
                        raise ArchiveError(
                            f"member {name!r} is past the cap of {max_members} members"
                        )
                    parts = _check(member, total, limit)
                    if member.isdir():
                        _mkdirs(root, parts, f"member {name!r}")
                        continue
                    total += member.size
                    folder = _mkdirs(root, parts[:-1], f"member {name!r}")
                    if not folder.resolve().is_relative_to(root):
                        raise ArchiveError(f"member {name!r} resolves outside the folder")
                    data = tar.extractfile(member)
                    assert data is not None  # a regular file always has data
                    mode = 0o755 if member.mode & 0o100 else 0o644
                    _write(data, folder / parts[-1], member.size, mode, name)
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


def copy_tree(
    src: Path,
    dest: Path,
    *,
    link: bool = False,
    max_bytes: int | None = None,
    max_files: int = MAX_MEMBERS,
) -> int:
    """Copy a folder's regular files and folders into `dest` (hard links when `link`, a copy
    across file systems); returns the files copied. Links, devices and fifos are refused, not
    followed, so a loop (`loop -> .`) or a link out of the tree cannot be copied."""
    limit = max_unpacked_bytes() if max_bytes is None else max_bytes
    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    total = files = 0
    pending = [Path()]
    while pending:
        rel = pending.pop()
        try:
            entries = sorted(os.scandir(src / rel), key=lambda e: e.name)
        except OSError as err:
            raise ArchiveError(f"folder {src / rel} cannot be read: {err.strerror}") from None
        _mkdirs(dest, rel.parts, f"folder {src / rel}")
        for entry in entries:
            path = rel / entry.name
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                pending.append(path)
                continue
            if not stat.S_ISREG(info.st_mode):
                kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
                target = f" to {os.readlink(entry.path)!r}" if stat.S_ISLNK(info.st_mode) else ""
                raise ArchiveError(
                    f"{src / path} is {kind}{target}; only regular files and folders are copied "
                    "(replace a link by the file it points to)"
                )
            files += 1
            total += info.st_size
            if files > max_files:
                raise ArchiveError(f"{src / path} is past the cap of {max_files} files")
            if total > limit:
                raise ArchiveError(
                    f"{src / path} takes the copy past the cap of {limit} bytes "
                    "(SMLOCAL_MAX_UNPACKED_BYTES sets the cap)"
                )
            try:
                _copy_file(Path(entry.path), dest / path, link)
            except OSError as err:
                message = f"{src / path} cannot be copied: {err.strerror or err}"
                raise ArchiveError(message) from None
    return files


def _copy_file(src: Path, dest: Path, link: bool) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dest)  # never write through a link or file already there
    if link:
        try:
            os.link(src, dest, follow_symlinks=False)
            return
        except OSError:
            pass  # another file system: copy
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(src, flags), "rb") as fin, open(dest, "xb") as fout:
        while chunk := fin.read(_CHUNK):
            fout.write(chunk)
    os.chmod(dest, stat.S_IMODE(os.stat(src, follow_symlinks=False).st_mode) & 0o755)
