"""Folders copied so that they stay in their folder: the sourcedirs and channels a user names
by path, and the per-host trees of a training job. The rules are the archives' (relative paths;
regular files, folders and links that stay inside the tree; `smlocal.core.archives`)."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from smlocal.core.archives import MAX_MEMBERS, max_unpacked_bytes
from smlocal.core.errors import ArchiveError
from smlocal.core.links import Links, mkdirs

_CHUNK = 1024 * 1024


def copy_tree(
    src: Path,
    dest: Path,
    *,
    link: bool = False,
    max_bytes: int | None = None,
    max_files: int = MAX_MEMBERS,
) -> int:
    """Copy a folder's regular files, folders and in-tree symbolic links into `dest` (files as
    hard links when `link`, a copy across file systems); returns the files copied. A link is
    copied as a link, never followed, so a loop (`loop -> .`) costs nothing; links out of the
    tree, devices and fifos are refused."""
    limit = max_unpacked_bytes() if max_bytes is None else max_bytes
    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    links = Links(dest.resolve())
    total = files = 0
    pending = [Path()]
    while pending:
        rel = pending.pop()
        try:
            entries = sorted(os.scandir(src / rel), key=lambda e: e.name)
        except OSError as err:
            raise ArchiveError(f"folder {src / rel} cannot be read: {err.strerror}") from None
        mkdirs(dest, rel.parts, f"folder {src / rel}")
        for entry in entries:
            path = rel / entry.name
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                pending.append(path)
                continue
            if stat.S_ISLNK(info.st_mode):
                links.add(path.parts, os.readlink(entry.path), str(src / path))
                continue
            if not stat.S_ISREG(info.st_mode):
                raise ArchiveError(
                    f"{src / path} is not a regular file, folder or link; only those are copied"
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
                _copy_file(Path(entry.path), dest / path, link, info.st_mode)
            except OSError as err:
                message = f"{src / path} cannot be copied: {err.strerror or err}"
                raise ArchiveError(message) from None
    try:
        links.make()
    except OSError as err:
        raise ArchiveError(f"a link of {src} cannot be copied: {err.strerror or err}") from None
    return files


def copy_file(src: Path, dest: Path) -> None:
    """Copy one regular file (a link named by its user is followed) to `dest`, replacing what
    is there without writing through it. Created with the source's mode less set-id bits and
    group or other write, which the umask narrows (shutil.copy2 would set the source's mode
    after: a 0644 file would stay readable by others in a private folder)."""
    info = os.stat(src)
    if not stat.S_ISREG(info.st_mode):
        raise ArchiveError(f"{src} is not a regular file; only a file is copied")
    _copy_file(Path(os.path.realpath(src)), Path(dest), False, info.st_mode)


def _copy_file(src: Path, dest: Path, link: bool, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dest)  # never write through a link or file already there
    if link:
        try:
            os.link(src, dest, follow_symlinks=False)
            return
        except OSError:
            pass  # another file system: copy
    # Created with its mode (no set-id bits), which the umask narrows: never widened after.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with (
        os.fdopen(os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as fin,
        os.fdopen(os.open(dest, flags, stat.S_IMODE(mode) & 0o755), "wb") as fout,
    ):
        while chunk := fin.read(_CHUNK):
            fout.write(chunk)
