"""A sourcedir's requirements.txt installed into a cached overlay environment that leaves the
project's untouched; offline, a one-line reason. No network: the package is a wheel built here."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.wheels import WHEEL, build_wheel
from training.executor import run_training_job
from training.requirements import RequirementsError, ensure_overlay
from training.sourcedir import pack_sourcedir
from training.spec import TrainingJobSpec

BUCKET = "sagemaker-us-east-1-123456789012"  # the training tests' moto bucket


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip without its configuration and with an index that refuses connections."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{port}/simple")


@pytest.mark.slow
def test_the_overlay_adds_the_package_keeps_the_project_and_is_cached(
    tmp_path: Path, offline: None
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    build_wheel(code)
    (code / "requirements.txt").write_text(f"./{WHEEL}\n")
    cache = tmp_path / "overlays"
    python = ensure_overlay(code / "requirements.txt", cache, cwd=code)
    probe = "import numpy, smlocal_tinypkg; print(smlocal_tinypkg.VALUE)"
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "from-the-overlay"  # and the project's numpy beside it
    # The project's environment has not changed.
    untouched = subprocess.run([sys.executable, "-c", "import smlocal_tinypkg"], check=False)
    assert untouched.returncode != 0
    # The same requirements again: the overlay is reused, nothing is installed (the wheel is
    # gone, and the index refuses).
    (code / WHEEL).unlink()
    assert ensure_overlay(code / "requirements.txt", cache, cwd=code) == python
    assert [p.name for p in cache.iterdir() if p.is_dir()] == [python.parent.parent.name]


@pytest.mark.slow
def test_an_unreachable_index_is_a_one_line_reason(tmp_path: Path, offline: None) -> None:
    (tmp_path / "requirements.txt").write_text("smlocal-no-such-package==1.0\n")
    cache = tmp_path / "overlays"
    with pytest.raises(RequirementsError) as err:
        ensure_overlay(tmp_path / "requirements.txt", cache, cwd=tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("requirements.txt could not be installed: ")
    assert "smlocal-no-such-package" in message
    assert message.endswith("(the package index could not be reached)")
    assert [p for p in cache.iterdir() if p.is_dir()] == []  # a failed build leaves nothing


@pytest.mark.slow
def test_a_job_runs_its_script_in_the_overlay(
    s3: Any, tmp_path: Path, offline: None, inputs: dict[str, str]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    script = src / "train.py"
    script.write_text("import smlocal_tinypkg\nprint('value=' + smlocal_tinypkg.VALUE)\n")
    (src / "requirements.txt").write_text(f"./{WHEEL}\n")
    wheel = build_wheel(src)
    archive = pack_sourcedir(
        tmp_path / "src.tar.gz",
        {"train.py": script, "requirements.txt": src / "requirements.txt", WHEEL: wheel},
    )
    s3.upload_file(str(archive), BUCKET, "src/with-requirements.tar.gz")
    request = TrainingJobSpec(
        job_name="with-requirements",
        role_arn="arn:aws:iam::123456789012:role/SageMaker-local",
        image_uri="763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-cpu-py312",
        region="us-east-1",
        sourcedir_uri=f"s3://{BUCKET}/src/with-requirements.tar.gz",
        output_path=inputs["output"],
        channels={"training": inputs["data"]},
        entry_point="train.py",
    ).to_request()
    run = run_training_job(request, tmp_path / "work", s3)
    assert run.status == "Completed", run.failure_reason
    assert "value=from-the-overlay" in run.logs["algo-1"]

    # Requirements that cannot be installed fail the job as the toolkit's error.
    (src / "requirements.txt").write_text("./no-such-0.1-py3-none-any.whl\n")
    archive = pack_sourcedir(
        tmp_path / "bad.tar.gz", {"train.py": script, "requirements.txt": src / "requirements.txt"}
    )
    s3.upload_file(str(archive), BUCKET, "src/with-requirements.tar.gz")
    run = run_training_job({**request, "TrainingJobName": "bad-requirements"}, tmp_path / "w2", s3)
    assert run.status == "Failed"
    assert run.failure_reason is not None
    assert run.failure_reason.startswith(
        "AlgorithmError: InstallRequirementsError: requirements.txt could not be installed: "
    )
    assert run.logs["algo-1"] == []  # the script never started
