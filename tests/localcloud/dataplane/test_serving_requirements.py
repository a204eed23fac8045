"""A model whose `code/requirements.txt` names a package the project lacks is served from an
overlay environment with that package (as SageMaker's inference toolkit installs it), and one
whose requirements cannot be installed fails its endpoint with pip's reason."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cloud import create_model_and_config, put_model, wait_endpoint
from tests.helpers.wheels import VALUE, WHEEL, build_wheel

pytestmark = pytest.mark.slow

USES_THE_PACKAGE = """
import smlocal_tinypkg

def model_fn(model_dir):
    return smlocal_tinypkg.VALUE

def transform_fn(model, body, content_type, accept):
    return model.encode(), "text/plain"
"""


def _archive(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_code_requirements_are_installed_for_serving(
    sagemaker: Any, s3: Any, runtime: Any, tmp_path: Path
) -> None:
    archive = _archive(
        {
            "code/inference.py": USES_THE_PACKAGE.encode(),
            "code/requirements.txt": f"./{WHEEL}\n".encode(),
            f"code/{WHEEL}": build_wheel(tmp_path).read_bytes(),
        }
    )
    url = put_model(s3, "models/with-requirements/model.tar.gz", archive)
    create_model_and_config(sagemaker, "with-requirements", url)
    sagemaker.create_endpoint(
        EndpointName="with-requirements", EndpointConfigName="with-requirements"
    )
    try:
        described = wait_endpoint(sagemaker, "with-requirements")
        assert described["EndpointStatus"] == "InService", described.get("FailureReason")
        answer = runtime.invoke_endpoint(
            EndpointName="with-requirements", Body=b"x", ContentType="text/plain"
        )
        assert answer["Body"].read().decode() == VALUE
    finally:
        sagemaker.delete_endpoint(EndpointName="with-requirements")


def test_requirements_that_cannot_be_installed_fail_the_endpoint(
    sagemaker: Any, s3: Any, tmp_path: Path
) -> None:
    archive = _archive(
        {
            "code/inference.py": USES_THE_PACKAGE.encode(),
            "code/requirements.txt": b"./no-such-file-0.1-py3-none-any.whl\n",
        }
    )
    url = put_model(s3, "models/bad-requirements/model.tar.gz", archive)
    create_model_and_config(sagemaker, "bad-requirements", url)
    sagemaker.create_endpoint(
        EndpointName="bad-requirements", EndpointConfigName="bad-requirements"
    )
    try:
        described = wait_endpoint(sagemaker, "bad-requirements")
        assert described["EndpointStatus"] == "Failed"
        assert described["FailureReason"].startswith("requirements.txt could not be installed: ")
        assert "no-such-file" in described["FailureReason"]
    finally:
        sagemaker.delete_endpoint(EndpointName="bad-requirements")
