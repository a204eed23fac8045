"""SageMaker responses shaped as AWS sends them: an optional structure that is not set is absent,
and a member the request set is answered.

moto answers `"VpcConfig": {}`, `"DataCaptureConfig": {}`, `"Containers": []` where AWS omits
the member, and strict clients (sagemaker-core's pydantic shapes) then fail on the required
fields of the empty structure. The Describe / List answers of the resources the local cloud
runs are pruned here, walking botocore's output shape of the operation: an empty structure,
list or map under a member that the shape does not require is dropped.

moto's records also drop request members they do not model (a Model's
`InferenceExecutionConfig`, an EndpointConfig's `VpcConfig`, `ExecutionRoleArn`,
`ExplainerConfig`) or answer a constant for them (`EnableNetworkIsolation` false): the request's
members that the Describe answer has are kept with the record (`keep_request`, called once the
create succeeded) and answered where moto's answer lacks them or says otherwise.
"""

from __future__ import annotations

import functools
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape
from moto.core.responses import ActionResult
from moto.core.utils import get_service_model
from moto.sagemaker.responses import SageMakerResponse

# The Describe / List actions of the resources the local cloud creates.
ACTIONS = frozenset(
    {
        "DescribeModel",
        "DescribeEndpointConfig",
        "DescribeEndpoint",
        "DescribeTrainingJob",
        "ListModels",
        "ListEndpointConfigs",
        "ListEndpoints",
        "ListTrainingJobs",
        "DescribeTransformJob",
        "ListTransformJobs",
        "DescribeProcessingJob",
        "ListProcessingJobs",
        "DescribeHyperParameterTuningJob",
        "ListHyperParameterTuningJobs",
    }
)


# Create action -> (its Describe action, the name member, moto's backend records by name).
KEPT: dict[str, tuple[str, str, str]] = {
    "CreateModel": ("DescribeModel", "ModelName", "_models"),
    "CreateEndpointConfig": ("DescribeEndpointConfig", "EndpointConfigName", "endpoint_configs"),
}
_DESCRIBED = {describe: (name, records) for describe, name, records in KEPT.values()}


def keep_request(action: str, params: dict[str, Any], backend: Any) -> None:
    """Keep, with the record `action` created, the request members its Describe answers."""
    if action not in KEPT:
        return
    describe, name, records = KEPT[action]
    record = getattr(backend, records).get(params.get(name))
    if record is None:
        return
    answered = get_service_model("sagemaker").operation_model(describe).output_shape.members
    record.localcloud_request = {k: v for k, v in params.items() if k in answered}


def _with_request(result: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """moto's answer, with the request's members it lacks, and its scalars where it differs."""
    out = dict(result)
    for member, value in request.items():
        kept = out.get(member)
        if (
            kept is None
            or _empty(kept)
            or (isinstance(value, bool | str | int | float) and kept != value)
        ):
            out[member] = value
    return out


def _empty(value: Any) -> bool:
    return isinstance(value, (dict, list)) and not value


def prune(value: Any, shape: Shape) -> Any:
    """`value` without the empty optional structures, lists and maps `shape` allows to omit."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        required = set(shape.required_members)
        out = {}
        for name, member in value.items():
            member_shape = shape.members.get(name)
            if member_shape is None:
                out[name] = member
                continue
            member = prune(member, member_shape)
            if member is None or (_empty(member) and name not in required):
                continue
            out[name] = member
        return out
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [prune(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: prune(item, shape.value) for key, item in value.items()}
    return value


def _to_dict(result: Any) -> Any:
    """moto's results are dicts, or objects with `response_object`; the rest is left as is."""
    if isinstance(result, dict):
        return {k: _to_dict(v) for k, v in result.items()}
    if isinstance(result, list):
        return [_to_dict(v) for v in result]
    return getattr(result, "response_object", result)


def install() -> None:
    """Prune the answers of `ACTIONS` before moto serialises them."""
    serialized = SageMakerResponse.serialized
    if getattr(serialized, "_localcloud", False):
        return
    model = get_service_model("sagemaker")

    @functools.wraps(serialized)
    def shaped(self: SageMakerResponse, action_result: ActionResult) -> Any:
        action = self._get_action()
        if action in ACTIONS and not isinstance(action_result.result, Exception):
            output = model.operation_model(action).output_shape
            result = _to_dict(action_result.result)
            if action in _DESCRIBED and isinstance(result, dict):
                name, records = _DESCRIBED[action]
                record = getattr(self.sagemaker_backend, records).get(self._get_param(name))
                request = getattr(record, "localcloud_request", None)
                if request:
                    result = _with_request(result, request)
            if output is not None and isinstance(result, dict):
                action_result = ActionResult(prune(result, output))
        return serialized(self, action_result)

    shaped._localcloud = True  # type: ignore[attr-defined]
    SageMakerResponse.serialized = shaped  # type: ignore[method-assign]
