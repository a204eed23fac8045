"""The ASGI app in-process: each route, each type, each error status and shape."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from inference.app import SERVERLESS_PAYLOAD_BYTES, create_app
from inference.handlers import load
from tests.helpers.models import build_model_dir
from tests.helpers.served import TestClient

IMAGES = np.random.default_rng(3).integers(0, 256, size=(4, 28, 28), dtype=np.uint8)

SLOW = """
    import time

    def model_fn(model_dir):
        return None

    def transform_fn(model, body, content_type, accept):
        time.sleep(float(body or 0))
        return b"{}", "application/json"
"""

BROKEN = """
    class Teapot(Exception):
        status_code = 418

    def model_fn(model_dir):
        return None

    def transform_fn(model, body, content_type, accept):
        if body == b"teapot":
            raise Teapot("short and stout")
        raise KeyError("bug in the script")
"""


TYPED_AS_ASKED = """
    def model_fn(model_dir):
        return None

    def transform_fn(model, body, content_type, accept):
        return b"1"  # a body alone is typed as the negotiated Accept
"""


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def script_client(tmp_path: Path, script: str, **limits: float) -> TestClient:
    app = create_app(load(build_model_dir(tmp_path, script)), **limits)
    return TestClient(app, raise_server_exceptions=False)


def test_ping(client: TestClient) -> None:
    response = client.get("/ping")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


@pytest.mark.parametrize(
    ("body", "content_type", "accept"),
    [
        (json.dumps(IMAGES.tolist()).encode(), "application/json", "application/json"),
        (npy(IMAGES), "application/x-npy", "text/csv"),
        (
            "\n".join(",".join(map(str, r)) for r in IMAGES.reshape(4, -1)).encode(),
            "text/csv",
            "application/x-npy",
        ),
    ],
    ids=["json->json", "npy->csv", "csv->npy"],
)
def test_invocations_answer_in_the_accepted_type(client, body, content_type, accept) -> None:
    response = client.post(
        "/invocations", content=body, headers={"content-type": content_type, "accept": accept}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(accept)
    if accept == "application/json":
        probabilities = [p["probabilities"] for p in response.json()["predictions"]]
    elif accept == "text/csv":
        probabilities = np.loadtxt(io.StringIO(response.text), delimiter=",")[:, 1:]
    else:
        probabilities = np.load(io.BytesIO(response.content))
    assert np.allclose(np.sum(probabilities, axis=1), 1.0, atol=1e-5)
    assert len(probabilities) == 4


def test_every_type_gives_the_same_answer(client: TestClient) -> None:
    answers = []
    for body, content_type in [
        (json.dumps(IMAGES.tolist()).encode(), "application/json"),
        (npy(IMAGES), "application/x-npy"),
    ]:
        response = client.post(
            "/invocations",
            content=body,
            headers={"content-type": content_type, "accept": "application/x-npy"},
        )
        answers.append(np.load(io.BytesIO(response.content)))
    assert np.allclose(answers[0], answers[1], atol=1e-6)


@pytest.mark.parametrize(
    ("headers", "body", "status", "kind"),
    [
        ({"content-type": "image/png"}, b"\x89PNG", 415, "UnsupportedContentType"),
        ({"content-type": "application/json", "accept": "image/png"}, None, 406, "Accept"),
        ({"content-type": "application/json"}, b"[[1, 2]]", 400, "InvalidInput"),
        ({"content-type": "application/x-npy"}, b"not numpy", 400, "InvalidInput"),
    ],
)
def test_error_statuses_are_json(client, headers, body, status, kind) -> None:
    body = body if body is not None else json.dumps([[0] * 784]).encode()
    response = client.post("/invocations", content=body, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    assert error["code"] == status
    assert kind in error["type"]
    assert error["message"]


def test_payload_over_6_mb_is_413(client: TestClient) -> None:
    response = client.post(
        "/invocations",
        content=b"0" * (6 * 1024 * 1024 + 1),
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 413
    assert "6291456" in response.json()["message"]


def test_the_default_accept_is_the_model_s_as_it_was_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT is read once, with the model, not per request."""
    monkeypatch.setenv("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/csv")
    client = script_client(tmp_path, TYPED_AS_ASKED)
    monkeypatch.delenv("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT")
    for accept in ({}, {"Accept": "*/*"}):
        response = client.post("/invocations", content=b"0", headers=accept)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv"
    response = client.post("/invocations", content=b"0", headers={"Accept": "application/json"})
    assert response.headers["content-type"] == "application/json"


def test_serverless_limit_is_4_mb(tmp_path: Path) -> None:
    client = script_client(tmp_path, SLOW, max_payload_bytes=SERVERLESS_PAYLOAD_BYTES)
    response = client.post("/invocations", content=b"0" * (4 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert client.post("/invocations", content=b"0").status_code == 200


def test_streamed_body_over_the_limit_is_413(tmp_path: Path) -> None:
    client = script_client(tmp_path, SLOW, max_payload_bytes=1000)
    chunks = (b"0" * 400 for _ in range(3))  # no Content-Length: counted as it arrives
    assert client.post("/invocations", content=chunks).status_code == 413


def test_slow_model_times_out_with_504_and_the_server_stays_up(tmp_path: Path) -> None:
    client = script_client(tmp_path, SLOW, timeout_s=0.2)
    response = client.post("/invocations", content=b"0.6")
    assert response.status_code == 504
    assert response.json()["type"] == "InvocationTimeout"
    assert client.get("/ping").status_code == 200
    # Requests queued behind the slow one may time out too; once it is done, answers resume.
    statuses = [client.post("/invocations", content=b"0").status_code for _ in range(12)]
    assert set(statuses) <= {200, 504}
    assert statuses[-1] == 200


def test_script_errors_keep_their_status_or_are_500(tmp_path: Path) -> None:
    client = script_client(tmp_path, BROKEN)
    teapot = client.post("/invocations", content=b"teapot")
    assert (teapot.status_code, teapot.json()["message"]) == (418, "short and stout")
    bug = client.post("/invocations", content=b"x")
    assert bug.status_code == 500
    assert bug.json()["message"] == "model raised KeyError: 'bug in the script'"
    assert client.get("/ping").status_code == 200


def test_runtime_api_path_answers_like_invoke_endpoint(client: TestClient) -> None:
    response = client.post(
        "/endpoints/mnist-dev/invocations",
        content=npy(IMAGES),
        headers={"content-type": "application/x-npy", "accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.headers["x-amzn-invoked-production-variant"] == "AllTraffic"
    assert len(response.json()["predictions"]) == 4


def test_runtime_api_errors_have_sagemaker_shapes(client: TestClient) -> None:
    response = client.post(
        "/endpoints/mnist-dev/invocations", content=b"x", headers={"content-type": "image/png"}
    )
    assert response.status_code == 424
    assert response.headers["x-amzn-errortype"] == "ModelError"
    error = response.json()
    assert error["OriginalStatusCode"] == 415
    assert json.loads(error["OriginalMessage"])["type"] == "UnsupportedContentType"
    assert error["message"].startswith("Received client error (415) from primary")

    too_big = client.post("/endpoints/mnist-dev/invocations", content=b"0" * (6 * 1024 * 1024 + 1))
    assert too_big.status_code == 413
    assert "x-amzn-errortype" not in too_big.headers
    assert "exceeds 6291456 bytes" in too_big.json()["message"]


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("localhost:8080", 200),
        ("127.0.0.1:8080", 200),
        ("[::1]:8080", 200),
        ("api.localhost", 200),
        ("10.1.2.3:8080", 200),  # an address: a rebinding page can only send a name
        ("serving-box:8080", 200),  # the name it was told to serve on (--host)
        ("evil.example:8080", 403),
        ("localhost.evil.example", 403),
        ("127.0.0.1.nip.io:8080", 403),
        ("localhost:http", 403),
    ],
)
def test_over_tcp_a_foreign_host_header_is_refused(model_dir: Path, host: str, status: int) -> None:
    app = create_app(load(model_dir), served_host="serving-box")
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path in (("GET", "/ping"), ("POST", "/invocations")):
            response = client.request(
                method, path, headers={"Host": host, "Content-Type": "application/json"},
                content=json.dumps([[0] * 784]),
            )  # fmt: skip
            assert response.status_code == status, (method, response.text)
    if status == 403:
        assert response.json()["type"] == "Forbidden"
        assert repr(host) in response.json()["message"]
