"""What SageMaker refuses before it records anything, checked on the request itself:

- any member that breaks its shape in botocore's service model (`names.check_request`: length,
  range, pattern, enum, required members), on every action the cloud does not refuse, with
  AWS's wording and the member's path as AWS spells it (`resourceConfig.instanceType`,
  `productionVariants.1.member.variantName`); instance types are the model's current enums
  (moto's own lists, from 2023, are switched off here: they refused `ml.g5.*` for endpoints);
- a second resource of a kind under a name already taken: `ResourceInUse` where botocore's
  model lists it for the action (training, processing, transform and tuning jobs), AWS's
  ValidationException otherwise (models, endpoint configs, model package groups), worded as
  AWS words them, so that the SageMaker SDK's "use the existing one" logic recognises them.

The checks wrap moto's `call_action`, so they run before any backend method (and before any
other wrapper of one): a refused request records nothing and starts nothing. Mutating requests
run side by side (under the state store's shared lock), so the name check and the create that
records the name hold one lock per (account, region, action, name): of simultaneous creates of
one name, exactly one succeeds.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from moto.core.responses import ActionResult, BaseResponse
from moto.sagemaker.models import Cluster, FakeEndpointConfig, ModelPackage
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemaker.utils import arn_formatter

from localcloud.services.sagemaker import names, shapes
from localcloud.services.sagemaker.audit import refused
from localcloud.shared.errors import ResourceInUse, SageMakerValidation


@dataclass(frozen=True)
class _Unique:
    member: str  # the request member holding the name
    records: str  # moto's backend dict of the kind, by name
    arn_type: str  # the ARN's resource type
    message: str  # AWS's wording; {arn} is filled in
    in_use: bool  # ResourceInUse (else ValidationException)


def _jobs(kind: str) -> str:
    return (
        f"{kind.capitalize()} job names must be unique within an AWS account and region, "
        f"and a {kind} job with this name already exists ({{arn}})"
    )


UNIQUE: dict[str, _Unique] = {
    "CreateTrainingJob": _Unique(
        "TrainingJobName", "training_jobs", "training-job", _jobs("training"), True
    ),
    "CreateProcessingJob": _Unique(
        "ProcessingJobName", "processing_jobs", "processing-job", _jobs("processing"), True
    ),
    "CreateTransformJob": _Unique(
        "TransformJobName", "transform_jobs", "transform-job", _jobs("transform"), True
    ),
    "CreateHyperParameterTuningJob": _Unique(
        "HyperParameterTuningJobName",
        "hyper_parameter_tuning_jobs",
        "hyper-parameter-tuning-job",
        _jobs("hyperparameter tuning"),
        True,
    ),
    "CreateModel": _Unique(
        "ModelName", "_models", "model", 'Cannot create already existing model "{arn}".', False
    ),
    "CreateEndpointConfig": _Unique(
        "EndpointConfigName",
        "endpoint_configs",
        "endpoint-config",
        'Cannot create already existing endpoint configuration "{arn}".',
        False,
    ),
    "CreateEndpoint": _Unique(
        "EndpointName",
        "endpoints",
        "endpoint",
        'Cannot create already existing endpoint "{arn}".',
        False,
    ),
    "CreateModelPackageGroup": _Unique(
        "ModelPackageGroupName",
        "model_package_groups",
        "model-package-group",
        "Model Package Group already exists: {arn}",
        False,
    ),
}


def check_unique(action: str, params: dict[str, Any], backend: Any) -> None:
    """ResourceInUse / ValidationException when the name in the request is already taken."""
    rule = UNIQUE.get(action)
    name = params.get(rule.member) if rule else None
    if rule is None or not isinstance(name, str) or name not in getattr(backend, rule.records):
        return
    existing = getattr(backend, rule.records)[name]
    arn = getattr(existing, "arn", None) or arn_formatter(
        rule.arn_type, name, backend.account_id, backend.region_name
    )
    message = rule.message.format(arn=arn)
    raise ResourceInUse(message) if rule.in_use else SageMakerValidation(message)


class _Claims:
    """One lock per name being created, dropped when no request holds or waits for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[str, ...], tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def hold(self, key: tuple[str, ...]) -> Iterator[None]:
        with self._lock:
            lock, users = self._held.get(key, (threading.Lock(), 0))
            self._held[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._held[key]
                if users == 1:
                    del self._held[key]
                else:
                    self._held[key] = (lock, users - 1)


_claims = _Claims()


def _claim(action: str, params: dict[str, Any], backend: Any) -> Any:
    """The lock of the name a Create action records (a null context for the others)."""
    rule = UNIQUE.get(action)
    name = params.get(rule.member) if rule else None
    if not isinstance(name, str):
        return contextlib.nullcontext()
    return _claims.hold((backend.account_id, backend.region_name, action, name))


def _current_model_decides(*args: Any, **kwargs: Any) -> None:
    """In place of moto's hard-coded instance type lists: the request's check (botocore's
    current enums) has already decided."""


def install() -> None:
    """Check every SageMaker request before moto acts on it."""
    if getattr(SageMakerResponse.__dict__.get("call_action"), "_localcloud_validation", False):
        return
    FakeEndpointConfig.validate_instance_type = _current_model_decides  # type: ignore[method-assign]
    Cluster.valid_cluster_node_instance_types = _current_model_decides  # type: ignore[method-assign]
    for method in (
        "validate_supported_transform_instance_types",
        "validate_supported_realtime_inference_instance_types",
    ):
        setattr(ModelPackage, method, staticmethod(_current_model_decides))
    not_run = refused()

    @functools.wraps(BaseResponse.call_action)
    def checked(self: SageMakerResponse) -> Any:
        action = self._get_action()
        # Looked up at call time, not at install: the gateway wraps BaseResponse.call_action
        # later (its modelled 501 for NotImplementedError); a reference taken now bypasses it.
        # An action the cloud refuses answers its refusal, whatever the request holds.
        if not action or action in not_run:
            return super(SageMakerResponse, self).call_action()
        params = dict(self.params)
        with _claim(action, params, self.sagemaker_backend):
            try:
                names.check_request(action, params)
                check_unique(action, params, self.sagemaker_backend)
            except (ResourceInUse, SageMakerValidation) as err:
                status, headers, body = self.serialized(ActionResult(err))
                headers, body = self._enrich_response(headers, body)
                return status, headers, body
            answer = super(SageMakerResponse, self).call_action()
            if int(answer[0]) < 300:
                shapes.keep_request(action, params, self.sagemaker_backend)
            return answer

    checked._localcloud_validation = True  # type: ignore[attr-defined]
    SageMakerResponse.call_action = checked  # type: ignore[method-assign]
