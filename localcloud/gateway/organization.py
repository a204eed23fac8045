"""The cloud's accounts as one AWS Organization, so that its user reaches a second account the
way AWS lets a person reach one: by assuming a role there.

The management account is the cloud's own (`auth.START_ACCOUNT`, 123456789012: its key is that
account's administrator). Every other account is a member, and has what AWS Organizations
creates in an account it makes: the role `OrganizationAccountAccessRole`, trusting the
management account's root, with administrator rights (the managed policy
`AdministratorAccess` when moto loads AWS's managed policies, else an inline policy of the same
name and content). It is in the member's IAM from the moment the account is first used, as any
role is: listed, described, changed or deleted by that account's administrators (a deleted one
stays deleted). A member account's IAM made before this module (an older state dir) gets it at
the first AssumeRole of it.

The role's trust is evaluated like any other (`trust`): the cloud's key (the management
account's administrator) may assume it; a role or user of the management account needs
`sts:AssumeRole` on it in its own policies.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from localcloud.gateway.auth import START_ACCOUNT

ROLE_NAME = "OrganizationAccountAccessRole"
_GIVEN = "smlocal_organization_role_given"
ADMINISTRATOR = "arn:aws:iam::aws:policy/AdministratorAccess"
_ADMIN_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def trust_document(management: str = START_ACCOUNT) -> dict[str, Any]:
    """The trust policy AWS Organizations gives the role: the management account's root."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{management}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def is_member(account: str) -> bool:
    return account != START_ACCOUNT


def given(backend: Any) -> bool:
    """Whether the organization gave the role to this IAM backend already (it may have been
    deleted since, by the account's administrators)."""
    return bool(getattr(backend, _GIVEN, False))


def ensure_role(backend: Any) -> None:
    """Give a member account's IAM backend the role, once."""
    if not is_member(backend.account_id) or given(backend):
        return
    setattr(backend, _GIVEN, True)  # pickled with the backend: a restart does not give it again
    if any(role.name == ROLE_NAME for role in list(backend.roles.values())):
        return
    backend.create_role(
        role_name=ROLE_NAME,
        assume_role_policy_document=json.dumps(trust_document()),
        path="/",
        permissions_boundary=None,
        description="Created by the local cloud's organization, as AWS Organizations does",
        tags=[],
        max_session_duration=None,
    )
    if ADMINISTRATOR in backend.managed_policies:
        backend.attach_role_policy(ADMINISTRATOR, ROLE_NAME)
    else:
        backend.put_role_policy(ROLE_NAME, "AdministratorAccess", json.dumps(_ADMIN_DOCUMENT))


def install() -> None:
    """Every member account's IAM holds the role from its start; AssumeRole into a member
    account whose IAM predates this makes it first."""
    from moto.iam.models import IAMBackend, iam_backends
    from moto.sts.models import STSBackend

    if getattr(IAMBackend.initialize_service_roles, "_localcloud", False):
        return
    initialize = IAMBackend.initialize_service_roles

    @functools.wraps(initialize)
    def initialize_service_roles(self: IAMBackend) -> None:
        initialize(self)
        ensure_role(self)

    assume_role = STSBackend.assume_role

    @functools.wraps(assume_role)
    def assume_role_hook(self: STSBackend, **kwargs: Any) -> Any:
        arn = str(kwargs.get("role_arn") or "")
        parts = arn.split(":")
        if len(parts) >= 6 and parts[5] == f"role/{ROLE_NAME}":
            ensure_role(iam_backends[parts[4]]["aws"])
        return assume_role(self, **kwargs)

    initialize_service_roles._localcloud = True  # type: ignore[attr-defined]
    IAMBackend.initialize_service_roles = initialize_service_roles  # type: ignore[method-assign]
    STSBackend.assume_role = assume_role_hook  # type: ignore[method-assign]
