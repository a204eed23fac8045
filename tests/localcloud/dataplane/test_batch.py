"""What the batch jobs share, in-process on moto's SageMaker backend and a real state store: a
job a restart cut short (its record still InProgress, its work dir as the crash left it: the
transform job's unpacked model, the processing job's inputs) is Failed with the reason at the
next start, and its work dir is gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from moto.sagemaker.models import sagemaker_backends

from localcloud.dataplane.batch import BatchJobs
from localcloud.dataplane.processing import ProcessingJobs
from localcloud.dataplane.transform import TransformJobs
from localcloud.shared.persistence import StateStore

ACCOUNT, REGION = "333344445555", "us-east-1"


def _transform(backend: Any, name: str) -> Any:
    return backend.create_transform_job(
        name, "model", 1, {}, 6, "SingleRecord", {}, {}, {}, {}, {}, {}, [], {}
    )


def _processing(backend: Any, name: str) -> Any:
    return backend.create_processing_job({}, {}, {}, [], name, {}, "role", [], {})


@pytest.mark.parametrize(
    ("kind", "record", "left"),
    [
        (TransformJobs, _transform, "model/model.pth"),
        (ProcessingJobs, _processing, "algo-1/input/data/raw.npz"),
    ],
    ids=["transform", "processing"],
)
def test_a_job_a_restart_cut_short_fails_and_its_work_dir_goes(
    tmp_path: Path, kind: type[BatchJobs], record: Any, left: str
) -> None:
    backend = sagemaker_backends[ACCOUNT][REGION]
    jobs = kind(tmp_path, "http://localhost:1", StateStore(tmp_path))
    name = f"cut-short-{kind.prefix.replace('_', '-')}"
    job = record(backend, name)
    setattr(job, f"{kind.prefix}_status", "InProgress")
    assert jobs.root is not None
    work_dir = jobs.root / ACCOUNT / REGION / name
    (work_dir / left).parent.mkdir(parents=True)
    (work_dir / left).write_bytes(b"what the crash left")
    (jobs.root / ACCOUNT / REGION / "another-job").mkdir()  # not this job's

    jobs.recover(sagemaker_backends)

    assert jobs.status(job) == "Failed"
    assert job.failure_reason == "the local cloud restarted while the job ran"
    assert not work_dir.exists()
    assert (jobs.root / ACCOUNT / REGION / "another-job").is_dir()
