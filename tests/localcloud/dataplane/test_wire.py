"""The cloud's HTTP/1.1 connection to a serving process (`localcloud.dataplane.wire`), against
a scripted peer on a Unix socket: framing, keep-alive, and each way an answer can go wrong."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from localcloud.dataplane.wire import BadAnswer, Connection, Disconnected
from smlocal.core import sockets

Script = Callable[[socket.socket], None]


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[Callable[[Script], Path]]:
    """`peer(script)` listens on a Unix socket and runs `script` on the first connection."""
    servers: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(script: Script) -> Path:
        address = tmp_path / f"peer{len(servers)}.sock"
        server = sockets.listen(address)
        servers.append(server)

        def run() -> None:
            conn, _ = server.accept()
            with conn:
                script(conn)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return address

    yield start
    for server in servers:
        server.close()
    for thread in threads:
        thread.join(5)


def read_request(conn: socket.socket) -> bytes:
    """One request with a Content-Length body, as received."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            v
            for k, v in (line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
            if k.lower() == b"content-length"
        )
    )
    while len(body) < length:
        body += conn.recv(65536)
    return data[: len(head) + 4] + body


def test_a_request_and_a_chunked_answer_then_the_next_on_the_same_connection(peer) -> None:
    received: list[bytes] = []

    def script(conn: socket.socket) -> None:
        received.append(read_request(conn))
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"X-Amzn-Invoked-Production-Variant: AllTraffic\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\n[0.25\r\n2\r\n]\n\r\n0\r\n\r\n"
        )
        received.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops")

    conn = Connection(peer(script), timeout_s=5)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    status, answer_headers, body, reusable = conn.request(
        "POST", "/invocations", b"[1]", headers, 5
    )
    assert (status, body, reusable) == (200, b"[0.25]\n", True)
    assert answer_headers["X-Amzn-Invoked-Production-Variant"] == "AllTraffic"  # case kept
    assert received[0] == (
        b"POST /invocations HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nAccept: application/json\r\n"
        b"Content-Length: 3\r\n\r\n[1]"
    )
    status, _, body, reusable = conn.request("POST", "/invocations", b"", {}, 5)
    assert (status, body, reusable) == (500, b"oops", True)
    assert received[1].endswith(b"Content-Length: 0\r\n\r\n")


def test_an_answer_that_closes_the_connection_is_not_reused(peer) -> None:
    def script(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")

    conn = Connection(peer(script), timeout_s=5)
    assert conn.request("POST", "/invocations", b"x", {}, 5) == (
        200,
        {"Connection": "close", "Content-Length": "2"},
        b"ok",
        False,
    )
    assert not conn.open


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        # Closed before any byte of an answer: the request was never read, it may go again.
        (b"", Disconnected, "closed the connection"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", BadAnswer, "mid-answer"),
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", BadAnswer, "no HTTP"),
    ],
    ids=["closed-before-answering", "closed-mid-answer", "not-http"],
)
def test_a_broken_answer_is_an_error_and_the_connection_is_closed(
    peer, answer: bytes, error: type[Exception], match: str
) -> None:
    def script(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(answer)

    conn = Connection(peer(script), timeout_s=5)
    with pytest.raises(error, match=match):
        conn.request("POST", "/invocations", b"x", {}, 5)
    assert not conn.open


def test_no_answer_in_time_is_a_timeout(peer) -> None:
    done = threading.Event()

    def script(conn: socket.socket) -> None:
        read_request(conn)
        done.wait(5)  # holds the request without answering

    conn = Connection(peer(script), timeout_s=5)
    try:
        with pytest.raises(TimeoutError):
            conn.request("POST", "/invocations", b"x", {}, 0.2)
    finally:
        done.set()
    assert not conn.open


def test_a_header_value_that_would_end_its_line_is_refused_before_sending(peer) -> None:
    received: list[bytes] = []
    seen = threading.Event()

    def script(conn: socket.socket) -> None:
        received.append(conn.recv(65536))
        seen.set()

    conn = Connection(peer(script), timeout_s=5)
    with pytest.raises(ValueError, match="X-Amzn-SageMaker-Custom-Attributes"):
        attributes = {"X-Amzn-SageMaker-Custom-Attributes": "a\r\nHost: x"}
        conn.request("POST", "/invocations", b"", attributes, 5)
    assert not conn.open
    assert seen.wait(5)
    assert received == [b""]  # nothing was sent: the peer saw the connection close
