"""Requests moto would crash on (an HTML 500 page) answer the error AWS sends instead.

The walk over every SageMaker action (tests/localcloud/services/sagemaker/test_audit.py) found
them: an unknown experiment or feature group, a tag call on an ARN of no known resource, a
monitoring job definition without an endpoint input, a training job without an
AlgorithmSpecification or a ResourceConfig (moto records that one as Completed). Each check
runs before moto's method, which keeps its records.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.sagemaker.exceptions import ResourceNotFound
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.utils import arn_formatter

from localcloud.shared.errors import SageMakerValidation


def _before(name: str, check: Callable[..., None]) -> None:
    original = getattr(SageMakerModelBackend, name)
    if getattr(original, "_localcloud_checked", False):
        return

    @functools.wraps(original)
    def checked(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
        check(self, *args, **kwargs)
        return original(self, *args, **kwargs)

    checked._localcloud_checked = True  # type: ignore[attr-defined]
    setattr(SageMakerModelBackend, name, checked)


def _experiment(self: SageMakerModelBackend, experiment_name: str) -> None:
    if experiment_name not in self.experiments:
        raise ResourceNotFound(f"Experiment '{experiment_name}' does not exist.")


def _feature_group(self: SageMakerModelBackend, feature_group_name: str) -> None:
    arn = arn_formatter(
        "feature-group", feature_group_name.lower(), self.account_id, self.region_name
    )
    if arn not in self.feature_groups:
        raise ResourceNotFound(f"Resource Not Found: FeatureGroup {feature_group_name}")


def _resource_from_arn(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto's lookup of a tagged resource, with an unknown kind or name a ValidationException
    (moto's own lookup dereferences None for them)."""

    @functools.wraps(original)
    def lookup(self: SageMakerModelBackend, arn: str) -> Any:
        kind, _, name = arn.split(":")[-1].partition("/")
        try:
            resource = original(self, arn)
        except (AttributeError, ValueError):
            resource = None
        if resource is None:
            raise SageMakerValidation(f"Could not find {kind} with name {name or arn}")
        return resource

    return lookup


def _monitoring_input(field: str) -> Callable[..., None]:
    def check(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> None:
        job_input = kwargs.get(field) or {}
        if "EndpointInput" in job_input:
            return
        if "BatchTransformInput" in job_input:
            raise NotImplementedError("a BatchTransformInput monitoring input is not recorded")
        raise SageMakerValidation(
            f"{field[0].upper()}{field[1:]} must have an EndpointInput or a BatchTransformInput"
        )

    return check


def _training_job(self: SageMakerModelBackend, **kwargs: Any) -> None:
    for field, name in (
        ("algorithm_specification", "AlgorithmSpecification"),
        ("resource_config", "ResourceConfig"),
    ):
        if not kwargs.get(field):
            raise SageMakerValidation(f"{name} is required to create a training job.")


def install() -> None:
    """Wrap the moto backend methods that crash on these requests."""
    _before("describe_experiment", _experiment)
    _before("describe_feature_group", _feature_group)
    lookup = SageMakerModelBackend._get_resource_from_arn
    if not getattr(lookup, "_localcloud_checked", False):
        checked = _resource_from_arn(lookup)
        checked._localcloud_checked = True  # type: ignore[attr-defined]
        SageMakerModelBackend._get_resource_from_arn = checked  # type: ignore[method-assign]
    _before("create_model_quality_job_definition", _monitoring_input("model_quality_job_input"))
    _before(
        "create_model_explainability_job_definition",
        _monitoring_input("model_explainability_job_input"),
    )
    _before("create_training_job", _training_job)
