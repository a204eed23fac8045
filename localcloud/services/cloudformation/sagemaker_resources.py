"""`AWS::SageMaker::Model`, `EndpointConfig` and `Endpoint` made through the SageMaker API.

For these types the CloudFormation property names are the API's request members, so a resource
is one API request: its properties, typed as botocore's input shape says (a template's "1"
is an integer where the API takes one), plus the name, sent to `CreateModel`,
`CreateEndpointConfig`, `CreateEndpoint` or `UpdateEndpoint` as a client's request goes (in
process, through moto's SageMaker response class: the cloud's request checks, hooks and
records). Whatever the API accepts, CloudFormation accepts (`Containers`,
`InferenceExecutionConfig`, `ShadowProductionVariants`, ...); what it refuses fails the resource
with the API's own code and message. A property that is no member of the type's requests fails
it as CloudFormation's schema check does ("extraneous key").

An endpoint is waited for until InService, as CloudFormation waits on AWS; a failed one is
deleted (the rollback removes it). An update that changes its config goes through
UpdateEndpoint (blue/green, the resource's `DeploymentConfig`), in place.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.model import ListShape, MapShape, Shape, StructureShape
from moto.core.request import Request
from moto.core.utils import get_service_model
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, Model, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from localcloud.services.cloudformation.events import ApiFailure
from localcloud.shared.errors import SageMakerValidation

if TYPE_CHECKING:
    from localcloud.dataplane.endpoints import Endpoints

# CloudFormation waits at most this long for an endpoint (model download + /ping is 3 min); a
# deployment's own waits (traffic shifting, bake, at the cloud's clock) come on top.
ENDPOINT_WAIT_S = 240.0
NAME_MAX = 63  # SageMaker's names: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}

# The replaced Models and EndpointConfigs of the stack update running on this thread (`stacks`),
# and the endpoint updates that failed in it.
replaced = threading.local()


class InvalidProperties(Exception):
    """A template property the resource type does not have, or of the wrong type."""

    def __init__(self, logical_id: str, detail: str) -> None:
        self.message = (
            f"Properties validation failed for resource {logical_id} with message: {detail}"
        )
        super().__init__(self.message)


def call(action: str, params: dict[str, Any], account_id: str, region_name: str) -> Any:
    """`action` with `params` through the SageMaker API, answered in process; the answer's
    JSON, or ApiFailure with the API's code, message and status."""
    request = Request.from_primitives(
        "POST",
        f"https://api.sagemaker.{region_name}.amazonaws.com/",
        {
            "X-Amz-Target": f"SageMaker.{action}",
            "Content-Type": "application/x-amz-json-1.1",
            "x-moto-account-id": account_id,
        },
        json.dumps(params).encode(),
    )
    status, _, body = SageMakerResponse.dispatch(request, request.url, request.headers)
    answer = json.loads(body) if body else {}
    if int(status) >= 400:
        code = str(answer.get("__type", "InternalFailure")).split("#")[-1]
        message = answer.get("message") or answer.get("Message") or ""
        raise ApiFailure("AmazonSageMaker", code, message, int(status))
    return answer


def _typed(value: Any, shape: Shape, where: str, logical_id: str) -> Any:
    """A template value as the API's shape types it (CloudFormation converts "1", "true")."""
    kind = shape.type_name
    try:
        if isinstance(shape, StructureShape) and isinstance(value, dict):
            return {
                k: _typed(v, shape.members[k], f"{where}/{k}", logical_id)
                if k in shape.members
                else v
                for k, v in value.items()
            }
        if isinstance(shape, ListShape) and isinstance(value, list):
            return [
                _typed(v, shape.member, f"{where}/{i}", logical_id) for i, v in enumerate(value)
            ]
        if isinstance(shape, MapShape) and isinstance(value, dict):
            return {k: _typed(v, shape.value, f"{where}/{k}", logical_id) for k, v in value.items()}
        if kind in ("integer", "long") and isinstance(value, str):
            return int(value)
        if kind in ("float", "double") and isinstance(value, str):
            return float(value)
        if kind == "boolean" and isinstance(value, str):
            if value.lower() not in ("true", "false"):
                raise ValueError(value)
            return value.lower() == "true"
        if kind == "string" and isinstance(value, bool):
            return str(value).lower()
        if kind == "string" and isinstance(value, (int, float)):
            return str(value)
    except ValueError:
        raise InvalidProperties(
            logical_id, f"#{where}: expected type: {kind}, found: {value!r}"
        ) from None
    return value


def _members(action: str) -> dict[str, Shape]:
    return dict(get_service_model("sagemaker").operation_model(action).input_shape.members)


def request(
    action: str,
    properties: dict[str, Any],
    logical_id: str,
    also: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The `action` request a resource's properties make: every property that is a member of
    it, typed; a property that is no member of `action` nor of the `also` actions (an
    Endpoint's update-only properties) is refused."""
    members = _members(action)
    known = set(members).union(*(_members(other) for other in also))
    extraneous = sorted(set(properties) - known)
    if extraneous:
        raise InvalidProperties(logical_id, f"#: extraneous key [{extraneous[0]}] is not permitted")
    return {
        name: _typed(value, members[name], f"/{name}", logical_id)
        for name, value in properties.items()
        if name in members
    }


def _name(resource_name: str, properties: dict[str, Any], name_property: str) -> str:
    """The resource's name: its name property, else moto's generated `{stack}-{logical}-{id}`
    cut to SageMaker's 63 characters (AWS generates a name that fits, too)."""
    if name_property in properties or len(resource_name) <= NAME_MAX:
        return properties.get(name_property, resource_name)
    head, _, suffix = resource_name.rpartition("-")
    return f"{head[: NAME_MAX - len(suffix) - 1].rstrip('-')}-{suffix}"


def _through_api(
    action: str, name_property: str, records: str, also: tuple[str, ...] = ()
) -> Callable[..., Any]:
    """A `create_from_cloudformation_json` that sends the resource's request to `action` and
    answers moto's record of it (backend attribute `records`, by name); `also` as `request`'s."""

    def create(
        cls: type[Any],
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json.get("Properties") or {}
        logical_id = kwargs.get("LogicalId", resource_name)
        params = request(action, properties, logical_id, also)
        params[name_property] = name = _name(resource_name, properties, name_property)
        call(action, params, account_id, region_name)
        return getattr(sagemaker_backends[account_id][region_name], records)[name]

    return create


def _deployment_s(endpoint: FakeEndpoint) -> float:
    """Cloud seconds an update's DeploymentConfig may take (its timeout, else its waits)."""
    config = getattr(endpoint, "last_deployment_config", None) or {}
    policy = config.get("BlueGreenUpdatePolicy") or config.get("RollingUpdatePolicy") or {}
    routing = policy.get("TrafficRoutingConfiguration") or policy
    limit = policy.get("MaximumExecutionTimeoutInSeconds")
    if limit is not None:
        return float(limit)
    # Without a timeout: every step's wait and the bake (at most 100 steps of a linear shift).
    return 100 * float(routing.get("WaitIntervalInSeconds") or 0) + float(
        policy.get("TerminationWaitInSeconds") or 0
    )


def _wait(endpoints: Endpoints, account_id: str, region_name: str, endpoint: FakeEndpoint) -> None:
    """Block until the endpoint's create/update settles; raise if it did not end InService."""
    runtime = endpoints.get((account_id, region_name, endpoint.endpoint_name))
    limit = ENDPOINT_WAIT_S + endpoints.clock.real(_deployment_s(endpoint))
    if runtime is not None and not runtime.settled.wait(limit):
        raise SageMakerValidation(
            f"endpoint {endpoint.endpoint_name} did not stabilise within {limit:g} s"
        )
    if endpoint.endpoint_status != "InService" or endpoint.failure_reason:
        raise SageMakerValidation(
            f"endpoint {endpoint.endpoint_name} is {endpoint.endpoint_status}: "
            f"{endpoint.failure_reason}"
        )


Wait = Callable[[str, str, FakeEndpoint], None]
# An Endpoint's properties are CreateEndpoint's members and UpdateEndpoint's.
_send_create_endpoint = _through_api(
    "CreateEndpoint", "EndpointName", "endpoints", also=("UpdateEndpoint",)
)


def _create_endpoint(
    wait: Wait,
    cls: type[FakeEndpoint],
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> FakeEndpoint:
    endpoint: FakeEndpoint = _send_create_endpoint(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
    try:
        wait(account_id, region_name, endpoint)
    except SageMakerValidation:
        # the rollback removes it, as on AWS
        sagemaker_backends[account_id][region_name].delete_endpoint(endpoint.endpoint_name)
        raise
    return endpoint


def _update_endpoint(
    wait: Wait,
    cls: type[FakeEndpoint],
    original_resource: FakeEndpoint,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> FakeEndpoint:
    name = original_resource.endpoint_name
    properties = cloudformation_json.get("Properties") or {}
    backend = sagemaker_backends[account_id][region_name]
    if new_resource_name != name and "EndpointName" in properties:
        # A new name is a replacement, as on AWS: the new endpoint first, then the old goes.
        endpoint = _create_endpoint(
            wait, cls, new_resource_name, cloudformation_json, account_id, region_name
        )
        backend.delete_endpoint(name)
        return endpoint
    logical_id = getattr(original_resource, "logical_resource_id", name)
    params = request("UpdateEndpoint", properties, logical_id, also=("CreateEndpoint",))
    endpoint = backend.endpoints[name]
    # moto retries a failed resource update in further passes; an endpoint update that failed
    # (or was rolled back by its alarms) fails them again without deploying again.
    failed: dict[str, Exception] | None = getattr(replaced, "failed", None)
    if failed is not None and name in failed:
        raise failed[name]
    if params["EndpointConfigName"] != endpoint.endpoint_config_name:
        try:
            call("UpdateEndpoint", {**params, "EndpointName": name}, account_id, region_name)
            wait(account_id, region_name, endpoint)
        except (SageMakerValidation, ApiFailure) as err:
            if failed is not None:
                failed[name] = err
            raise
    return endpoint


def install(endpoints: Endpoints) -> None:
    """Make the three types through the SageMaker API, endpoints waited for in `endpoints`."""
    Model.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        _through_api("CreateModel", "ModelName", "_models")
    )
    FakeEndpointConfig.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        _through_api("CreateEndpointConfig", "EndpointConfigName", "endpoint_configs")
    )
    wait = functools.partial(_wait, endpoints)
    FakeEndpoint.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        functools.partial(_create_endpoint, wait)
    )
    FakeEndpoint.update_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        functools.partial(_update_endpoint, wait)
    )
