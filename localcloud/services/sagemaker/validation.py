"""What SageMaker refuses before it records anything, checked on the request itself:

- a second resource of a kind under a name already taken: `ResourceInUse` where botocore's
  model lists it for the action (training, processing, transform and tuning jobs), AWS's
  ValidationException otherwise (models, endpoint configs, model package groups), worded as
  AWS words them, so that the SageMaker SDK's "use the existing one" logic recognises them;
- an instance type outside the enum of its shape in botocore's service model (what AWS
  accepts, e.g. `TrainingInstanceType`), anywhere in the request, with AWS's enum wording and
  the member's path as AWS spells it (`resourceConfig.instanceType`,
  `productionVariants.1.member.instanceType`).

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

from botocore.model import ListShape, Shape, StructureShape
from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import get_service_model
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemaker.utils import arn_formatter

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


def _lower_first(name: str) -> str:
    return name[0].lower() + name[1:]


def instance_types(value: Any, shape: Shape, path: str = "") -> Iterator[tuple[str, str, Shape]]:
    """Every (AWS path, value, shape) of an enum-valued `*InstanceType` member in a request."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in value.items():
            member_shape = shape.members.get(name)
            if member_shape is not None:
                inner = f"{path}.{_lower_first(name)}" if path else _lower_first(name)
                yield from instance_types(member, member_shape, inner)
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for i, item in enumerate(value, start=1):
            yield from instance_types(item, shape.member, f"{path}.{i}.member")
    elif (
        getattr(shape, "enum", None)
        and shape.name.endswith("InstanceType")
        and isinstance(value, str)
    ):
        yield path, value, shape


def check_instance_types(action: str, params: dict[str, Any]) -> None:
    """SageMaker's ValidationException for an instance type its model does not list."""
    input_shape = get_service_model("sagemaker").operation_model(action).input_shape
    if input_shape is None:
        return
    errors = [
        f"Value '{value}' at '{path}' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
        for path, value, shape in instance_types(params, input_shape)
        if value not in shape.enum
    ]
    if errors:
        count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
        raise SageMakerValidation(count + "; ".join(errors))


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


def install() -> None:
    """Check every SageMaker request before moto acts on it."""
    if getattr(SageMakerResponse.__dict__.get("call_action"), "_localcloud_validation", False):
        return

    @functools.wraps(BaseResponse.call_action)
    def checked(self: SageMakerResponse) -> Any:
        action = self._get_action()
        if not (action and action.startswith("Create")):
            # Looked up at call time, not at install: the gateway wraps BaseResponse.call_action
            # later (its modelled 501 for NotImplementedError); a reference taken now bypasses it.
            return super(SageMakerResponse, self).call_action()
        params = dict(self.params)
        with _claim(action, params, self.sagemaker_backend):
            try:
                check_instance_types(action, params)
                check_unique(action, params, self.sagemaker_backend)
            except (ResourceInUse, SageMakerValidation) as err:
                status, headers, body = self.serialized(ActionResult(err))
                headers, body = self._enrich_response(headers, body)
                return status, headers, body
            return super(SageMakerResponse, self).call_action()

    checked._localcloud_validation = True  # type: ignore[attr-defined]
    SageMakerResponse.call_action = checked  # type: ignore[method-assign]
