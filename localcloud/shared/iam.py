"""A principal's identity-based policies, as moto's IAM keeps them: one gathering for the
gateway's authorizer (a role session's requests), AssumeRole's trust (an IAM user's own
`sts:AssumeRole`, S3 across accounts) and IAM's SimulatePrincipalPolicy.

A role's, user's or group's inline policies and attached managed policies (each at its default
version), a user's groups' too, and the permissions boundary (moto keeps one on roles only: its
users have none, and CreateUser ignores the parameter). Documents are parsed once per text and
kept (`document`): AWS's `AmazonSageMakerFullAccess` is 14 KB, some 50 µs to parse, and a role's
policies are read on each of its requests. The parsed documents are shared: read them, never
change them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_AWS_MANAGED = ":iam::aws:policy/"


@lru_cache(maxsize=2048)
def document(text: str) -> dict[str, Any]:
    """A policy document parsed (kept per text: a str's hash is computed once)."""
    parsed = json.loads(text)
    return parsed if isinstance(parsed, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class Policy:
    """One identity policy: its id (an inline policy's name, a managed policy's ARN), its
    source as SimulatePrincipalPolicy names it, and its document's text."""

    id: str
    source: str  # "role" | "user" | "group" (inline), "aws-managed" | "user-managed"
    text: str

    @property
    def document(self) -> dict[str, Any]:
        return document(self.text)


def _managed(policy: Any) -> Policy:
    source = "aws-managed" if _AWS_MANAGED in policy.arn else "user-managed"
    default = next(v.document for v in policy.versions if v.is_default)
    return Policy(policy.arn, source, _text(default))


def principal_policies(backend: Any, principal: Any) -> tuple[list[Policy], list[Policy] | None]:
    """(identity policies, permissions boundary) of a moto Role, User or Group of `backend`;
    the boundary is None when there is none, and empty (it allows nothing) when it names a
    policy the account no longer holds."""
    owners: list[tuple[Any, str]] = [(principal, _kind(principal))]
    if owners[0][1] == "user":
        owners += [(g, "group") for g in backend.get_groups_for_user(principal.name)]
    policies = []
    for owner, source in owners:
        policies += [Policy(name, source, _text(doc)) for name, doc in owner.policies.items()]
        policies += [_managed(p) for p in owner.managed_policies.values()]
    boundary_arn = getattr(principal, "permissions_boundary_arn", None)
    if not boundary_arn:
        return policies, None
    managed = backend.managed_policies.get(boundary_arn)
    return policies, [_managed(managed)] if managed is not None else []


def _kind(principal: Any) -> str:
    from moto.iam.models import Group, Role

    return (
        "role"
        if isinstance(principal, Role)
        else "group"
        if isinstance(principal, Group)
        else "user"
    )


_ROLES: dict[tuple[int, str], Any] = {}
_ROLES_MAX = 4096


def role_by_arn(backend: Any, arn: str) -> Any:
    """The moto Role of `backend` whose ARN is `arn`, or None. moto's own lookup scans every
    role; the one found is remembered and still taken only while the backend holds it under
    its id (a deleted role is gone from there, a role made again has another id)."""
    cache_key = (id(backend), arn)
    role = _ROLES.get(cache_key)
    if role is not None and backend.roles.get(role.id) is role and role.arn == arn:
        return role
    role = next((r for r in list(backend.roles.values()) if r.arn == arn), None)
    if role is not None:
        if len(_ROLES) >= _ROLES_MAX:
            _ROLES.clear()
        _ROLES[cache_key] = role
    return role
