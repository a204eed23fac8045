"""The contract with a really served process: boto3 invoke_endpoint unchanged, a foreign Host
refused, start failures, SIGTERM drain (over TCP and over a Unix socket, which goes with the
server), several workers, and 10,000 requests at 32 concurrency without an error."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import httpx
import numpy as np
import pytest
from botocore.config import Config

from inference.loadgen import run_load
from tests.helpers import ROOT
from tests.helpers.cli import run
from tests.helpers.models import build_model_dir
from tests.helpers.served import Served

pytestmark = pytest.mark.slow

SLOW = """
    import pathlib
    import time

    def model_fn(model_dir):
        return pathlib.Path(model_dir)

    def transform_fn(model, body, content_type, accept):
        (model / "started").touch()
        time.sleep(float(body))
        return b'{"slept": true}', "application/json"
"""


def runtime_client(url: str):
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def test_boto3_invoke_endpoint_works_unchanged(served: Served) -> None:
    runtime = runtime_client(served.url)
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    response = runtime.invoke_endpoint(
        EndpointName="mnist-dev",
        Body=json.dumps(images.tolist()),
        ContentType="application/json",
        Accept="application/json",
    )
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert len(json.loads(response["Body"].read())["predictions"]) == 2


def test_boto3_sees_sagemaker_errors(served: Served) -> None:
    runtime = runtime_client(served.url)
    with pytest.raises(runtime.exceptions.ModelError) as caught:
        runtime.invoke_endpoint(EndpointName="mnist-dev", Body=b"[1,", ContentType="text/csv")
    error = caught.value.response
    assert error["OriginalStatusCode"] == 400
    assert "not valid text/csv" in error["OriginalMessage"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424

    with pytest.raises(runtime.exceptions.ClientError) as caught:
        runtime.invoke_endpoint(EndpointName="mnist-dev", Body=b"0" * (6 * 1024 * 1024 + 10))
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_a_request_naming_another_host_is_refused(served: Served) -> None:
    # What a DNS-rebinding page sends: its own name, resolved to this machine.
    body = json.dumps([[0] * 784])
    refused = httpx.post(
        served.url + "/invocations", content=body, headers={"Host": "evil.example"}
    )
    assert refused.status_code == 403
    assert "'evil.example' is not this server's" in refused.json()["message"]
    assert httpx.post(served.url + "/invocations", content=body).status_code == 200


def test_a_model_that_cannot_load_fails_at_start(tmp_path: Path) -> None:
    model_dir = build_model_dir(tmp_path, "def predict_fn(data, model):\n    return data\n")
    server = [sys.executable, "-m", "inference.server"]
    result = run([*server, "--model-dir", str(model_dir), "--port", "1"], cwd=ROOT)
    assert result.returncode == 2
    assert "defines no model_fn" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_drains_in_flight_requests(tmp_path: Path) -> None:
    model_dir = build_model_dir(tmp_path, SLOW)
    server = Served(model_dir).wait_ready()
    answers: list[httpx.Response] = []
    request = threading.Thread(
        target=lambda: answers.append(httpx.post(server.url + "/invocations", content=b"1.5"))
    )
    try:
        request.start()
        # Stop the server once the request is in the model (the script marks it).
        for _ in range(600):
            if (model_dir / "started").exists():
                break
            time.sleep(0.05)
        server.process.terminate()
        request.join(timeout=30)
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    assert [a.status_code for a in answers] == [200]
    assert answers[0].json() == {"slept": True}


def test_on_a_unix_socket_sigterm_drains_and_the_socket_goes(tmp_path: Path) -> None:
    model_dir = build_model_dir(tmp_path / "model", SLOW)
    address = tmp_path / "s.sock"
    command = [sys.executable, "-m", "inference.server", "--model-dir", str(model_dir)]
    server = subprocess.Popen([*command, "--uds", str(address)], cwd=ROOT)
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(address)), timeout=30)
    answers: list[httpx.Response] = []
    try:
        for _ in range(600):
            if address.exists():
                break
            assert server.poll() is None
            time.sleep(0.05)
        assert stat.S_IMODE(address.stat().st_mode) == 0o600  # made so: only this user
        request = threading.Thread(
            target=lambda: answers.append(
                client.post("http://localhost/invocations", content=b"1.5")
            )
        )
        request.start()
        for _ in range(600):  # SIGTERM once the request is in the model (the script marks it)
            if (model_dir / "started").exists():
                break
            time.sleep(0.05)
        server.terminate()
        request.join(timeout=30)
        assert server.wait(timeout=30) == 0
    finally:
        client.close()
        if server.poll() is None:
            server.kill()
            server.wait()
    assert [a.status_code for a in answers] == [200]
    assert not address.exists()  # removed at exit


def test_several_workers_serve(model_dir: Path) -> None:
    server = Served(model_dir, "--workers", "2").wait_ready()
    try:
        body = json.dumps([[0] * 784]).encode()
        statuses = {
            httpx.post(server.url + "/invocations", content=body).status_code for _ in range(20)
        }
        assert statuses == {200}
        foreign = {"Host": f"evil.example:{server.port}"}  # each worker checks the Host too
        refused = {
            httpx.post(server.url + "/invocations", content=body, headers=foreign).status_code
            for _ in range(6)
        }
        assert refused == {403}
    finally:
        assert server.stop() == 0


def test_load_10000_requests_at_32_concurrency(served: Served) -> None:
    image = np.random.default_rng(0).integers(0, 256, (1, 28, 28), dtype=np.uint8)
    buffer = io.BytesIO()
    np.save(buffer, image)
    result = run_load(
        served.url + "/invocations",
        buffer.getvalue(),
        total=10_000,
        concurrency=32,
        headers={"Content-Type": "application/x-npy", "Accept": "application/x-npy"},
    )
    assert result.errors == []
    assert dict(result.statuses) == {200: 10_000}
    assert httpx.get(served.url + "/ping").status_code == 200
