"""The cloud's link to one serving process: kept-alive connections, and a connection the server
closed while idle is replaced without failing the request."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.dataplane.serving import NotReached, ServingProcess
from localcloud.dataplane.wire import Connection
from tests.helpers.models import build_model_dir
from tests.helpers.ports import free_port

BODY = json.dumps([[0.0] * 784]).encode()
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingProcess]:
    root = tmp_path_factory.mktemp("serving")
    model_dir = build_model_dir(root / "model")
    (root / "work").mkdir()
    process = ServingProcess.start(
        model_dir, root / "work", workers=1, serverless=False, environment={}
    )
    try:
        yield process
    finally:
        process.stop()


def test_calls_reuse_one_connection(serving: ServingProcess) -> None:
    ports = set()
    for _ in range(3):
        status, _, answer = serving.invoke(BODY, HEADERS)
        assert status == 200, answer
        assert len(json.loads(answer)) == 1
        assert len(serving._idle) == 1  # kept for the next call, not closed
        ports.add(serving._idle[0].sock.getsockname()[1])
    assert len(ports) == 1  # the same client socket every time


def test_a_connection_closed_while_idle_is_replaced(serving: ServingProcess) -> None:
    # A peer that accepts and closes at once: what a stale keep-alive connection looks like.
    closer = socket.create_server(("127.0.0.1", 0))

    def close_one() -> None:
        conn, _ = closer.accept()
        conn.close()

    thread = threading.Thread(target=close_one, daemon=True)
    thread.start()
    stale = Connection(closer.getsockname()[1], timeout_s=5)
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
        proc=serving.proc, port=free_port(), workdir=tmp_path, log_path=tmp_path / "log"
    )
    with pytest.raises(NotReached):
        gone.invoke(BODY, HEADERS, timeout_s=2)
