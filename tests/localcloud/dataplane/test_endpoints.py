"""Endpoints on the local cloud, through boto3: they serve the trained model, only through the
cloud, update without a failed request, fail with a reason, and go away with their process."""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.helpers.cloud import (
    BUCKET,
    create_model_and_config,
    poll,
    processes_under,
    put_model,
    wait_endpoint,
)
from tests.helpers.models import model_archive
from tests.helpers.ports import listening_ports
from tests.helpers.users import IS_ROOT, NOBODY, connect_as

pytestmark = pytest.mark.slow

SLOW_SCRIPT = """
import time

def model_fn(model_dir):
    return "slow"

def transform_fn(model, body, content_type, accept):
    time.sleep(1.5)
    return body, "application/octet-stream"
"""
NO_MODEL_FN = """
def predict_fn(data, model):
    return data
"""


def digits(n: int = 3) -> np.ndarray:
    return np.random.default_rng(0).random((n, 28, 28), dtype=np.float32)


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def invoke_json(runtime: Any, name: str, array: np.ndarray) -> dict[str, Any]:
    answer = runtime.invoke_endpoint(
        EndpointName=name,
        Body=json.dumps(array.tolist()),
        ContentType="application/json",
        Accept="application/json",
    )
    assert answer["ContentType"] == "application/json"
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    return json.loads(answer["Body"].read())


@pytest.fixture(scope="module")
def trained_endpoint(sagemaker: Any, trained_job: dict[str, Any]) -> str:
    """An endpoint serving the model of the 2-host training job."""
    url = trained_job["ModelArtifacts"]["S3ModelArtifacts"]
    config = create_model_and_config(sagemaker, "mnist-trained", url)
    sagemaker.create_endpoint(EndpointName="mnist", EndpointConfigName=config)
    return "mnist"


def test_endpoint_serves_the_trained_model(
    sagemaker: Any, runtime: Any, trained_endpoint: str
) -> None:
    assert sagemaker.describe_endpoint(EndpointName="mnist")["EndpointStatus"] in (
        "Creating",
        "InService",
    )
    described = wait_endpoint(sagemaker, trained_endpoint)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 1

    predictions = invoke_json(runtime, trained_endpoint, digits(3))["predictions"]
    assert len(predictions) == 3
    assert all(0 <= p["label"] <= 9 and len(p["probabilities"]) == 10 for p in predictions)

    answer = runtime.invoke_endpoint(
        EndpointName=trained_endpoint,
        Body=npy(digits(2)),
        ContentType="application/x-npy",
        Accept="application/x-npy",
    )
    assert answer["ContentType"] == "application/x-npy"
    assert np.load(io.BytesIO(answer["Body"].read())).shape == (2, 10)


def test_only_the_cloud_reaches_the_serving_process(
    cloud: Any, sagemaker: Any, runtime: Any, trained_endpoint: str
) -> None:
    assert wait_endpoint(sagemaker, trained_endpoint)["EndpointStatus"] == "InService"
    serving = {}  # pid -> its socket, from its command line
    for pid in processes_under(cloud.state_dir):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            if "inference.server" in argv:
                serving[pid] = Path(argv[argv.index("--uds") + 1])
    assert serving, "no serving process found"
    # No TCP port to send a request to (or for a DNS-rebinding page to reach) ...
    assert listening_ports({os.getpgid(pid) for pid in serving}) == set()
    for address in serving.values():
        # ... and a socket only the cloud's user may connect to.
        mode = os.stat(address)
        assert stat.S_ISSOCK(mode.st_mode) and stat.S_IMODE(mode.st_mode) == 0o600
        assert mode.st_uid == os.geteuid()
        if IS_ROOT:
            assert connect_as(NOBODY, address) == "EACCES"
    assert len(invoke_json(runtime, trained_endpoint, digits(1))["predictions"]) == 1


def test_a_model_error_carries_the_original_status(runtime: Any, trained_endpoint: str) -> None:
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(
            EndpointName=trained_endpoint, Body=b"not json", ContentType="application/json"
        )
    error = caught.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400


def test_unknown_endpoint_is_a_validation_error(runtime: Any) -> None:
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName="nowhere", Body=b"[]", ContentType="application/json")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "Endpoint nowhere of account 123456789012 not found" in str(caught.value)


def test_update_switches_models_without_a_failed_request(
    sagemaker: Any, runtime: Any, s3: Any, cloud: Any
) -> None:
    old_url = put_model(s3, "models/blue/model.tar.gz", model_archive(seed=1))
    new_url = put_model(s3, "models/green/model.tar.gz", model_archive(seed=2))
    create_model_and_config(sagemaker, "blue", old_url)
    create_model_and_config(sagemaker, "green", new_url)
    sagemaker.create_endpoint(EndpointName="bluegreen", EndpointConfigName="blue")
    assert wait_endpoint(sagemaker, "bluegreen")["EndpointStatus"] == "InService"
    probe = digits(1)
    before = invoke_json(runtime, "bluegreen", probe)
    endpoint_dir = cloud.state_dir / "endpoints" / "123456789012" / "us-east-1" / "bluegreen"
    old_processes = processes_under(endpoint_dir)
    assert old_processes

    errors: list[Exception] = []
    answers: list[dict[str, Any]] = []
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            try:
                answers.append(invoke_json(runtime, "bluegreen", probe))
            except Exception as err:
                errors.append(err)

    client = threading.Thread(target=loop)
    client.start()
    try:
        sagemaker.update_endpoint(EndpointName="bluegreen", EndpointConfigName="green")
        assert sagemaker.describe_endpoint(EndpointName="bluegreen")["EndpointStatus"] == (
            "Updating"
        )
        described = wait_endpoint(sagemaker, "bluegreen")
        time.sleep(0.5)  # a few requests on the new model too
    finally:
        done.set()
        client.join()
    assert errors == []
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "green"
    assert answers[0] == before and answers[-1] != before  # served by blue, then by green
    deadline = time.monotonic() + 30
    while set(old_processes) & set(processes_under(endpoint_dir)):
        assert time.monotonic() < deadline, "the old model's process was not stopped"
        time.sleep(0.2)

    sagemaker.delete_endpoint(EndpointName="bluegreen")
    assert processes_under(endpoint_dir) == []
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sagemaker.describe_endpoint(EndpointName="bluegreen")
    with pytest.raises(ClientError, match="not found"):
        invoke_json(runtime, "bluegreen", probe)


def test_update_to_a_broken_model_keeps_the_old_one_serving(
    sagemaker: Any, runtime: Any, s3: Any
) -> None:
    good = put_model(s3, "models/keep/model.tar.gz", model_archive())
    create_model_and_config(sagemaker, "keep", good)
    create_model_and_config(sagemaker, "keep-broken", f"s3://{BUCKET}/models/absent.tar.gz")
    sagemaker.create_endpoint(EndpointName="keep", EndpointConfigName="keep")
    assert wait_endpoint(sagemaker, "keep")["EndpointStatus"] == "InService"
    sagemaker.update_endpoint(EndpointName="keep", EndpointConfigName="keep-broken")
    described = wait_endpoint(sagemaker, "keep")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "keep"
    assert "models/absent.tar.gz" in described["FailureReason"]
    assert len(invoke_json(runtime, "keep", digits(1))["predictions"]) == 1
    sagemaker.delete_endpoint(EndpointName="keep")


@pytest.mark.parametrize(
    ("name", "archive", "reason"),
    [
        ("missing-artifact", None, "could not download the model data"),
        ("no-model-fn", model_archive(NO_MODEL_FN, weights=False), "defines no model_fn"),
        (
            "script-error",
            model_archive("import nonexistent_module\n", weights=False),
            "nonexistent_module",
        ),
        ("not-a-tarball", b"this is not gzip", "not a readable tar.gz"),
    ],
)
def test_a_malformed_model_fails_the_endpoint_with_the_reason(
    sagemaker: Any, s3: Any, runtime: Any, name: str, archive: bytes | None, reason: str
) -> None:
    key = f"models/{name}/model.tar.gz"
    if archive is not None:
        put_model(s3, key, archive)
    create_model_and_config(sagemaker, name, f"s3://{BUCKET}/{key}")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    described = wait_endpoint(sagemaker, name)
    assert described["EndpointStatus"] == "Failed"
    assert reason in described["FailureReason"]
    with pytest.raises(ClientError, match="not in service"):
        runtime.invoke_endpoint(EndpointName=name, Body=b"[]", ContentType="application/json")
    sagemaker.delete_endpoint(EndpointName=name)


def test_serverless_enforces_max_concurrency_and_payload(
    sagemaker: Any, s3: Any, runtime: Any, cloud: Any
) -> None:
    url = put_model(s3, "models/slow/model.tar.gz", model_archive(SLOW_SCRIPT, weights=False))
    serverless = {"MemorySizeInMB": 2048, "MaxConcurrency": 1}
    create_model_and_config(sagemaker, "slow", url, serverless=serverless)
    sagemaker.create_endpoint(EndpointName="slow", EndpointConfigName="slow")
    described = wait_endpoint(sagemaker, "slow")
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")

    def call(_: int) -> str:
        try:
            runtime.invoke_endpoint(EndpointName="slow", Body=b"x", ContentType="text/plain")
        except ClientError as err:
            return err.response["Error"]["Code"]
        return "ok"

    with ThreadPoolExecutor(3) as pool:
        outcomes = sorted(pool.map(call, range(3)))
    assert outcomes.count("ok") >= 1
    assert "ThrottlingException" in outcomes
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(
            EndpointName="slow", Body=b"x" * (4 * 1024 * 1024 + 1), ContentType="text/plain"
        )
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "4 MB" in str(caught.value)

    # The serverless cold start is published as ModelSetupTime, throttled calls as 4XX errors.
    cloudwatch = cloud.client("cloudwatch")

    def total(name: str) -> dict[str, float]:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName=name,
            Dimensions=[
                {"Name": "EndpointName", "Value": "slow"},
                {"Name": "VariantName", "Value": "AllTraffic"},
            ],
            StartTime=datetime.now(UTC) - timedelta(hours=1),
            EndTime=datetime.now(UTC) + timedelta(minutes=5),
            Period=7200,
            Statistics=["Sum", "SampleCount", "Minimum"],
        )["Datapoints"]
        return points[0] if points else {"Sum": 0.0, "SampleCount": 0.0}

    calls = poll(
        lambda: total("Invocations"),
        lambda got: got["Sum"] >= 4,
        lambda got: f"Invocations: {got}",
        timeout_s=30,
        interval_s=0.5,
    )
    assert calls["Sum"] == 4  # 3 concurrent calls and the oversized one
    assert total("Invocation4XXErrors")["Sum"] == outcomes.count("ThrottlingException") + 1
    setup = total("ModelSetupTime")
    assert setup["SampleCount"] == 1 and setup["Minimum"] > 0
    sagemaker.delete_endpoint(EndpointName="slow")
