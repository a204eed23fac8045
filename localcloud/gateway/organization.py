"""The cloud's accounts as one AWS Organization, so that its user reaches a second account the
way AWS lets a person reach one: by assuming a role there.

The management account is the cloud's own (`shared.credentials.ACCOUNT_ID`, 123456789012: its
key is that account's administrator). Every other account is a member, and has what AWS
Organizations creates in an account it makes: the role `OrganizationAccountAccessRole`,
trusting the management account's root, with AWS's managed `AdministratorAccess` attached (the
cloud loads AWS's managed policies into every account: `services.iam.managed`). It is in the
member's IAM from the moment the account is first used, as any role is: listed, described,
changed or deleted by that account's administrators (a deleted one stays deleted).

Two moments give it: an account's IAM being made (`initialize_service_roles`, which moto runs
for every new account's backend), and a restart's restore (`ensure_restored`, which the server
runs once the state is loaded: a restore skips the backends' `__init__`, and a member account
whose IAM predates this module has no role yet). AssumeRole of the role in an account nobody
used yet makes the account first (`trust.role_trust`).

The role's trust is evaluated like any other (`trust`): the cloud's key (the management
account's administrator) may assume it; a role or user of the management account needs
`sts:AssumeRole` on it in its own policies.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from localcloud.shared.credentials import ACCOUNT_ID

ROLE_NAME = "OrganizationAccountAccessRole"
_GIVEN = "smlocal_organization_role_given"
ADMINISTRATOR = "arn:{partition}:iam::aws:policy/AdministratorAccess"


def trust_document(management: str = ACCOUNT_ID) -> dict[str, Any]:
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
    return account != ACCOUNT_ID


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
    # moto makes an account's IAM in every partition (looking a key up does): each has its own
    # copy of AWS's managed policies
    backend.attach_role_policy(ADMINISTRATOR.format(partition=backend.partition), ROLE_NAME)


def ensure_restored() -> None:
    """Give the role to every member account's IAM that a restore brought back without it."""
    from moto.iam.models import iam_backends

    for partitions in list(dict.values(iam_backends)):
        for backend in list(dict.values(partitions)):
            ensure_role(backend)


def install() -> None:
    """Every member account's IAM holds the role from its start."""
    from moto.iam.models import IAMBackend

    if getattr(IAMBackend.initialize_service_roles, "_localcloud", False):
        return
    initialize = IAMBackend.initialize_service_roles

    @functools.wraps(initialize)
    def initialize_service_roles(self: IAMBackend) -> None:
        initialize(self)
        ensure_role(self)

    initialize_service_roles._localcloud = True  # type: ignore[attr-defined]
    IAMBackend.initialize_service_roles = initialize_service_roles  # type: ignore[method-assign]
