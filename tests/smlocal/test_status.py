"""`smlocal status` against the session's moto server (reset for each test): an EndpointStack
stand-in deployed through CloudFormation (model, endpoint config, endpoint, the EndpointName
output), compared with manifests that match it or differ from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from smlocal.cli import app
from smlocal.core.environments import load_environment
from smlocal.core.manifest import ModelPin
from smlocal.core.naming import endpoint_stack_name
from smlocal.core.pins import write_pin
from smlocal.status import compare
from tests.helpers.moto import SERVERLESS_2048, deploy_endpoint_stand_in, use_moto

ACCOUNT, REGION = "123456789012", "us-east-1"
URL = f"s3://sagemaker-{REGION}-{ACCOUNT}/training-jobs/job-1/output/model.tar.gz"
OTHER_URL = f"s3://sagemaker-{REGION}-{ACCOUNT}/training-jobs/job-2/output/model.tar.gz"
SHA = "a" * 64

SERVERLESS = """\
name: {name}
account: "123456789012"
region: us-east-1
endpoint_kind: serverless
serverless:
  memory_size_mb: 2048
  max_concurrency: 5
model: {{}}
"""
PROVISIONED = """\
name: {name}
account: "123456789012"
region: us-east-1
endpoint_kind: provisioned
provisioned:
  instance_type: ml.m5.large
  initial_instance_count: 1
  autoscaling:
    min: 1
    max: 4
    target_invocations_per_instance: 200
model: {{}}
"""
ASYNC = """\
name: {name}
account: "123456789012"
region: us-east-1
endpoint_kind: async
async:
  instance_type: ml.m5.large
  max_concurrent_invocations_per_instance: 2
model: {{}}
"""
BUCKET = f"s3://sagemaker-{REGION}-{ACCOUNT}"


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    use_moto(monkeypatch, moto_url)
    return boto3.Session(region_name=REGION)


def manifest(envdir: Path, name: str, text: str, url: str | None = URL) -> Path:
    envdir.mkdir(exist_ok=True)
    path = envdir / f"{name}.yaml"
    path.write_text(text.format(name=name))
    if url:
        write_pin(path, ModelPin(model_data_url=url, sha256=SHA))
    return path


def deploy(
    session: boto3.Session,
    env_name: str,
    url: str,
    variant: dict[str, Any],
    config: dict[str, Any] | None = None,
) -> str:
    """Model, config and endpoint through CloudFormation, with the real stack's output."""
    image = load_environment(Path(__file__).parents[2] / "environments" / "dev.yaml").image_uri
    return deploy_endpoint_stand_in(session, env_name, url, variant, image=image, config=config)


M5_LARGE = {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1}


def register_scaling(session: boto3.Session, endpoint: str, low: int, high: int) -> None:
    session.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{endpoint}/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=low,
        MaxCapacity=high,
    )


def status_cli(envdir: Path, name: str) -> Any:
    # A narrow terminal: URIs must still come out whole, each on one line.
    return CliRunner().invoke(
        app, ["status", "--env", name, "--envdir", str(envdir)], env={"COLUMNS": "60"}
    )


def test_serverless_endpoint_as_pinned_is_in_sync(aws, tmp_path):
    manifest(tmp_path, "dev", SERVERLESS)
    endpoint = deploy(aws, "dev", URL, SERVERLESS_2048)

    result = compare(load_environment(tmp_path / "dev.yaml"))

    assert result.deployed and result.in_sync, result
    assert result.endpoint_name == endpoint
    assert result.endpoint_status == "InService"
    assert result.actual["model_data_url"] == URL
    assert (result.actual["memory_size_mb"], result.actual["max_concurrency"]) == (2048, 5)
    cli = status_cli(tmp_path, "dev")
    assert cli.exit_code == 0, cli.output
    assert "dev is in sync with its manifest" in cli.output
    assert f"  model_data_url: {URL}" in cli.output.splitlines()  # whole, on one line


def test_a_new_pin_not_yet_deployed_is_drift_naming_both_urls(aws, tmp_path):
    manifest(tmp_path, "dev", SERVERLESS, url=OTHER_URL)
    deploy(aws, "dev", URL, SERVERLESS_2048)

    result = compare(load_environment(tmp_path / "dev.yaml"))

    assert not result.in_sync
    assert [(d.field, d.desired, d.deployed) for d in result.drift] == [
        ("model_data_url", OTHER_URL, URL)
    ]
    cli = status_cli(tmp_path, "dev")
    assert cli.exit_code == 1
    assert f"drift model_data_url: manifest '{OTHER_URL}', deployed '{URL}'" in cli.output
    assert f"  model_data_url: manifest {OTHER_URL} | deployed {URL}" in cli.output.splitlines()


def test_serverless_settings_that_differ_are_drift(aws, tmp_path):
    manifest(tmp_path, "dev", SERVERLESS)
    deploy(aws, "dev", URL, {"ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 5}})

    drift = compare(load_environment(tmp_path / "dev.yaml")).drift

    assert [(d.field, d.desired, d.deployed) for d in drift] == [("memory_size_mb", 2048, 3072)]


def test_provisioned_with_autoscaling_in_sync_then_drifted(aws, tmp_path):
    manifest(tmp_path, "prod", PROVISIONED)
    endpoint = deploy(aws, "prod", URL, M5_LARGE)
    register_scaling(aws, endpoint, 1, 4)

    result = compare(load_environment(tmp_path / "prod.yaml"))
    assert result.in_sync, result.drift
    assert result.actual["instance_type"] == "ml.m5.large"
    assert (result.actual["autoscaling_min"], result.actual["autoscaling_max"]) == (1, 4)

    register_scaling(aws, endpoint, 1, 2)  # someone changed it by hand
    drift = compare(load_environment(tmp_path / "prod.yaml")).drift
    assert [(d.field, d.desired, d.deployed) for d in drift] == [("autoscaling_max", 4, 2)]


def test_a_manifest_switched_to_serverless_drifts_from_a_provisioned_endpoint(aws, tmp_path):
    manifest(tmp_path, "dev", SERVERLESS)
    deploy(aws, "dev", URL, M5_LARGE)

    result = compare(load_environment(tmp_path / "dev.yaml"))

    drift = {d.field: (d.desired, d.deployed) for d in result.drift}

    assert drift == {
        "kind": ("serverless", "provisioned"),
        "memory_size_mb": (2048, None),
        "max_concurrency": (5, None),
        "instance_type": (None, "ml.m5.large"),
        "initial_instance_count": (None, 1),
    }


def _async_config(output: str, failures: str) -> dict[str, Any]:
    return {
        "AsyncInferenceConfig": {
            "OutputConfig": {"S3OutputPath": output, "S3FailurePath": failures},
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2},
        }
    }


def test_async_endpoint_in_sync_then_its_output_path_drifts(aws, tmp_path):
    manifest(tmp_path, "queue", ASYNC)
    output, failures = f"{BUCKET}/async-inference/output", f"{BUCKET}/async-inference/failures"
    deploy(aws, "queue", URL, M5_LARGE, _async_config(output, failures))

    result = compare(load_environment(tmp_path / "queue.yaml"))
    assert result.in_sync, result.drift
    assert result.actual["kind"] == "async"
    assert result.actual["async_output_path"] == output
    cli = status_cli(tmp_path, "queue")
    assert cli.exit_code == 0, cli.output

    aws.client("cloudformation").delete_stack(StackName=endpoint_stack_name("queue"))
    deploy(aws, "queue", URL, M5_LARGE, _async_config(f"{BUCKET}/elsewhere", failures))
    drift = compare(load_environment(tmp_path / "queue.yaml")).drift
    assert [(d.field, d.desired, d.deployed) for d in drift] == [
        ("async_output_path", output, f"{BUCKET}/elsewhere")
    ]


def test_a_manifest_switched_to_async_drifts_from_a_provisioned_endpoint(aws, tmp_path):
    manifest(tmp_path, "queue", ASYNC)
    deploy(aws, "queue", URL, M5_LARGE)

    drift = {d.field: d.desired for d in compare(load_environment(tmp_path / "queue.yaml")).drift}

    assert drift == {
        "kind": "async",
        "async_output_path": f"{BUCKET}/async-inference/output",
        "async_failure_path": f"{BUCKET}/async-inference/failures",
        "max_concurrent_invocations_per_instance": 2,
    }


def test_nothing_deployed_says_so_and_exits_1(aws, tmp_path):
    manifest(tmp_path, "dev", SERVERLESS)

    result = compare(load_environment(tmp_path / "dev.yaml"))

    assert not result.deployed and not result.in_sync
    assert "stack SageMakerEndpoint-dev is not deployed" in (result.reason or "")
    cli = status_cli(tmp_path, "dev")
    assert cli.exit_code == 1
    assert "dev: not deployed" in cli.output


def test_a_stack_without_the_endpoint_output_is_not_deployed(aws, tmp_path):
    manifest(tmp_path, "dev", SERVERLESS)
    topic = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    aws.client("cloudformation").create_stack(
        StackName=endpoint_stack_name("dev"), TemplateBody=json.dumps(topic)
    )

    result = compare(load_environment(tmp_path / "dev.yaml"))

    assert not result.deployed
    assert result.reason == (
        "stack SageMakerEndpoint-dev is CREATE_COMPLETE and has no EndpointName output"
    )


def test_without_a_pin_there_is_nothing_to_compare(aws, tmp_path):
    manifest(tmp_path, "dev", SERVERLESS, url=None)

    result = compare(load_environment(tmp_path / "dev.yaml"))

    assert not result.deployed
    assert result.reason == "no model is pinned in the manifest"


def test_a_bucket_that_outlived_its_platform_stack_is_reported(aws, tmp_path):
    manifest(tmp_path, "prod", PROVISIONED)
    bucket = f"sagemaker-{REGION}-{ACCOUNT}"
    aws.client("s3").create_bucket(Bucket=bucket)
    aws.client("s3").put_object(Bucket=bucket, Key="training-jobs/a/model.tar.gz", Body=b"x")

    result = compare(load_environment(tmp_path / "prod.yaml"))

    assert not result.deployed
    assert result.kept_bucket == (
        f"bucket {bucket} was kept after its platform stack SageMakerPlatform-{ACCOUNT}-{REGION} "
        "was destroyed (bucket_removal_policy retain, or a bucket that was not empty) and holds "
        "1 objects; delete it by hand if unwanted"
    )
    cli = status_cli(tmp_path, "prod")
    assert cli.exit_code == 1
    assert f"kept: bucket {bucket} was kept" in cli.output


def test_no_bucket_is_reported_while_its_platform_stack_exists(aws, tmp_path):
    manifest(tmp_path, "prod", PROVISIONED)
    bucket = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}}}
    aws.client("cloudformation").create_stack(
        StackName=f"SageMakerPlatform-{ACCOUNT}-{REGION}", TemplateBody=json.dumps(bucket)
    )
    aws.client("s3").create_bucket(Bucket=f"sagemaker-{REGION}-{ACCOUNT}")

    assert compare(load_environment(tmp_path / "prod.yaml")).kept_bucket is None
