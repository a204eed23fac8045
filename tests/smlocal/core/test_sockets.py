"""Private Unix sockets: made 0600 without touching the umask, a stale one replaced, a live
one (a server listens there) never taken over."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from smlocal.core import sockets


@pytest.mark.parametrize("depth", [1, 8], ids=["short", "past-107-bytes"])
def test_the_socket_is_0600_whatever_the_umask(tmp_path: Path, depth: int) -> None:
    folder = tmp_path.joinpath(*["a-rather-long-folder-name"] * depth)
    folder.mkdir(parents=True)
    path = folder / "serving.sock"
    old = os.umask(0)
    try:
        with sockets.listen(path):
            assert os.umask(0) == 0  # the process-wide umask was left as it was
            mode = path.stat().st_mode
            assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
            sockets.connect(path, 2).close()
    finally:
        os.umask(old)
    assert sorted(p.name for p in folder.iterdir()) == ["serving.sock"]  # no folder left over


def test_a_socket_nothing_listens_on_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "serving.sock"
    sockets.listen(path).close()  # a killed process leaves its socket file behind
    with sockets.listen(path) as again:
        client = sockets.connect(path, 2)
        conn, _ = again.accept()
        conn.close()
        client.close()


def test_a_socket_a_server_listens_on_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "serving.sock"
    with sockets.listen(path) as live:
        inode = path.stat().st_ino
        with pytest.raises(FileExistsError, match=f"^a server already listens at {path}$"):
            sockets.listen(path)
        assert path.stat().st_ino == inode
        client = sockets.connect(path, 2)  # still the live server's
        conn, _ = live.accept()
        conn.close()
        client.close()


def test_another_file_there_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "serving.sock"
    path.write_text("mine")
    with pytest.raises(FileExistsError, match="exists and is not a socket"):
        sockets.listen(path)
    assert path.read_text() == "mine"
