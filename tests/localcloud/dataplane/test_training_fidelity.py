"""Training jobs on the local cloud as SageMaker describes and lists them: billed and training
time, ListTrainingJobs' filters, sort orders and pages, and a stopped job's model in S3."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.cloud import BUCKET, poll, training_request, upload_sourcedir, wait_job

pytestmark = pytest.mark.slow

SAVES_ON_SIGTERM = """
import os, pathlib, signal, sys, time
def save(*_):
    pathlib.Path(os.environ["SM_MODEL_DIR"], "model.pth").write_bytes(b"weights")
    sys.exit(0)
signal.signal(signal.SIGTERM, save)
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""


def test_training_and_billable_time(trained_job: dict[str, Any]) -> None:
    seconds = (trained_job["TrainingEndTime"] - trained_job["TrainingStartTime"]).total_seconds()
    # Per instance (the bill is BillableTimeInSeconds * InstanceCount), no spot savings.
    assert trained_job["BillableTimeInSeconds"] == max(1, math.ceil(seconds))
    assert trained_job["TrainingTimeInSeconds"] == trained_job["BillableTimeInSeconds"]
    training = next(
        t for t in trained_job["SecondaryStatusTransitions"] if t["Status"] == "Training"
    )
    # Billed from the download on, to the end of the upload.
    assert trained_job["TrainingStartTime"] < training["StartTime"]
    assert (
        trained_job["TrainingEndTime"] >= trained_job["SecondaryStatusTransitions"][-2]["EndTime"]
    )


@pytest.fixture(scope="module")
def listed(
    sagemaker: Any, s3: Any, training_inputs: str, tmp_path_factory: pytest.TempPathFactory
) -> list[str]:
    """Jobs created in the order b, a, c (no sourcedir: each fails at once), then d (runs a
    one-line script: Completed)."""
    failing = ["lst-b", "lst-a", "lst-c"]
    for name in failing:
        request = training_request(name, f"s3://{BUCKET}/none.tar.gz", f"s3://{BUCKET}/none")
        sagemaker.create_training_job(**request)
    script = tmp_path_factory.mktemp("lst") / "done.py"
    script.write_text("print('done')\n")
    sourcedir = upload_sourcedir(s3, "code/lst/sourcedir.tar.gz", {"done.py": script})
    sagemaker.create_training_job(
        **training_request("lst-d", sourcedir, training_inputs, program="done.py")
    )
    for name in failing:
        assert wait_job(sagemaker, name)["TrainingJobStatus"] == "Failed"
    assert wait_job(sagemaker, "lst-d")["TrainingJobStatus"] == "Completed"
    return [*failing, "lst-d"]


def _names(answer: dict[str, Any]) -> list[str]:
    return [s["TrainingJobName"] for s in answer["TrainingJobSummaries"]]


def test_list_training_jobs_sorts(sagemaker: Any, listed: list[str]) -> None:
    def names(**kwargs: Any) -> list[str]:
        return _names(sagemaker.list_training_jobs(NameContains="lst-", **kwargs))

    assert names() == ["lst-b", "lst-a", "lst-c", "lst-d"]  # CreationTime, Ascending by default
    assert names(SortBy="Name") == ["lst-a", "lst-b", "lst-c", "lst-d"]
    assert names(SortBy="Name", SortOrder="Descending") == ["lst-d", "lst-c", "lst-b", "lst-a"]
    newest_first = ["lst-d", "lst-c", "lst-a", "lst-b"]
    assert names(SortBy="CreationTime", SortOrder="Descending") == newest_first
    # Status, then creation time: Completed before Failed.
    assert names(SortBy="Status") == ["lst-d", "lst-b", "lst-a", "lst-c"]
    assert names(StatusEquals="Completed") == ["lst-d"]
    created = sagemaker.describe_training_job(TrainingJobName="lst-a")["CreationTime"]
    assert names(CreationTimeAfter=created) == ["lst-c", "lst-d"]
    assert names(CreationTimeBefore=created) == ["lst-b"]
    summary = sagemaker.list_training_jobs(NameContains="lst-a")["TrainingJobSummaries"][0]
    assert summary["SecondaryStatus"] == "Failed"
    assert "TrainingEndTime" in summary


def test_list_training_jobs_filters_names_before_it_pages(
    sagemaker: Any, listed: list[str]
) -> None:
    first = sagemaker.list_training_jobs(NameContains="lst-", SortBy="Name", MaxResults=3)
    assert _names(first) == ["lst-a", "lst-b", "lst-c"]
    second = sagemaker.list_training_jobs(
        NameContains="lst-", SortBy="Name", MaxResults=3, NextToken=first["NextToken"]
    )
    assert _names(second) == ["lst-d"]
    assert "NextToken" not in second
    # StatusEquals filters the page once cut (AWS's documented order): d and c, then c alone.
    newest = sagemaker.list_training_jobs(
        NameContains="lst-",
        SortBy="Name",
        SortOrder="Descending",
        MaxResults=2,
        StatusEquals="Failed",
    )
    assert _names(newest) == ["lst-c"]
    assert "NextToken" in newest
    paginator = sagemaker.get_paginator("list_training_jobs")
    pages = paginator.paginate(NameContains="lst-", PaginationConfig={"PageSize": 1})
    assert [n for page in pages for n in _names(page)] == listed


def test_list_training_jobs_refuses_an_unknown_sort(sagemaker: Any) -> None:
    with pytest.raises(ClientError) as err:
        sagemaker.list_training_jobs(SortBy="Size")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["Error"]["Message"] == (
        "1 validation error detected: Value 'Size' at 'sortBy' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Name, CreationTime, Status]"
    )


def test_a_stopped_job_has_its_model_where_model_artifacts_says(
    sagemaker: Any, s3: Any, cloud: Any, training_inputs: str, tmp_path: Path
) -> None:
    script = tmp_path / "saves.py"
    script.write_text(SAVES_ON_SIGTERM)
    sourcedir = upload_sourcedir(s3, "code/saves/sourcedir.tar.gz", {"saves.py": script})
    request = training_request("saves-job", sourcedir, training_inputs, program="saves.py")
    sagemaker.create_training_job(**request)
    logs = cloud.client("logs")

    def ready() -> bool:
        try:
            streams = logs.describe_log_streams(
                logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="saves-job/"
            )["logStreams"]
        except ClientError:
            return False
        return any(
            e["message"] == "ready"
            for s in streams
            for e in logs.get_log_events(
                logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=s["logStreamName"]
            )["events"]
        )

    poll(ready, bool, lambda _: "the script never said ready", 120, 0.2)
    sagemaker.stop_training_job(TrainingJobName="saves-job")
    job = wait_job(sagemaker, "saves-job", timeout_s=120)
    assert job["TrainingJobStatus"] == "Stopped"
    url = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert url == f"s3://{BUCKET}/output/saves-job/output/model.tar.gz"
    head = s3.head_object(Bucket=BUCKET, Key=url.split("/", 3)[3])
    assert head["ContentLength"] > 0
    assert job["BillableTimeInSeconds"] >= 1
