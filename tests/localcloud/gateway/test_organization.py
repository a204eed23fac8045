"""The cloud's organization (`localcloud.gateway.organization`): every member account's IAM
holds `OrganizationAccountAccessRole`, also one that a restore brought back without it (a
restore skips the backends' `__init__`, where a new account gets it). In this process, on
moto's own IAM backends: no cloud."""

from __future__ import annotations

from moto.iam.models import iam_backends

from localcloud.gateway import organization
from localcloud.services.iam import managed


def test_a_member_restored_without_the_role_gets_it_and_a_deleted_one_stays_deleted() -> None:
    managed.install()  # AWS's managed policies in every account, as the cloud has them
    organization.install()
    backend = iam_backends["444455556666"]["aws"]  # new: the organization gives it the role
    assert backend.get_role(organization.ROLE_NAME).arn.endswith("/OrganizationAccountAccessRole")
    # as a state dir written before the organization existed: no role, no mark
    backend.detach_role_policy(
        "arn:aws:iam::aws:policy/AdministratorAccess", organization.ROLE_NAME
    )
    backend.delete_role(organization.ROLE_NAME)
    del backend.__dict__["smlocal_organization_role_given"]
    organization.ensure_restored()
    role = backend.get_role(organization.ROLE_NAME)
    assert [p.arn for p in role.managed_policies.values()] == [
        "arn:aws:iam::aws:policy/AdministratorAccess"
    ]
    # its administrators delete it: a restore does not give it again
    backend.detach_role_policy(
        "arn:aws:iam::aws:policy/AdministratorAccess", organization.ROLE_NAME
    )
    backend.delete_role(organization.ROLE_NAME)
    organization.ensure_restored()
    assert all(r.name != organization.ROLE_NAME for r in backend.roles.values())
    # moto makes an account's IAM in each partition: each gets the role, with its partition's
    # copy of AdministratorAccess
    china = iam_backends["444455556666"]["aws-cn"]
    assert [p.arn for p in china.get_role(organization.ROLE_NAME).managed_policies.values()] == [
        "arn:aws-cn:iam::aws:policy/AdministratorAccess"
    ]
