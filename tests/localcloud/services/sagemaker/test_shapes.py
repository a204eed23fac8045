"""SageMaker answers shaped as AWS sends them: optional structures that are not set are absent,
so strict clients parse every Describe / List of the resources the local cloud runs. Judged by
botocore's output shapes and by sagemaker-core's pydantic shapes (in the SDK venv)."""

from __future__ import annotations

import os
import subprocess
import textwrap
from typing import Any

import pytest
from botocore.model import ListShape, MapShape, Shape, StructureShape

from localcloud import control
from tests.helpers import ROOT
from tests.helpers.cloud import (
    create_model_and_config,
    put_model,
    training_request,
    upload_sourcedir,
    wait_endpoint,
    wait_job,
)
from tests.helpers.models import model_archive

pytestmark = pytest.mark.slow

SDK_PYTHON = ROOT / ".venv-sdk" / "bin" / "python"


def empty_optionals(value: Any, shape: Shape, path: str = "") -> list[str]:
    """Paths of members that are empty structures, lists or maps where the shape allows them
    to be absent (AWS omits them)."""
    found: list[str] = []
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in value.items():
            if name not in shape.members:
                continue
            if isinstance(member, dict | list) and not member:
                if name not in shape.required_members:
                    found.append(f"{path}.{name}")
                continue
            found += empty_optionals(member, shape.members[name], f"{path}.{name}")
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for i, item in enumerate(value):
            found += empty_optionals(item, shape.member, f"{path}[{i}]")
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        for key, item in value.items():
            found += empty_optionals(item, shape.value, f"{path}.{key}")
    return found


@pytest.fixture(scope="module")
def resources(s3: Any, sagemaker: Any, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A model, endpoint config, serving endpoint and a finished training job."""
    url = put_model(s3, "shapes/model.tar.gz", model_archive(seed=5))
    create_model_and_config(sagemaker, "shaped", url)
    sagemaker.create_endpoint(EndpointName="shaped", EndpointConfigName="shaped")
    script = tmp_path_factory.mktemp("src") / "train.py"
    script.write_text("print('trained')\n")
    sourcedir = upload_sourcedir(s3, "shapes/sourcedir.tar.gz", {"train.py": script})
    request = training_request(
        "shaped", sourcedir, "s3://localcloud-tests/shapes", program="train.py"
    )
    sagemaker.create_training_job(**request)
    assert wait_job(sagemaker, "shaped")["TrainingJobStatus"] == "Completed"
    assert wait_endpoint(sagemaker, "shaped")["EndpointStatus"] == "InService"
    return {"model": "shaped", "config": "shaped", "endpoint": "shaped", "job": "shaped"}


def test_describe_and_list_have_no_empty_optional_structures(
    sagemaker: Any, resources: dict
) -> None:
    calls = {
        "DescribeModel": {"ModelName": "shaped"},
        "DescribeEndpointConfig": {"EndpointConfigName": "shaped"},
        "DescribeEndpoint": {"EndpointName": "shaped"},
        "DescribeTrainingJob": {"TrainingJobName": "shaped"},
        "ListModels": {},
        "ListEndpointConfigs": {},
        "ListEndpoints": {},
        "ListTrainingJobs": {},
    }
    model = sagemaker.meta.service_model
    for action, params in calls.items():
        snake = next(k for k, v in sagemaker.meta.method_to_api_mapping.items() if v == action)
        method = getattr(sagemaker, snake)
        answer = method(**params)
        answer.pop("ResponseMetadata")
        shape = model.operation_model(action).output_shape
        assert empty_optionals(answer, shape) == [], action


@pytest.mark.skipif(not SDK_PYTHON.exists(), reason="the SDK venv is built by `make setup`")
def test_sagemaker_core_reads_every_resource(cloud: Any, resources: dict) -> None:
    script = textwrap.dedent(
        """
        import boto3
        from sagemaker_core.main.resources import Endpoint, EndpointConfig, Model, TrainingJob

        session = boto3.Session(region_name="us-east-1")
        endpoint = Endpoint.get("shaped", session=session)
        assert endpoint.endpoint_status == "InService", endpoint
        assert EndpointConfig.get("shaped", session=session).production_variants
        assert Model.get("shaped", session=session).primary_container.model_data_url
        assert TrainingJob.get("shaped", session=session).training_job_status == "Completed"
        for kind in (Endpoint, EndpointConfig, Model, TrainingJob):
            assert list(kind.get_all(session=session)), kind  # each summary parsed
        print("parsed")
        """
    )
    # What `eval "$(smlocal cloud env)"` sets, and nothing else.
    env = {**os.environ, **control.environment(cloud.port, cloud.state_dir)}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [str(SDK_PYTHON), "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "parsed" in proc.stdout
