"""The state dir is the cloud's user's alone: it holds every key the cloud issued (its own in
`credentials.json`, IAM access keys and STS sessions in `state.db`) and the code it runs, and a
key read there runs code as that user. So the dir is made mode 0700, everything in it is
created 0600 / 0700 (the cloud process, and every process it starts, runs under umask 077), and
the cloud refuses to start on a dir that other users can read or write, with the one command
that fixes it (a dir made by an older cloud is 0755)."""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
from pathlib import Path
from typing import BinaryIO

from smlocal.core.errors import UserError

# Files the cloud creates: no bit for the group or for others.
UMASK = 0o077
_OPEN = 0o077  # group or other bits that make an entry readable, writable or searchable


class StateDirOpen(UserError):
    """The state dir, or an entry in it, can be read or written by other users."""


def private_state_dir(state_dir: Path) -> Path:
    """`state_dir` (resolved), made mode 0700 if it does not exist; StateDirOpen when it, or an
    entry directly in it, grants anything to the group or to others (the message is one line
    with the command that fixes it)."""
    state_dir = Path(state_dir).resolve()
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(state_dir, 0o700)
    check_private(state_dir)
    return state_dir


def check_private(state_dir: Path) -> None:
    """StateDirOpen naming the first of `state_dir` and its entries that others may use.
    (Entries deeper down are out of reach once the dir is 0700, so they are not walked.)"""
    found = _open_entry(state_dir)
    if found is None:
        return
    path, mode = found
    what = "it" if path == state_dir else str(path)
    raise StateDirOpen(
        f"the state dir {state_dir} is open to other users ({what} is mode {mode:04o}) and holds "
        f"the cloud's keys; make it private with `chmod -R go-rwx {shlex.quote(str(state_dir))}` "
        "and start again"
    )


def _open_entry(state_dir: Path) -> tuple[Path, int] | None:
    info = os.stat(state_dir)
    if not stat.S_ISDIR(info.st_mode):
        raise StateDirOpen(f"the state dir {state_dir} is not a folder")
    if info.st_mode & _OPEN:
        return state_dir, stat.S_IMODE(info.st_mode)
    for entry in os.scandir(state_dir):
        try:
            mode = entry.stat().st_mode  # what a link in it leads to is what others could read
        except FileNotFoundError:
            continue
        if mode & _OPEN:
            return Path(entry.path), stat.S_IMODE(mode)
    return None


def private_umask() -> int:
    """Make every file this process (and each process it starts) creates private; returns the
    umask it had."""
    return os.umask(UMASK)


def open_private_log(path: Path) -> BinaryIO:
    """`path` opened to append, created mode 0600 (a log of what the cloud runs)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, "ab")
