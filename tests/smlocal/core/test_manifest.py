"""Manifest validation: each bad value fails before any synth, naming file, field and value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from smlocal.core.environments import ENVIRONMENTS_DIR, load, load_all, load_environment, platforms
from smlocal.core.manifest import (
    AsyncEndpoint,
    ManifestError,
    ModelPin,
    ProvisionedEndpoint,
    ServerlessEndpoint,
)
from smlocal.core.pins import write_pin
from tests.helpers.cli import SMLOCAL, one_line_refusal, run

GOOD: dict[str, Any] = {
    "name": "dev",
    "account": "123456789012",
    "region": "us-east-1",
    "endpoint_kind": "serverless",
    "serverless": {"memory_size_mb": 2048, "max_concurrency": 5},
    "model": {},
}
URL = "s3://sagemaker-us-east-1-123456789012/mnist/job/output/model.tar.gz"


def _write(directory: Path, data: dict[str, Any]) -> Path:
    path = directory / f"{data['name']}.yaml"
    YAML().dump(data, path)
    return path


def _fails(tmp_path: Path, **changes: Any) -> str:
    path = _write(tmp_path, {**GOOD, **changes})
    with pytest.raises(ManifestError) as err:
        load_environment(path)
    return str(err.value)


def test_good_manifest_loads(tmp_path: Path) -> None:
    env = load_environment(_write(tmp_path, GOOD))
    assert isinstance(env.endpoint, ServerlessEndpoint)
    assert env.role_name == "SageMaker-local"
    assert env.bucket_name == "sagemaker-us-east-1-123456789012"
    assert env.role_arn == "arn:aws:iam::123456789012:role/SageMaker-local"
    assert not env.model.is_set


def test_shipped_manifests_load_with_their_documented_kinds() -> None:
    envs = load_all(ENVIRONMENTS_DIR)
    assert list(envs) == ["dev", "staging", "prod"]
    assert isinstance(envs["dev"].endpoint, ServerlessEndpoint)
    prod = envs["prod"].endpoint
    assert isinstance(prod, ProvisionedEndpoint) and prod.autoscaling is not None
    assert envs["prod"].bucket_removal_policy == "retain"
    assert {(e.account, e.region) for e in envs.values()} == {("123456789012", "us-east-1")}


def test_a_bad_manifest_is_one_line_naming_file_field_and_value_exit_2(tmp_path: Path) -> None:
    _write(tmp_path, {**GOOD, "serverless": {"memory_size_mb": 512, "max_concurrency": 5}})
    line = one_line_refusal(run([SMLOCAL, "validate", "--envdir", str(tmp_path)]))
    assert str(tmp_path / "dev.yaml") in line
    assert "serverless.memory_size_mb" in line and "got 512" in line


@pytest.mark.parametrize("memory", [512, 1000, 2500, 7168])
def test_fails_memory_not_in_1024_to_6144_by_1024(tmp_path: Path, memory: int) -> None:
    msg = _fails(tmp_path, serverless={"memory_size_mb": memory, "max_concurrency": 5})
    assert "dev.yaml" in msg
    assert "serverless.memory_size_mb" in msg
    assert f"got {memory}" in msg


@pytest.mark.parametrize("concurrency", [0, 201])
def test_fails_concurrency_outside_1_to_200(tmp_path: Path, concurrency: int) -> None:
    msg = _fails(tmp_path, serverless={"memory_size_mb": 2048, "max_concurrency": concurrency})
    assert "dev.yaml" in msg
    assert "serverless.max_concurrency" in msg
    assert f"must be 1–200, got {concurrency}" in msg


def test_fails_provisioned_concurrency_above_max(tmp_path: Path) -> None:
    msg = _fails(
        tmp_path,
        serverless={"memory_size_mb": 2048, "max_concurrency": 5, "provisioned_concurrency": 6},
    )
    assert "dev.yaml" in msg
    assert "serverless" in msg and "provisioned_concurrency" in msg
    assert "got 6" in msg and "(5)" in msg


def test_fails_unknown_instance_type(tmp_path: Path) -> None:
    msg = _fails(
        tmp_path,
        endpoint_kind="provisioned",
        serverless=None,
        provisioned={"instance_type": "ml.m5.huge"},
    )
    assert "dev.yaml" in msg
    assert "provisioned.instance_type" in msg
    assert "'ml.m5.huge'" in msg


def test_fails_gpu_for_serverless(tmp_path: Path) -> None:
    msg = _fails(tmp_path, inference_image={"processor": "gpu"})
    assert "dev.yaml" in msg
    assert "inference_image.processor" in msg
    assert "serverless" in msg and "'gpu'" in msg


def test_fails_instance_type_in_serverless_block(tmp_path: Path) -> None:
    msg = _fails(
        tmp_path,
        serverless={"memory_size_mb": 2048, "max_concurrency": 5, "instance_type": "ml.g5.xlarge"},
    )
    assert "dev.yaml" in msg
    assert "serverless.instance_type" in msg
    assert "'ml.g5.xlarge'" in msg


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/model.tar.gz",
        "s3://bucket/model.zip",
        "s3://bucket/",
        "/local/model.tar.gz",
    ],
)
def test_fails_model_url_not_s3_tar_gz(tmp_path: Path, url: str) -> None:
    msg = _fails(tmp_path, model={"model_data_url": url, "sha256": "a" * 64})
    assert "dev.yaml" in msg
    assert "model.model_data_url" in msg
    assert repr(url) in msg


def test_fails_missing_sha256_when_url_is_set(tmp_path: Path) -> None:
    msg = _fails(tmp_path, model={"model_data_url": URL})
    assert "dev.yaml" in msg
    assert "model" in msg and "sha256 is required" in msg
    assert URL in msg


def test_fails_malformed_sha256(tmp_path: Path) -> None:
    msg = _fails(tmp_path, model={"model_data_url": URL, "sha256": "ABC"})
    assert "model.sha256" in msg and "'ABC'" in msg


@pytest.mark.parametrize("region", ["us-east", "US-EAST-1", "useast1", "us-east-1a"])
def test_fails_malformed_region(tmp_path: Path, region: str) -> None:
    msg = _fails(tmp_path, region=region)
    assert "dev.yaml" in msg
    assert "region" in msg
    assert repr(region) in msg


@pytest.mark.parametrize("account", ["12345678901", "1234567890123", "12345678901a"])
def test_fails_malformed_account(tmp_path: Path, account: str) -> None:
    msg = _fails(tmp_path, account=account)
    assert "dev.yaml" in msg
    assert "account" in msg
    assert repr(account) in msg


def test_fails_unquoted_account_that_yaml_reads_as_a_number(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text(
        "name: dev\naccount: 123456789012\nregion: us-east-1\nendpoint_kind: serverless\n"
        "serverless: {memory_size_mb: 2048, max_concurrency: 5}\n"
    )
    with pytest.raises(ManifestError, match=r"dev\.yaml: account: .*in quotes, got 123456789012"):
        load_environment(path)


def test_fails_two_environments_in_one_account_region_with_different_role_names(
    tmp_path: Path,
) -> None:
    _write(tmp_path, GOOD)
    _write(tmp_path, {**GOOD, "name": "prod", "role_name": "Other-role"})
    with pytest.raises(ManifestError) as err:
        load_all(tmp_path)
    msg = str(err.value)
    assert "prod.yaml: role_name" in msg
    assert "'SageMaker-local'" in msg and "'Other-role'" in msg
    assert "123456789012" in msg and "us-east-1" in msg


def test_fails_two_environments_sharing_a_bucket_with_different_kms_keys(tmp_path: Path) -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-0000-4000-8000-000000000000"
    _write(tmp_path, GOOD)
    _write(tmp_path, {**GOOD, "name": "prod", "bucket_kms_key_arn": key})
    with pytest.raises(ManifestError, match=r"prod\.yaml: bucket_kms_key_arn: .*share one bucket"):
        load_all(tmp_path)


def test_fails_kms_key_in_another_region(tmp_path: Path) -> None:
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-0000-4000-8000-000000000000"
    msg = _fails(tmp_path, bucket_kms_key_arn=key)
    assert "dev.yaml" in msg and "bucket_kms_key_arn" in msg and key in msg


def test_fails_malformed_kms_key(tmp_path: Path) -> None:
    msg = _fails(tmp_path, bucket_kms_key_arn="alias/my-key")
    assert "dev.yaml: bucket_kms_key_arn" in msg and "'alias/my-key'" in msg


def test_fails_endpoint_block_missing_for_kind(tmp_path: Path) -> None:
    msg = _fails(tmp_path, endpoint_kind="provisioned")
    assert "dev.yaml" in msg and "'provisioned' block is missing" in msg


def test_fails_initial_count_outside_autoscaling_range(tmp_path: Path) -> None:
    msg = _fails(
        tmp_path,
        endpoint_kind="provisioned",
        serverless=None,
        provisioned={
            "instance_type": "ml.m5.large",
            "initial_instance_count": 5,
            "autoscaling": {"min": 1, "max": 4, "target_invocations_per_instance": 100},
        },
    )
    assert "dev.yaml: provisioned" in msg and "got 5" in msg


def _async(**settings: Any) -> dict[str, Any]:
    return {
        "endpoint_kind": "async",
        "serverless": None,
        "async": {"instance_type": "ml.m5.large", **settings},
    }


def test_async_endpoint_defaults_to_the_default_bucket_prefixes(tmp_path: Path) -> None:
    env = load_environment(_write(tmp_path, {**GOOD, **_async()}))
    spec = env.endpoint
    assert isinstance(spec, AsyncEndpoint) and env.endpoint_kind == "async"
    assert (spec.output_prefix, spec.failure_prefix) == (
        "async-inference/output",
        "async-inference/failures",
    )
    assert spec.initial_instance_count == 1 and spec.processor == "cpu"
    assert spec.max_concurrent_invocations_per_instance is None


@pytest.mark.parametrize(
    ("settings", "field", "value"),
    [
        ({"output_prefix": "s3://bucket/out"}, "async.output_prefix", "'s3://bucket/out'"),
        ({"failure_prefix": "/failures/"}, "async.failure_prefix", "'/failures/'"),
        (
            {"max_concurrent_invocations_per_instance": 0},
            "async.max_concurrent_invocations_per_instance",
            "got 0",
        ),
        ({"invocation_timeout_seconds": 3601}, "async.invocation_timeout_seconds", "got 3601"),
        ({"instance_type": "ml.nope.large"}, "async.instance_type", "'ml.nope.large'"),
        ({"failure_prefix": "async-inference/output"}, "async", "'async-inference/output'"),
        (
            {
                "initial_instance_count": 3,
                "autoscaling": {"min": 1, "max": 2, "target_invocations_per_instance": 5},
            },
            "async",
            "got 3",
        ),
    ],
)
def test_async_endpoint_refuses_bad_values(
    tmp_path: Path, settings: dict[str, Any], field: str, value: str
) -> None:
    msg = _fails(tmp_path, **_async(**settings))
    assert f"dev.yaml: {field}" in msg and value in msg and "\n" not in msg


def test_async_kind_takes_only_its_own_block(tmp_path: Path) -> None:
    msg = _fails(tmp_path, endpoint_kind="async")
    assert "dev.yaml" in msg and "'async' block is missing" in msg
    both = {**_async(), "serverless": GOOD["serverless"]}
    msg = _fails(tmp_path, **both)
    assert "'serverless' block is present too" in msg


def _provisioned(**deployment: Any) -> dict[str, Any]:
    return {
        "endpoint_kind": "provisioned",
        "serverless": None,
        "provisioned": {"instance_type": "ml.m5.large", "deployment": deployment},
    }


def test_deployment_defaults_to_all_at_once_with_a_bake(tmp_path: Path) -> None:
    endpoint = load_environment(_write(tmp_path, {**GOOD, **_provisioned()})).endpoint
    assert isinstance(endpoint, ProvisionedEndpoint)
    chosen = endpoint.deployment
    assert (chosen.traffic, chosen.wait_seconds, chosen.bake_seconds) == ("all_at_once", 0, 300)
    linear = {"traffic": "linear", "linear_step_percent": 30, "wait_seconds": 60}
    endpoint = load_environment(_write(tmp_path, {**GOOD, **_provisioned(**linear)})).endpoint
    assert isinstance(endpoint, ProvisionedEndpoint) and endpoint.deployment.waits == 3


@pytest.mark.parametrize(
    ("deployment", "problem"),
    [
        ({"traffic": "canary", "wait_seconds": 60}, "traffic canary needs canary_percent"),
        ({"traffic": "canary", "canary_percent": 10}, "traffic canary needs wait_seconds > 0"),
        (
            {"traffic": "linear", "canary_percent": 10, "wait_seconds": 60},
            "canary_percent applies to traffic canary only, got 10",
        ),
        ({"wait_seconds": 30}, "wait_seconds applies to traffic canary and linear only, got 30"),
        (
            {"traffic": "canary", "canary_percent": 51, "wait_seconds": 60},
            "canary_percent: Input should be less than or equal to 50",
        ),
        ({"traffic": "blue"}, "traffic: Input should be 'all_at_once', 'canary' or 'linear'"),
        (
            {"traffic": "linear", "linear_step_percent": 10, "wait_seconds": 300},
            "timeout_seconds must exceed the waits and the bake (3000 s), got 1800",
        ),
        ({"bake_seconds": 7200}, "bake_seconds: Input should be less than or equal to 3600"),
    ],
)
def test_fails_a_deployment_sagemaker_would_refuse(
    tmp_path: Path, deployment: dict[str, Any], problem: str
) -> None:
    msg = _fails(tmp_path, **_provisioned(**deployment))
    assert "dev.yaml: provisioned.deployment" in msg and problem in msg, msg


def test_fails_name_that_does_not_match_the_file(tmp_path: Path) -> None:
    path = tmp_path / "staging.yaml"
    YAML().dump(GOOD, path)
    with pytest.raises(ManifestError, match=r"staging\.yaml: name: .*'staging', got 'dev'"):
        load_environment(path)


def test_fails_unknown_field(tmp_path: Path) -> None:
    msg = _fails(tmp_path, instance_count=3)
    assert "dev.yaml: instance_count" in msg and "got 3" in msg


def test_fails_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text("name: [dev\n")
    with pytest.raises(ManifestError, match=r"dev\.yaml: not valid YAML"):
        load_environment(path)


def test_fails_unknown_environment_name(tmp_path: Path) -> None:
    _write(tmp_path, GOOD)
    with pytest.raises(ManifestError, match=r"unknown environment 'qa'; known: dev"):
        load("qa", tmp_path)


def test_platforms_group_by_account_region_and_retain_wins(tmp_path: Path) -> None:
    _write(tmp_path, GOOD)
    _write(tmp_path, {**GOOD, "name": "prod", "bucket_removal_policy": "retain"})
    _write(tmp_path, {**GOOD, "name": "eu", "region": "eu-west-1"})
    groups = {(p.account, p.region): p for p in platforms(load_all(tmp_path))}
    us = groups[("123456789012", "us-east-1")]
    assert us.environments == ("dev", "prod") and us.retain_bucket
    assert not groups[("123456789012", "eu-west-1")].retain_bucket
    assert "arn:aws:ecr:us-east-1:763104351884:repository/pytorch-inference" in (
        us.image_repository_arns
    )


def test_write_pin_keeps_comments_and_order(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    text = (
        '# header comment\nname: dev\naccount: "123456789012"\nregion: us-east-1\n'
        "endpoint_kind: serverless  # why serverless\n"
        "serverless:\n  memory_size_mb: 2048\n  max_concurrency: 5\nmodel: {}\n"
    )
    path.write_text(text)
    env = write_pin(path, ModelPin(model_data_url=URL, sha256="b" * 64, training_job="job"))
    assert env.model.model_data_url == URL
    written = path.read_text()
    assert written.startswith("# header comment\nname: dev\n")
    assert "# why serverless" in written
    assert not list(tmp_path.glob(".dev.yaml.*"))  # no temp file left behind


def test_write_pin_refuses_a_pin_that_would_not_load(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    before = path.read_text()
    bad = ModelPin.model_construct(model_data_url="s3://b/x.zip", sha256="b" * 64)
    with pytest.raises(ManifestError, match=r"model\.model_data_url"):
        write_pin(path, bad)
    assert path.read_text() == before


PROVISIONED = {"instance_type": "ml.m5.large", "initial_instance_count": 1}


def test_data_capture_defaults_to_every_request_into_the_default_bucket(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            **GOOD,
            "endpoint_kind": "provisioned",
            "serverless": None,
            "provisioned": {**PROVISIONED, "data_capture": {}},
        },
    )
    capture = load_environment(path).endpoint.data_capture
    assert capture is not None
    assert (capture.sampling_percentage, capture.destination) == (100, None)


@pytest.mark.parametrize(
    ("capture", "field", "value"),
    [
        ({"sampling_percentage": 101}, "sampling_percentage", "101"),
        ({"destination": "https://bucket/prefix"}, "destination", "'https://bucket/prefix'"),
        ({"sample": 5}, "sample", "5"),
    ],
)
def test_fails_bad_data_capture(tmp_path: Path, capture: dict, field: str, value: str) -> None:
    msg = _fails(
        tmp_path,
        endpoint_kind="provisioned",
        serverless=None,
        provisioned={**PROVISIONED, "data_capture": capture},
    )
    assert "dev.yaml" in msg
    assert f"provisioned.data_capture.{field}" in msg
    assert value in msg


def test_fails_data_capture_on_serverless(tmp_path: Path) -> None:
    msg = _fails(
        tmp_path,
        serverless={"memory_size_mb": 2048, "max_concurrency": 5, "data_capture": {}},
    )
    assert "serverless.data_capture" in msg
