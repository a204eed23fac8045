"""The cloud's link to one serving process: a Unix socket only the cloud's user may connect to (no
TCP port at all), kept-alive connections, and a connection the server closed while idle is
replaced without failing the request. The model it serves is fetched from the cloud's S3
through a file, never whole in memory."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.dataplane.serving import NotReached, ServingProcess, StartError, fetch_model
from localcloud.dataplane.wire import Connection
from smlocal.core import sockets
from tests.helpers.archives import MIB, zeros_archive
from tests.helpers.cloud import BUCKET, put_model
from tests.helpers.models import build_model_dir
from tests.helpers.ports import listening_ports
from tests.helpers.users import IS_ROOT, NOBODY, connect_as

BODY = json.dumps([[0.0] * 784]).encode()
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingProcess]:
    model_dir = build_model_dir(tmp_path_factory.mktemp("serving") / "model")
    # A work dir any user may pass through (pytest's are private): what keeps others out of
    # the socket must then be the socket's own mode.
    root = Path(tempfile.mkdtemp(prefix="serving-"))
    root.chmod(0o711)
    (root / "work").mkdir(mode=0o711)
    process = ServingProcess.start(
        model_dir, root / "work", workers=1, serverless=False, environment={}
    )
    try:
        yield process
    finally:
        process.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_the_serving_process_listens_on_no_tcp_port(serving: ServingProcess) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:  # the reader sees a listener
        assert probe.getsockname()[1] in listening_ports([os.getpgid(0)])
    assert listening_ports([os.getpgid(serving.proc.pid)]) == set()  # its workers' too
    mode = os.stat(serving.address).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    status, _, answer = serving.invoke(BODY, HEADERS)
    assert status == 200, answer


@pytest.mark.skipif(not IS_ROOT, reason="acting as another user needs root")
def test_another_user_cannot_connect_to_the_serving_process(serving: ServingProcess) -> None:
    assert connect_as(os.geteuid(), serving.address) == "connected"
    assert connect_as(NOBODY, serving.address) == "EACCES"


def test_calls_reuse_one_connection(serving: ServingProcess) -> None:
    connections = set()
    for _ in range(3):
        status, _, answer = serving.invoke(BODY, HEADERS)
        assert status == 200, answer
        assert len(json.loads(answer)) == 1
        assert len(serving._idle) == 1  # kept for the next call, not closed
        connections.add(serving._idle[0].sock.fileno())
    assert len(connections) == 1  # the same client socket every time


def test_a_connection_closed_while_idle_is_replaced(
    tmp_path: Path, serving: ServingProcess
) -> None:
    # A peer that accepts and closes at once: what a stale keep-alive connection looks like.
    closer = sockets.listen(tmp_path / "closer.sock")

    def close_one() -> None:
        conn, _ = closer.accept()
        conn.close()

    thread = threading.Thread(target=close_one, daemon=True)
    thread.start()
    stale = Connection(tmp_path / "closer.sock", timeout_s=5)
    thread.join(5)
    serving._close_idle()
    serving._idle.append(stale)
    try:
        status, _, answer = serving.invoke(BODY, HEADERS)
    finally:
        closer.close()
    assert status == 200, answer
    assert not stale.open  # dropped, not handed out again
    assert len(serving._idle) == 1 and serving._idle[0] is not stale


def test_a_stopped_server_is_not_reached(tmp_path: Path, serving: ServingProcess) -> None:
    gone = ServingProcess(
        proc=serving.proc, address=tmp_path / "gone.sock", workdir=tmp_path, log_path=tmp_path
    )
    with pytest.raises(NotReached):
        gone.invoke(BODY, HEADERS, timeout_s=2)


def _plain_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_model_is_fetched_through_a_file_it_removes_never_whole_in_memory(
    s3: Any, tmp_path: Path
) -> None:
    weights = os.urandom(24 * MIB)
    url = put_model(s3, "fetch/model.tar.gz", _plain_tar({"model.pth": weights, "code/a.py": b""}))
    tracemalloc.start()
    try:
        model_dir = fetch_model(s3, url, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB, f"{peak / MIB:.1f} MiB held for a 24 MiB archive"
    assert model_dir == tmp_path / "model"
    assert (model_dir / "model.pth").read_bytes() == weights
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # the archive file is gone


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("fetch/missing.tar.gz", "could not download the model data {url}: .*NoSuchKey"),
        ("", "ModelDataUrl {url} is not an s3://bucket/key URL"),
        # A gigabyte of zeros in a megabyte: past 100 times the downloaded file's size.
        ("fetch/bomb.tar.gz", "the model data {url} cannot be unpacked: .*a compression bomb"),
    ],
)
def test_a_model_that_cannot_be_fetched_fails_with_the_reason_and_leaves_nothing(
    s3: Any, tmp_path: Path, key: str, reason: str
) -> None:
    url = f"s3://{BUCKET}/{key}"
    if key == "fetch/bomb.tar.gz":
        put_model(s3, key, zeros_archive(1024 * MIB))
    with pytest.raises(StartError, match=reason.format(url=re.escape(url))):
        fetch_model(s3, url, tmp_path)
    assert list(tmp_path.iterdir()) == []
