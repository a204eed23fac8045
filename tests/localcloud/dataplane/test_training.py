"""Training jobs on the local cloud, through boto3: they really run, several hosts, real logs."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.cloud import (
    BUCKET,
    poll,
    training_request,
    upload_sourcedir,
    wait_job,
)

pytestmark = pytest.mark.slow


def test_two_host_job_completes_with_metrics_artifact_and_transitions(
    trained_job: dict[str, Any], s3: Any
) -> None:
    assert trained_job["TrainingJobStatus"] == "Completed", trained_job.get("FailureReason")
    assert trained_job["SecondaryStatus"] == "Completed"
    statuses = [t["Status"] for t in trained_job["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    metrics = {m["MetricName"]: m["Value"] for m in trained_job["FinalMetricDataList"]}
    # The request's MetricDefinitions (training.spec's MNIST ones), not moto's made-up metrics.
    assert set(metrics) == {"train_loss", "test_loss", "test_accuracy"}
    # One epoch on the digits lands far above chance (0.1); an untrained net stays near it.
    assert 0.3 < metrics["test_accuracy"] <= 1.0
    assert trained_job["TrainingStartTime"] <= trained_job["TrainingEndTime"]
    url = trained_job["ModelArtifacts"]["S3ModelArtifacts"]
    assert url == f"s3://{BUCKET}/output/mnist-2-hosts/output/model.tar.gz"
    body = s3.get_object(Bucket=BUCKET, Key=url.split("/", 3)[3])["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert {"model.pth", "code/inference.py"} <= set(tar.getnames())


def test_each_host_logs_to_its_own_cloudwatch_stream(trained_job: dict[str, Any], cloud) -> None:
    logs = cloud.client("logs")
    streams = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="mnist-2-hosts/"
    )["logStreams"]
    names = sorted(s["logStreamName"].split("/")[1].rsplit("-", 1)[0] for s in streams)
    assert names == ["algo-1", "algo-2"]
    first = next(s for s in streams if "/algo-1-" in s["logStreamName"])
    events = logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=first["logStreamName"]
    )["events"]
    logged = [e["message"] for e in events if "test_accuracy=" in e["message"]]
    assert logged, "algo-1 logged no test_accuracy line"
    # The job's final metric is the last value its MetricDefinitions regex found in the log.
    last = float(logged[-1].split("test_accuracy=")[1].split()[0])
    final = {m["MetricName"]: m["Value"] for m in trained_job["FinalMetricDataList"]}
    assert final["test_accuracy"] == pytest.approx(last)


BANANA = "raise ValueError('the learning rate is a banana')\n"
SLEEPY = "import time\nprint('sleeping', flush=True)\ntime.sleep(300)\n"


def _submit(
    sagemaker: Any, s3: Any, training_inputs: str, tmp_path: Path, name: str, source: str
) -> None:
    """CreateTrainingJob `<name>-job`, whose sourcedir is the one script `<name>.py`."""
    script = tmp_path / f"{name}.py"
    script.write_text(source)
    sourcedir = upload_sourcedir(s3, f"code/{name}/sourcedir.tar.gz", {f"{name}.py": script})
    request = training_request(f"{name}-job", sourcedir, training_inputs, program=f"{name}.py")
    sagemaker.create_training_job(**request)


def test_a_failing_script_fails_the_job_with_its_error(
    sagemaker: Any, s3: Any, training_inputs: str, tmp_path: Path
) -> None:
    _submit(sagemaker, s3, training_inputs, tmp_path, "broken", BANANA)
    job = wait_job(sagemaker, "broken-job")
    assert job["TrainingJobStatus"] == "Failed"
    assert "the learning rate is a banana" in job["FailureReason"]
    assert job["SecondaryStatusTransitions"][-1]["Status"] == "Failed"


def test_stop_training_job_stops_it(
    sagemaker: Any, s3: Any, training_inputs: str, tmp_path: Path
) -> None:
    _submit(sagemaker, s3, training_inputs, tmp_path, "sleepy", SLEEPY)
    assert sagemaker.describe_training_job(TrainingJobName="sleepy-job")["TrainingJobStatus"] in (
        "InProgress",
    )
    sagemaker.stop_training_job(TrainingJobName="sleepy-job")
    job = wait_job(sagemaker, "sleepy-job", timeout_s=60)
    assert job["TrainingJobStatus"] == "Stopped"
    with pytest.raises(ClientError, match="only an InProgress job can be stopped"):
        sagemaker.stop_training_job(TrainingJobName="sleepy-job")


BLANK = "print('before')\nprint()\nprint('after')\n"


def test_a_blank_line_is_logged_as_cloudwatch_takes_it(
    sagemaker: Any, s3: Any, training_inputs: str, tmp_path: Path, cloud: Any
) -> None:
    """CloudWatch Logs takes no empty message: a blank line is " ", in a training job's stream
    as in every other job's (`batch.put_logs`), each line at the time it was read."""
    _submit(sagemaker, s3, training_inputs, tmp_path, "blank", BLANK)
    job = wait_job(sagemaker, "blank-job")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    logs = cloud.client("logs")
    group = "/aws/sagemaker/TrainingJobs"

    def read() -> list[dict[str, Any]]:  # the lines reach CloudWatch on a thread of their own
        streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="blank-job/")
        return [
            event
            for stream in streams["logStreams"]
            for event in logs.get_log_events(
                logGroupName=group, logStreamName=stream["logStreamName"]
            )["events"]
        ]

    events = poll(read, lambda got: len(got) >= 3, str, timeout_s=10, interval_s=0.2)
    assert [e["message"] for e in events] == ["before", " ", "after"]
    times = [e["timestamp"] for e in events]
    assert times == sorted(times)


def test_job_names_are_unique(sagemaker: Any, trained_job: dict[str, Any]) -> None:
    request = training_request("mnist-2-hosts", f"s3://{BUCKET}/y.tar.gz", f"s3://{BUCKET}/data")
    with pytest.raises(ClientError, match="already exists"):
        sagemaker.create_training_job(**request)
