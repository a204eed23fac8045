"""Each resource of a stack acts, is recorded, or fails, and says which in the stack's events.

moto's CloudFormation writes stack events only, and skips a type it does not know with a log
line (the stack still ends CREATE_COMPLETE). Here every resource a stack creates or updates
gets AWS's resource events (CREATE_IN_PROGRESS, then CREATE_COMPLETE or CREATE_FAILED with the
reason; UPDATE_* for an update), and its type is looked up in `supported`: a type the cloud only
records says so in its CREATE_COMPLETE reason, a type it refuses fails the resource with a
reason naming the type, and the stack rolls back (`stacks`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.models import Event, cloudformation_backends

from localcloud.services.cloudformation.supported import RECORDS, REFUSED, refusal, support


class UnsupportedType(Exception):
    """A resource type the local cloud does not create."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApiFailure(Exception):
    """An AWS API refused the request a resource made; `message` is the resource's reason.

    One form for every type here: the form of CloudFormation's older types, which call the
    service's API through the Java SDK and quote its error, e.g. `Policy … does not exist or is
    not attachable. (Service: AmazonIdentityManagement; Status Code: 404; Error Code:
    NoSuchEntity; Request ID: …; Proxy: null)`, as `AWS::IAM::Role` read before it moved to the
    registry. The registry's types read `Resource handler returned message: "… (Service: Iam,
    Status Code: 404, Request ID: …)" (RequestToken: …, HandlerErrorCode: NotFound)`, which drops
    the API's error code for the handler contract's; the older form keeps it (the code clients
    and the SDK's errors name), so it is the one used. `Request ID` (an id in AWS's logs) and
    `Proxy` (the Java SDK's proxy setting) are left out: neither exists here.
    """

    def __init__(self, service: str, code: str, message: str, status: int) -> None:
        self.code = code
        self.message = f"{message} (Service: {service}; Status Code: {status}; Error Code: {code})"
        super().__init__(self.message)


def reason_of(err: BaseException) -> str:
    """What a failure says in a stack event."""
    return getattr(err, "message", None) or str(err) or type(err).__name__


def add(
    stack: Any,
    logical_id: str,
    resource_type: str,
    status: str,
    reason: str | None = None,
    physical_id: str = "",
) -> None:
    """Append a resource event to `stack`, as AWS's DescribeStackEvents lists it."""
    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical_id,
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


def _stack(resources_map: Any) -> Any:
    backend = cloudformation_backends[resources_map._account_id][resources_map._region_name]
    return backend.stacks.get(resources_map.stack_id)


def _acting(phase: str, refused_actions: Mapping[str, str], original: Any) -> Any:
    """`original` (moto's create or update of one resource) checked against the supported
    types, with its events written to the resource's stack."""

    @functools.wraps(original)
    def act(logical_id: str, resource_json: dict[str, Any], resources_map: Any, **kw: Any) -> Any:
        condition = resource_json.get("Condition")
        if phase == "CREATE" and condition and not resources_map.lazy_condition_map[condition]:
            return original(logical_id, resource_json, resources_map, **kw)  # not created
        resource_type = resource_json.get("Type", "")
        stack = _stack(resources_map)

        def note(status: str, reason: str | None = None, physical: str = "") -> None:
            if stack is not None:
                add(stack, logical_id, resource_type, status, reason, physical)

        kind, why = support(resource_type, refused_actions)
        note(f"{phase}_IN_PROGRESS")
        try:
            if kind == REFUSED:
                raise UnsupportedType(refusal(resource_type, refused_actions))
            resource = original(logical_id, resource_json, resources_map, **kw)
        except Exception as err:
            note(f"{phase}_FAILED", reason_of(err))
            raise
        physical = str(getattr(resource, "physical_resource_id", None) or "")
        recorded = "Recorded only" + (f": {why}" if why else "") if kind == RECORDS else None
        note(f"{phase}_COMPLETE", recorded, physical)
        return resource

    act._localcloud = True  # type: ignore[attr-defined]
    return act


def install(refused_actions: Mapping[str, str]) -> None:
    """Check every resource a stack creates or updates; `refused_actions` are the SageMaker
    actions the cloud refuses (the API audit's), which refuse their resource types too."""
    if getattr(parsing.parse_and_create_resource, "_localcloud", False):
        return
    parsing.parse_and_create_resource = _acting(  # type: ignore[assignment]
        "CREATE", refused_actions, parsing.parse_and_create_resource
    )
    parsing.parse_and_update_resource = _acting(  # type: ignore[assignment]
        "UPDATE", refused_actions, parsing.parse_and_update_resource
    )
