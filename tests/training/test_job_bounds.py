"""A training job is bounded in time in every phase: StopTrainingJob ends it within the grace
period and MaxRuntimeInSeconds stops it even while it still downloads or copies its inputs."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from training.executor import TrainingRun

BUCKET = "sagemaker-us-east-1-123456789012"
GRACE_S = 2.0
SLACK_S = 15.0  # a loaded machine's scheduling, never the phase itself


def _request(name: str, sourcedir: str, channel: str, max_runtime: int = 600) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "HyperParameters": {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": f'"{sourcedir}"',
        },
        "AlgorithmSpecification": {
            "TrainingImage": "pytorch-training",
            "TrainingInputMode": "File",
        },
        "InputDataConfig": [
            {
                "ChannelName": "training",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": channel}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }


@pytest.fixture
def stalled_s3() -> Iterator[Any]:
    """An S3 client whose endpoint accepts connections and never answers (a hung network)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        yield boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            config=Config(read_timeout=600, connect_timeout=5, retries={"total_max_attempts": 1}),
        )


def _wait_for(run: TrainingRun, secondary: str) -> None:
    deadline = time.monotonic() + 60
    while run.secondary_status != secondary:
        assert time.monotonic() < deadline, run.secondary_status_transitions
        time.sleep(0.05)


def _processes_in(directory: Path) -> list[int]:
    """Live processes whose working directory lies under `directory`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd").startswith(str(directory)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_stop_during_a_stalled_download_ends_within_the_grace(
    stalled_s3: Any, tmp_path: Path
) -> None:
    request = _request("stalled", f"s3://{BUCKET}/src.tar.gz", f"s3://{BUCKET}/data/")
    run = TrainingRun(request, work_dir=tmp_path, s3_client=stalled_s3, stop_grace_sec=GRACE_S)
    run.start()
    _wait_for(run, "Downloading")
    run.stop()
    assert run.wait(GRACE_S + SLACK_S), run.secondary_status_transitions
    assert (run.status, run.secondary_status) == ("Stopped", "Stopped")
    assert run.model_artifact is None


def test_max_runtime_covers_the_download(stalled_s3: Any, tmp_path: Path) -> None:
    request = _request("slow", f"s3://{BUCKET}/src.tar.gz", f"s3://{BUCKET}/data/", max_runtime=3)
    run = TrainingRun(request, work_dir=tmp_path, s3_client=stalled_s3, stop_grace_sec=GRACE_S)
    run.start()
    assert run.wait(3 + GRACE_S + SLACK_S), run.secondary_status_transitions
    assert (run.status, run.secondary_status) == ("Stopped", "MaxRuntimeExceeded")
    statuses = [t["Status"] for t in run.secondary_status_transitions]
    assert statuses == ["Starting", "Downloading", "MaxRuntimeExceeded"]


def test_stop_during_an_endless_copy_ends_it(tmp_path: Path) -> None:
    # A sourcedir folder whose links lead out of it (a copy that followed them would not end):
    # the copy refuses them, or the stop ends it; either way the job ends.
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text("print('never runs')\n")
    (source / "a").symlink_to("..")
    (source / "b").symlink_to("../..")
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.txt").write_text("x")
    request = _request("copying", f"file://{source}", f"file://{data}")
    work = tmp_path / "work"
    run = TrainingRun(request, work_dir=work, s3_client=None, stop_grace_sec=GRACE_S)
    run.start()
    _wait_for(run, "Downloading")
    time.sleep(0.5)  # let the copy get going (or refuse the links: both must end the job)
    run.stop()
    assert run.wait(GRACE_S + SLACK_S), run.secondary_status_transitions
    assert run.status in ("Stopped", "Failed"), run.status
    assert _processes_in(work) == []  # nothing goes on copying
