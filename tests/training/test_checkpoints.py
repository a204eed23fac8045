"""Checkpoints synced both ways and a stopped job's model uploaded, on real host processes with
S3 on the session's moto server."""

from __future__ import annotations

import io
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from training.checkpoints import local_dir
from training.executor import TrainingRun
from training.sourcedir import pack_sourcedir
from training.spec import TrainingJobSpec

BUCKET = "sagemaker-us-east-1-123456789012"  # the training tests' moto bucket
ROLE = "arn:aws:iam::123456789012:role/SageMaker-local"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-cpu-py312"

# Resumes from the checkpoint it finds, writes the next one, then waits for the test's go.
RESUMING = """
import os, pathlib, sys, time
ckpt = pathlib.Path(os.environ["SM_CHECKPOINT_DIR"])
step = int((ckpt / "step.txt").read_text()) if (ckpt / "step.txt").exists() else 0
(ckpt / "sub").mkdir(exist_ok=True)
(ckpt / "sub" / f"step-{step + 1}.txt").write_text(str(step + 1))
print(f"resumed-from={step}", flush=True)
go = pathlib.Path(sys.argv[sys.argv.index("--go") + 1])
while not go.exists():
    time.sleep(0.1)
(ckpt / "last.txt").write_text("written as the script ends")
"""

# Saves its model and a checkpoint in the SIGTERM window, as SageMaker's docs advise.
SAVES_ON_SIGTERM = """
import os, pathlib, signal, sys, time
def save(*_):
    pathlib.Path(os.environ["SM_MODEL_DIR"], "model.pth").write_bytes(b"weights")
    pathlib.Path(os.environ["SM_CHECKPOINT_DIR"], "at-stop.txt").write_text("saved")
    sys.exit(0)
signal.signal(signal.SIGTERM, save)
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""


def _request(s3: Any, tmp_path: Path, name: str, source: str, **overrides: Any) -> dict:
    script = tmp_path / "train.py"
    script.write_text(source)
    archive = pack_sourcedir(tmp_path / "src.tar.gz", {"train.py": script})
    s3.upload_file(str(archive), BUCKET, f"src/{name}.tar.gz")
    (tmp_path / "data.txt").write_text("x")
    s3.upload_file(str(tmp_path / "data.txt"), BUCKET, f"data/{name}/data.txt")
    return TrainingJobSpec(
        job_name=name,
        role_arn=ROLE,
        image_uri=IMAGE,
        region="us-east-1",
        sourcedir_uri=f"s3://{BUCKET}/src/{name}.tar.gz",
        output_path=f"s3://{BUCKET}/training-jobs",
        channels={"training": f"s3://{BUCKET}/data/{name}/"},
        entry_point="train.py",
        checkpoint_uri=f"s3://{BUCKET}/checkpoints/{name}",
        **overrides,
    ).to_request()


def _body(s3: Any, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def _until(found: Any, what: str, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while (value := found()) is None:
        assert time.monotonic() < deadline, f"{what} never came"
        time.sleep(0.1)
    return value


def test_local_path_maps_into_the_host_tree(tmp_path: Path) -> None:
    assert local_dir(tmp_path, {}) == tmp_path / "checkpoints"
    custom = {"CheckpointConfig": {"S3Uri": "s3://b/c", "LocalPath": "/opt/ml/ckpt/a"}}
    assert local_dir(tmp_path, custom) == tmp_path / "ckpt" / "a"
    elsewhere = {"CheckpointConfig": {"S3Uri": "s3://b/c", "LocalPath": "/mnt/ckpt"}}
    assert local_dir(tmp_path, elsewhere) == tmp_path / "fs" / "mnt" / "ckpt"


@pytest.mark.slow
def test_checkpoints_resume_and_upload_while_the_job_runs(s3: Any, tmp_path: Path) -> None:
    go = tmp_path / "go"
    request = _request(s3, tmp_path, "resumes", RESUMING, hyperparameters={"go": str(go)})
    s3.put_object(Bucket=BUCKET, Key="checkpoints/resumes/step.txt", Body=b"41")
    run = TrainingRun(request, work_dir=tmp_path / "work", s3_client=s3)
    run.start()
    try:
        # The next checkpoint reaches S3 while the script still runs (it waits for `go`).
        body = _until(lambda: _body(s3, "checkpoints/resumes/sub/step-42.txt"), "step-42")
        assert body == b"42"
        assert run.status == "InProgress"
        assert "resumed-from=41" in run.logs["algo-1"]
    finally:
        go.write_text("go")
    assert run.wait(60)
    assert run.status == "Completed", run.failure_reason
    # Written as the script ended: uploaded by the last sync, before the job completed.
    assert _body(s3, "checkpoints/resumes/last.txt") == b"written as the script ends"
    assert _body(s3, "checkpoints/resumes/step.txt") == b"41"  # nothing deleted
    assert run.training_start_time is not None and run.training_end_time is not None
    training = next(t for t in run.secondary_status_transitions if t["Status"] == "Training")
    uploading = next(t for t in run.secondary_status_transitions if t["Status"] == "Uploading")
    # Billed from the download to the end of the upload, as SageMaker bills.
    assert run.training_start_time < training["StartTime"]
    assert run.training_end_time >= uploading["EndTime"]


@pytest.mark.slow
def test_a_stopped_job_uploads_what_its_script_saved(s3: Any, tmp_path: Path) -> None:
    request = _request(s3, tmp_path, "stopped-saves", SAVES_ON_SIGTERM)
    ready = threading.Event()
    run = TrainingRun(
        request,
        work_dir=tmp_path / "work",
        s3_client=s3,
        on_log=lambda _host, line: line == "ready" and ready.set(),
    )
    run.start()
    assert ready.wait(60), run.logs
    run.stop()
    assert run.wait(60)
    assert (run.status, run.secondary_status) == ("Stopped", "Stopped")
    key = "training-jobs/stopped-saves/output/model.tar.gz"
    assert run.model_artifact == f"s3://{BUCKET}/{key}"
    with tarfile.open(fileobj=io.BytesIO(_body(s3, key) or b"")) as tar:
        assert tar.extractfile("model.pth").read() == b"weights"  # type: ignore[union-attr]
    assert _body(s3, "checkpoints/stopped-saves/at-stop.txt") == b"saved"
    assert run.training_end_time is not None and run.training_end_time <= run.end_time
