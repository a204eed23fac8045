"""Every input of the serving path is bounded: what a body decodes to (bytes and batch, checked
before anything is allocated), the request head (size and count), and the time a client may take
to send a request. The bombs are built here, a few KB each."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import struct
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from inference import codecs
from inference.app import create_app
from inference.errors import BadRequest, DecodedTooLarge, ModelLoadError
from inference.handlers import default_input_fn, load
from inference.server import MAX_HEAD_BYTES, MAX_HEADERS
from tests.helpers.models import build_model_dir
from tests.helpers.served import Served, TestClient

NPZ = {"content-type": "application/x-npz"}
REQUEST_TIMEOUT_S = 2


def npz(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=array)
    return buffer.getvalue()


def npy_header_only(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """An npy file that declares `shape` and holds no data: np.load allocates before it reads."""
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


# The audit's bomb: 10,000 blank MNIST images, 7.8 MB decoded, about 7.8 KB compressed.
BOMB = npz(np.zeros((10_000, 28, 28), dtype=np.uint8))


def test_the_bomb_is_small() -> None:
    assert len(BOMB) < 10_000


# --- codecs: checked from the headers, before allocation -----------------------------------


def test_a_huge_declared_npy_shape_is_413_before_allocation() -> None:
    body = npy_header_only((10**12,))  # 8 TB declared in 128 bytes
    with pytest.raises(DecodedTooLarge) as err:
        codecs.decode(body, "application/x-npy", codecs.Limits())
    assert err.value.message == (
        "decoded payload of 8000000000000 bytes exceeds the limit of 25165824 bytes "
        "(SMLOCAL_MAX_DECODED_BYTES=25165824)"
    )


def test_an_npz_member_is_not_decompressed_past_the_limit() -> None:
    body = npz(np.zeros((4000, 1000), dtype=np.float64))  # 32 MB of zeros in ~30 KB
    limits = codecs.Limits(max_decoded_bytes=1_000_000)
    with pytest.raises(DecodedTooLarge) as err:
        codecs.decode(body, "application/x-npz", limits)
    assert "decompressed npz of 32000128 bytes exceeds the limit of 1000000 bytes" in str(err.value)


def test_an_npz_member_that_lies_about_its_shape_is_refused() -> None:
    # A small member whose npy header declares a terabyte: numpy would allocate it first.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", npy_header_only((10**12,)))
    with pytest.raises(DecodedTooLarge) as err:
        codecs.decode(buffer.getvalue(), "application/x-npz", codecs.Limits())
    assert "npz member 'x.npy' of 8000000000000 bytes exceeds" in str(err.value)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (BOMB, "application/x-npz"),
        (json.dumps(np.zeros((5, 2)).tolist()).encode(), "application/json"),
        (b"1,2\n3,4\n5,6\n7,8\n9,10\n", "text/csv"),
    ],
    ids=["npz", "json", "csv"],
)
def test_the_batch_is_capped_for_every_type(body: bytes, content_type: str) -> None:
    limits = codecs.Limits(max_batch=4)
    with pytest.raises(DecodedTooLarge) as err:
        default_input_fn(body, content_type, limits)
    assert "exceeds the limit of 4 (SMLOCAL_MAX_BATCH_SIZE=4)" in str(err.value)
    assert err.value.status_code == 413


def test_within_the_limits_decoding_is_unchanged() -> None:
    images = np.arange(4 * 28 * 28, dtype=np.uint8).reshape(4, 28, 28)
    decoded = codecs.decode(npz(images), "application/x-npz", codecs.Limits(max_batch=4))
    assert np.array_equal(decoded, images)


def test_limits_come_from_the_model_environment() -> None:
    limits = codecs.Limits.from_env(
        4 * 1024 * 1024, {"SMLOCAL_MAX_BATCH_SIZE": "8", "SMLOCAL_MAX_DECODED_BYTES": "1000"}
    )
    assert limits == codecs.Limits(max_batch=8, max_decoded_bytes=1000)
    assert codecs.Limits.from_env(4 * 1024 * 1024, {}).max_decoded_bytes == 16 * 1024 * 1024
    with pytest.raises(ModelLoadError, match="SMLOCAL_MAX_BATCH_SIZE must be a positive"):
        codecs.Limits.from_env(1, {"SMLOCAL_MAX_BATCH_SIZE": "lots"})


def test_a_body_the_codecs_cannot_read_stays_400() -> None:
    with pytest.raises(BadRequest):
        codecs.decode(struct.pack("<Q", 7), "application/x-npy", codecs.Limits())


# --- the app: a user script's own input_fn is covered too ----------------------------------


@pytest.fixture(scope="module")
def small_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    model_dir = build_model_dir(tmp_path_factory.mktemp("model"))  # ships its own input_fn
    handlers = load(model_dir, limits=codecs.Limits(max_batch=16, max_decoded_bytes=100_000))
    with TestClient(create_app(handlers), raise_server_exceptions=False) as client:
        yield client


def test_the_scripts_input_fn_gets_the_batch_cap(small_client: TestClient) -> None:
    ok = small_client.post(
        "/invocations", content=npz(np.zeros((16, 28, 28), np.uint8)), headers=NPZ
    )
    assert ok.status_code == 200
    response = small_client.post(
        "/invocations", content=npz(np.zeros((17, 28, 28), np.uint8)), headers=NPZ
    )
    assert response.status_code == 413
    assert response.json() == {
        "code": 413,
        "type": "DecodedTooLarge",
        "message": "batch of 17 items exceeds the limit of 16 (SMLOCAL_MAX_BATCH_SIZE=16)",
    }


def test_a_flat_item_is_not_mistaken_for_a_batch(small_client: TestClient) -> None:
    # (784,) is one MNIST image: a 1-D array's length is not a batch until input_fn says so.
    body = io.BytesIO()
    np.save(body, np.zeros(784, np.uint8))
    headers = {"content-type": "application/x-npy"}
    assert small_client.post("/invocations", content=body.getvalue(), headers=headers).is_success


def test_the_scripts_input_fn_never_sees_a_bomb(small_client: TestClient) -> None:
    response = small_client.post("/invocations", content=BOMB, headers=NPZ)
    assert response.status_code == 413
    assert "SMLOCAL_MAX_DECODED_BYTES=100000" in response.json()["message"]


def test_the_runtime_api_wraps_the_containers_413_as_a_model_error(
    small_client: TestClient,
) -> None:
    # The container answered 413, not SageMaker's front end: a ModelError that carries it.
    response = small_client.post("/endpoints/mnist-dev/invocations", content=BOMB, headers=NPZ)
    assert response.status_code == 424
    assert response.headers["x-amzn-errortype"] == "ModelError"
    assert response.json()["OriginalStatusCode"] == 413


# --- a really served process ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    model_dir = build_model_dir(tmp_path_factory.mktemp("served"))
    # A keep-alive far longer than the request timeout, so that no test races the two.
    served = Served(
        model_dir, "--request-timeout", str(REQUEST_TIMEOUT_S), "--keep-alive", "60"
    ).wait_ready()
    yield served
    served.stop()


def _memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_the_7_8_kb_bomb_is_413_and_the_servers_memory_stays_bounded(server: Served) -> None:
    pid = server.process.pid
    before = _memory_kb(pid, "VmRSS")
    for _ in range(3):
        response = httpx.post(server.url + "/invocations", content=BOMB, headers=NPZ, timeout=120)
        assert response.status_code == 413
        assert response.json()["message"] == (
            "batch of 10000 items exceeds the limit of 1000 (SMLOCAL_MAX_BATCH_SIZE=1000)"
        )
    # The peak, not the current size: the unbounded server went from 314 MB to 3,978 MB.
    grown_mb = (_memory_kb(pid, "VmHWM") - before) / 1024
    # Refused from the npz member's header: nothing is decoded (measured: +0 MB of 240 MB).
    assert grown_mb < 50, f"the server grew by {grown_mb:.0f} MB"


def _half_sent(port: int, part: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(60)  # only so that a regression fails instead of hanging
    if part:
        sock.sendall(part)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    with sock:
        while chunk := sock.recv(4096):
            data += chunk
    return data


def test_half_sent_requests_are_closed_and_the_server_keeps_answering(server: Served) -> None:
    parts = [
        b"",  # connected, sent nothing
        b"POST /invocations HTTP/1.1\r\nhost: localhost\r\n",  # half a head
        # half a body
        b"POST /invocations HTTP/1.1\r\nhost: localhost\r\ncontent-length: 100\r\n\r\n{",
        b"GET /pi",  # half a request line
    ]
    socks = [_half_sent(server.port, parts[i % len(parts)]) for i in range(200)]
    try:
        assert httpx.get(server.url + "/ping", timeout=30).status_code == 200
        answers = [_read_until_closed(sock) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
    assert all(a.startswith(b"HTTP/1.1 408 Request Timeout\r\n") for a in answers), answers[:4]
    assert answers[0].endswith(f"request not received within {REQUEST_TIMEOUT_S} s".encode())
    assert httpx.get(server.url + "/ping", timeout=30).status_code == 200


def _read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (head and Content-Length body), however the bytes arrive."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the body"
        body += chunk
    return head + b"\r\n\r\n" + body


def _ping_on(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /ping HTTP/1.1\r\nhost: localhost\r\n\r\n")
    return _read_response(sock)


def test_an_idle_keep_alive_connection_is_not_cut_by_the_request_timeout(server: Served) -> None:
    with _half_sent(server.port, b"") as sock:
        assert _ping_on(sock).startswith(b"HTTP/1.1 200 ")
        # Past the request timeout, within the keep-alive (60 s): the timer stopped when the
        # request was complete, so the connection still serves.
        time.sleep(REQUEST_TIMEOUT_S + 1)
        assert _ping_on(sock).startswith(b"HTTP/1.1 200 ")


def test_a_request_in_one_piece_larger_than_the_head_limit_is_served(server: Served) -> None:
    # Head and a 64 KiB body arrive together: only bytes of an unfinished head count.
    body = json.dumps([[0] * 784] * 20).encode()
    assert len(body) > 2 * MAX_HEAD_BYTES
    head = b"POST /invocations HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n"
    with _half_sent(server.port, head + b"content-length: %d\r\n\r\n" % len(body) + body) as sock:
        answer = _read_response(sock)
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
        assert _ping_on(sock).startswith(b"HTTP/1.1 200 ")


def test_a_1_mb_header_is_refused_with_431(server: Served) -> None:
    response = httpx.post(
        server.url + "/invocations",
        content=b"[[0]]",
        headers={"content-type": "application/json", "x-big": "a" * 1024 * 1024},
        timeout=30,
    )
    assert response.status_code == 431
    assert response.text == f"request head exceeds {MAX_HEAD_BYTES} bytes"


def test_a_header_line_that_never_ends_is_refused_before_it_is_buffered(server: Served) -> None:
    with _half_sent(server.port, b"POST /invocations HTTP/1.1\r\nx-endless: ") as sock:
        with contextlib.suppress(ConnectionError):  # refused while we still send
            for _ in range(64):  # 4 MiB at most, in 64 KiB pieces, never a line end
                sock.sendall(b"a" * 65536)
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert answer.endswith(f"request head exceeds {MAX_HEAD_BYTES} bytes".encode())


def test_5000_headers_are_refused_with_431(server: Served) -> None:
    headers = [("content-type", "application/json")] + [(f"x-h{i}", "v") for i in range(5000)]
    response = httpx.post(
        server.url + "/invocations", content=b"[[0]]", headers=headers, timeout=30
    )
    assert response.status_code == 431
    assert response.text == f"request has more than {MAX_HEADERS} headers"
    assert httpx.get(server.url + "/ping", timeout=30).status_code == 200
