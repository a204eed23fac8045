"""Unix stream sockets at any path, created private (mode 0600).

An AF_UNIX address holds at most 107 bytes, and the paths under a state dir can be longer. A
longer path is reached through an open descriptor of its folder (`/proc/self/fd/N/name`, Linux),
which names the same file: the permissions checked are the real path's.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

MAX_ADDRESS_BYTES = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux
BACKLOG = 2048  # uvicorn's default


@contextlib.contextmanager
def address(path: Path) -> Iterator[str]:
    """An AF_UNIX address for `path`, valid inside the block."""
    text = os.fsdecode(path)
    if len(os.fsencode(text)) <= MAX_ADDRESS_BYTES:
        yield text
        return
    folder = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def connect(path: Path, timeout_s: float) -> socket.socket:
    """A stream socket connected to the one listening at `path` (OSError if none is)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout_s)
        with address(path) as where:
            sock.connect(where)
    except BaseException:
        sock.close()
        raise
    return sock


def listen(path: Path) -> socket.socket:
    """A listening stream socket at `path`, created with mode 0600 (only this user may connect:
    Linux asks for write permission on the file). A socket nothing listens on (a killed
    process's: a connection is refused) is replaced; one a server listens on, or any other file
    there, is an error (FileExistsError naming the path).

    The socket is bound in a private folder beside `path` (0700), made 0600 there and renamed
    into place: there is no moment when others may connect, and the process-wide umask is left
    alone (other threads may be creating files meanwhile)."""
    path = Path(path)
    _check_free(path)
    folder = Path(tempfile.mkdtemp(prefix=".socket-", dir=path.parent))
    made = folder / path.name
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with address(made) as where:
            sock.bind(where)
        os.chmod(made, 0o600)
        os.rename(made, path)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(made)
        raise
    finally:
        os.rmdir(folder)
    return sock


def _check_free(path: Path) -> None:
    """Remove a stale socket at `path`; FileExistsError for a live one or another file."""
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise FileExistsError(f"{path} exists and is not a socket")
    except FileNotFoundError:
        return
    try:
        connect(path, 1.0).close()
    except ConnectionRefusedError:  # nothing listens: what a killed process left
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    raise FileExistsError(f"a server already listens at {path}")
