"""The symbolic links of a tree being unpacked or copied, and the folders made on the way.

A link is kept (as AWS's tar keeps it) when its target, read relative to the link's folder and
followed through the tree's other links, stays inside the tree. Links are recorded while the
tree is read and made only after its last file is written: no file is ever written through a
link, and a member whose path passes through a link is refused. The check runs once the whole
tree is known, because a link added later can change where an earlier one leads (`up -> ..` in
`sub/` makes `sub/up/..` the tree's parent).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from smlocal.core.errors import ArchiveError

# How many links one lookup may follow before it is taken for a loop (Linux's own limit).
MAX_HOPS = 40

Parts = tuple[str, ...]


def mkdirs(root: Path, parts: Parts, label: str) -> Path:
    """Create `root/parts...` one folder at a time, refusing any existing non-folder (a link
    already on disk included: nothing is created through it)."""
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


class Links:
    """The symbolic links of one tree rooted at `root`, by path: recorded, checked, made last."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._links: dict[Parts, tuple[str, str]] = {}  # parts -> (target, label)

    def check_path(self, parts: Parts, label: str) -> None:
        """ArchiveError when a folder on the way to `parts` is one of the tree's links."""
        for end in range(1, len(parts)):
            if parts[:end] in self._links:
                link = "/".join(parts[:end])
                raise ArchiveError(
                    f"{label} goes through the symbolic link {link!r}; "
                    "nothing is written through a link"
                )

    def add(self, parts: Parts, target: str, label: str) -> None:
        """Record a link (made by `make`); ArchiveError for a target that can never stay inside."""
        if not parts:
            raise ArchiveError(f"{label} is a symbolic link without a name")
        if not target or "\x00" in target:
            raise ArchiveError(f"{label} is a symbolic link to {target!r}, not a path")
        if target.startswith("/"):
            raise ArchiveError(
                f"{label} is a symbolic link to {target!r}, an absolute path; only relative "
                "links that stay inside the tree are allowed"
            )
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISDIR(os.lstat(self.root.joinpath(*parts)).st_mode):
                raise ArchiveError(f"{label} is a symbolic link where a folder already is")
        self._links[parts] = (target, label)

    def discard(self, parts: Parts) -> None:
        """A later entry of the same path replaces a link not made yet (as tar replaces it)."""
        self._links.pop(parts, None)

    def resolve(self, folder: Parts, target: str) -> Parts | None:
        """Where `target`, relative to `folder`, leads inside the tree (the tree's links
        followed); None when it leaves the tree on the way or passes through a link on disk
        that the tree does not hold."""
        where = list(folder)
        pending = list(reversed(target.split("/")))
        hops = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if not where:
                    return None
                where.pop()
                continue
            where.append(part)
            found = self._links.get(tuple(where))
            if found is None:
                if os.path.islink(self.root.joinpath(*where)):
                    return None  # not the tree's own: where it leads is not known here
                continue
            hops += 1
            if hops > MAX_HOPS:
                raise ArchiveError(f"a loop of symbolic links passes through {'/'.join(where)!r}")
            if found[0].startswith("/"):
                return None
            where.pop()
            pending.extend(reversed(found[0].split("/")))
        return tuple(where)

    def make(self) -> int:
        """Check every link against the whole tree, then make them all; returns how many."""
        for parts, (target, label) in self._links.items():
            self.check_path(parts, label)
            if self.resolve(parts[:-1], target) is None:
                raise ArchiveError(
                    f"{label} is a symbolic link to {target!r}, which leads outside the tree; "
                    "only links that stay inside it are allowed"
                )
        for parts, (target, label) in self._links.items():
            path = mkdirs(self.root, parts[:-1], label) / parts[-1]
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISDIR(os.lstat(path).st_mode):
                    raise ArchiveError(f"{label} is a symbolic link where a folder already is")
                os.unlink(path)  # a file of the same name before it: the link replaces it
            os.symlink(target, path)
        return len(self._links)
