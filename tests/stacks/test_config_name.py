"""The endpoint config name: a content hash of what the config serves, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from smlocal.core.manifest import Environment
from stacks.config_name import endpoint_config_name
from stacks.endpoint_stack import endpoint_config_content

BASE: dict[str, Any] = {
    "name": "prod",
    "account": "123456789012",
    "region": "us-east-1",
    "endpoint_kind": "provisioned",
    "provisioned": {
        "instance_type": "ml.m5.large",
        "initial_instance_count": 1,
        "autoscaling": {"min": 1, "max": 4, "target_invocations_per_instance": 200},
    },
    "model": {
        "model_data_url": "s3://b-1/m/model.tar.gz",
        "sha256": "a" * 64,
        "training_job": "job-1",
        "metrics": {"test_accuracy": 0.9},
        "pinned_at": "2026-01-01T00:00:00Z",
    },
}


def _name(**changes: Any) -> str:
    data = {**BASE, **changes}
    env = Environment.model_validate(data)
    return endpoint_config_name(env.name, endpoint_config_content(env))


def test_same_content_same_name() -> None:
    assert _name() == _name()
    assert len(_name()) == len("prod-") + 10


@pytest.mark.parametrize(
    "changes",
    [
        {"model": {**BASE["model"], "model_data_url": "s3://b-1/m2/model.tar.gz"}},
        {"inference_image": {"uri": "111122223333.dkr.ecr.us-east-1.amazonaws.com/x:1"}},
        {"provisioned": {**BASE["provisioned"], "instance_type": "ml.c5.large"}},
        {"provisioned": {**BASE["provisioned"], "initial_instance_count": 2}},
        {"region": "eu-west-1"},
    ],
    ids=["model-url", "image", "instance-type", "instance-count", "region"],
)
def test_what_the_config_serves_changes_the_name(changes: dict[str, Any]) -> None:
    assert _name(**changes) != _name()


@pytest.mark.parametrize(
    "changes",
    [
        {"model": {**BASE["model"], "training_job": "job-2", "metrics": {"test_accuracy": 1}}},
        {"model": {**BASE["model"], "pinned_at": "2027-01-01T00:00:00Z"}},
        {
            "provisioned": {
                **BASE["provisioned"],
                "autoscaling": {"min": 1, "max": 9, "target_invocations_per_instance": 5},
            }
        },
        {"bucket_removal_policy": "retain"},
    ],
    ids=["provenance", "pinned-at", "autoscaling", "bucket"],
)
def test_what_the_config_does_not_hold_keeps_the_name(changes: dict[str, Any]) -> None:
    assert _name(**changes) == _name()


def test_serverless_settings_change_the_name() -> None:
    serverless = {
        "endpoint_kind": "serverless",
        "provisioned": None,
        "serverless": {"memory_size_mb": 2048, "max_concurrency": 5},
    }
    more = {**serverless, "serverless": {"memory_size_mb": 3072, "max_concurrency": 5}}
    assert _name(**serverless) != _name(**more)
