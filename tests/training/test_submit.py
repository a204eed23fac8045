"""Submission through the real `smlocal` CLI against a moto server, and log streaming.

moto accepts CreateTrainingJob but runs nothing (it reports Completed with an artifact that
does not exist), which is enough to check what is uploaded and sent, and that `--pin` refuses
an artifact it cannot verify.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from botocore.stub import Stubber
from rich.console import Console

from smlocal.core.environments import ENVIRONMENTS_DIR
from tests.helpers.moto import moto_client
from training.cli import _report
from training.submit import LOG_GROUP, LogTail, wait_for_job

BUCKET = "sagemaker-us-east-1-123456789012"
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_train_uploads_submits_waits_and_refuses_an_unverifiable_pin(
    s3: Any, moto_url: str, digits_dir: Path, tmp_path: Path
) -> None:
    envdir = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS_DIR, envdir)
    before = (envdir / "dev.yaml").read_bytes()
    env = os.environ | {"AWS_ENDPOINT_URL": moto_url, "COLUMNS": "200"}
    command = [sys.executable, "-c", "from smlocal.cli import main; main()", "train"]
    command += ["--env", "dev", "--envdir", str(envdir), "--data", str(digits_dir)]
    command += ["--instance-count", "2", "--epochs", "3", "--wait", "--pin"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    # moto's made-up artifact is not in S3: the pin is refused (exit 2), the manifest kept.
    assert result.returncode == 2, result.stderr
    assert "submitted training job mnist-" in result.stderr
    assert "Completed" in result.stderr
    assert "error: cannot read artifact s3://" in result.stderr
    assert (envdir / "dev.yaml").read_bytes() == before

    jobs = moto_client("sagemaker", moto_url).list_training_jobs()["TrainingJobSummaries"]
    job = max(jobs, key=lambda j: j["CreationTime"])["TrainingJobName"]
    described = moto_client("sagemaker", moto_url).describe_training_job(TrainingJobName=job)
    assert described["ResourceConfig"]["InstanceCount"] == 2
    hps = described["HyperParameters"]
    assert json.loads(hps["epochs"]) == 3
    source_uri = json.loads(hps["sagemaker_submit_directory"])
    assert source_uri == f"s3://{BUCKET}/training-jobs/{job}/source/sourcedir.tar.gz"
    body = s3.get_object(Bucket=BUCKET, Key=f"training-jobs/{job}/source/sourcedir.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(body["Body"].read())) as tar:
        assert tar.getnames() == ["inference.py", "mnist.py"]
    uploaded = s3.list_objects_v2(Bucket=BUCKET, Prefix="data/mnist/")["Contents"]
    assert sorted(o["Key"] for o in uploaded) == sorted(
        f"data/mnist/{p.name}" for p in digits_dir.iterdir()
    )


def test_log_tail_follows_each_host_stream(moto_url: str) -> None:
    logs = moto_client("logs", moto_url)
    job = "tail-job"
    tail = LogTail(logs, job)
    assert tail.poll() == []  # no log group yet: nothing, no error
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=LOG_GROUP)
    for host in ("algo-1", "algo-2"):
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=f"{job}/{host}-1700000000")
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="other-job/algo-1-1700000000")

    def put(stream: str, *lines: str) -> None:
        now_ms = int(time.time() * 1000)  # CloudWatch drops events older than 14 days
        events = [{"timestamp": now_ms + i, "message": m} for i, m in enumerate(lines)]
        logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=events)

    put(f"{job}/algo-1-1700000000", "world_size=2 rank=0", "epoch=1")
    put(f"{job}/algo-2-1700000000", "world_size=2 rank=1")
    put("other-job/algo-1-1700000000", "not ours")
    assert tail.poll() == [
        ("algo-1", "world_size=2 rank=0"),
        ("algo-1", "epoch=1"),
        ("algo-2", "world_size=2 rank=1"),
    ]
    assert tail.poll() == []
    put(f"{job}/algo-2-1700000000", "done")
    assert tail.poll() == [("algo-2", "done")]


def test_a_failed_job_prints_its_reason_and_exits_non_zero(moto_url: str) -> None:
    sagemaker = moto_client("sagemaker", moto_url)
    failed = {
        "TrainingJobName": "broken-job",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/broken-job",
        "TrainingJobStatus": "Failed",
        "SecondaryStatus": "Failed",
        "FailureReason": "AlgorithmError: host algo-2 (127.0.0.2) was killed by SIGKILL",
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ModelArtifacts": {"S3ModelArtifacts": ""},
        "ResourceConfig": {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 2},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        "CreationTime": "2026-01-01T00:00:00Z",
    }
    out = io.StringIO()
    console = Console(file=out, width=200)
    with Stubber(sagemaker) as stub:
        stub.add_response("describe_training_job", failed, {"TrainingJobName": "broken-job"})
        job = wait_for_job(sagemaker, moto_client("logs", moto_url), "broken-job", console=console)
    with pytest.raises(typer.Exit) as exit_info:
        _report(console, job)
    assert exit_info.value.exit_code == 1
    assert (
        "training job broken-job Failed: AlgorithmError: host algo-2 (127.0.0.2) was killed by "
        "SIGKILL" in out.getvalue()
    )
