"""`AWS::IAM::Role`'s `ManagedPolicyArns`, which moto's CloudFormation ignores: the role would
be created without the policies its template attaches, and a policy that does not exist would
pass silently. Here each is attached with IAM's AttachRolePolicy on create, an update
attaches the new ones and detaches the dropped ones, and a delete detaches them first (IAM
refuses to delete a role with attached policies); a policy that does not exist fails the
resource with IAM's `NoSuchEntity` message, and a role whose create failed is removed."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

from moto.core.utils import get_service_model
from moto.iam.exceptions import IAMException
from moto.iam.models import Role, iam_backends
from moto.utilities.utils import get_partition

from localcloud.services.cloudformation.events import ApiFailure


@functools.cache
def _statuses() -> dict[str, int]:
    """IAM's HTTP status of each error code, from botocore's model (the status IAM's API, and
    moto's serializer of it, answers; the attach here is a call, not a request)."""
    errors = (shape.metadata.get("error", {}) for shape in get_service_model("iam").error_shapes)
    return {e["code"]: e.get("httpStatusCode", 400) for e in errors if "code" in e}


def _backend(account_id: str, region_name: str) -> Any:
    return iam_backends[account_id][get_partition(region_name)]


def _sync(role: Role, cloudformation_json: dict[str, Any], backend: Any) -> None:
    """Attach the template's `ManagedPolicyArns` the role lacks, detach those it dropped."""
    wanted = [str(arn) for arn in cloudformation_json["Properties"].get("ManagedPolicyArns") or []]
    for arn in [arn for arn in wanted if arn not in role.managed_policies]:
        try:
            backend.attach_role_policy(arn, role.name)
        except IAMException as err:
            status = _statuses().get(err.code, 400)
            raise ApiFailure("AmazonIdentityManagement", err.code, err.message, status) from None
    for arn in [arn for arn in role.managed_policies if arn not in wanted]:
        backend.detach_role_policy(arn, role.name)


def _wrap_create(original: Any) -> Any:
    @functools.wraps(original)
    def create(
        cls: type[Role],
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Role:
        role = original(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        backend = _backend(account_id, region_name)
        try:
            _sync(role, cloudformation_json, backend)
        except ApiFailure:
            for arn in list(role.managed_policies):
                backend.detach_role_policy(arn, role.name)
            with contextlib.suppress(Exception):  # what IAM keeps, the stack delete retries
                backend.delete_role(role.name)
            raise
        return role

    return create


def _wrap_update(original: Any) -> Any:
    @functools.wraps(original)
    def update(cls: type[Role], **kwargs: Any) -> Role:  # moto passes keywords only
        role = original(**kwargs)
        _sync(
            role,
            kwargs["cloudformation_json"],
            _backend(kwargs["account_id"], kwargs["region_name"]),
        )
        return role

    return update


def _wrap_delete(original: Any) -> Any:
    @functools.wraps(original)
    def delete(
        cls: type[Role],
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        backend = _backend(account_id, region_name)
        # moto hands the delete the template's unresolved properties, so the role's own list
        # says what the stack attached
        for role in [r for r in list(backend.roles.values()) if r.name == resource_name]:
            for arn in list(role.managed_policies):
                backend.detach_role_policy(arn, role.name)
        original(resource_name, cloudformation_json, account_id, region_name)

    return delete


def install() -> None:
    """Attach a role's ManagedPolicyArns when a stack creates or updates it, detach them when
    it deletes it."""
    create = Role.create_from_cloudformation_json
    if getattr(create, "_localcloud", False):
        return
    wrapped = _wrap_create(create)
    wrapped._localcloud = True  # type: ignore[attr-defined]
    Role.create_from_cloudformation_json = classmethod(wrapped)  # type: ignore[method-assign,assignment]
    Role.update_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        _wrap_update(Role.update_from_cloudformation_json)
    )
    Role.delete_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        _wrap_delete(Role.delete_from_cloudformation_json)
    )
