"""SageMaker responses shaped as AWS sends them: an optional structure that is not set is absent.

moto answers `"VpcConfig": {}`, `"DataCaptureConfig": {}`, `"Containers": []` where AWS omits
the member, and strict clients (sagemaker-core's pydantic shapes) then fail on the required
fields of the empty structure. The Describe / List answers of the resources the local cloud
runs are pruned here, walking botocore's output shape of the operation: an empty structure,
list or map under a member that the shape does not require is dropped.
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
            if output is not None and isinstance(result, dict):
                action_result = ActionResult(prune(result, output))
        return serialized(self, action_result)

    shaped._localcloud = True  # type: ignore[attr-defined]
    SageMakerResponse.serialized = shaped  # type: ignore[method-assign]
