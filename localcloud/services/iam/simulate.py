"""IAM SimulatePrincipalPolicy, evaluated from the principal's own policies.

The SageMaker Python SDK v3 checks the execution role with it before a job. moto keeps roles,
users, groups and their policies but lacks the action; here it is answered as IAM evaluates
identity-based policies: an explicit `Deny` in any of the principal's policies wins
(`explicitDeny`), else an `Allow` (`allowed`), else `implicitDeny`; a permissions boundary must
allow too. The policies are a role's or user's inline and attached managed policies (a user's
groups' too), and any `PolicyInputList` documents; statements are matched and their conditions
evaluated as the gateway's authorizer does (`localcloud.shared.policies`: wildcards, policy
variables, condition operators), with `ContextEntries` as the request context. Not simulated:
resource-based policies (`ResourcePolicy`), SCPs and session policies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from moto.iam.exceptions import InvalidInput
from moto.iam.models import IAMBackend
from moto.iam.responses import IamResponse

from localcloud.shared.policies import Context, decide

_AWS_MANAGED = ":iam::aws:policy/"


def install() -> None:
    """Add the action to moto's IAM responses."""
    IamResponse.simulate_principal_policy = _simulate_principal_policy  # type: ignore[attr-defined]


def _document(policy: Any) -> str:
    """A managed policy's default version's document, as a JSON string."""
    document = next(v.document for v in policy.versions if v.is_default)
    return document if isinstance(document, str) else json.dumps(document)


def principal_policies(backend: IAMBackend, arn: str) -> list[tuple[str, str, str]]:
    """(policy id, source type, document) of every identity policy of a role, user or group.

    Raises moto's NoSuchEntity for an ARN that names none of them."""
    kind = arn.split(":", 5)[-1].split("/", 1)[0]
    if kind == "role":
        principal = backend.get_role_by_arn(arn)
        owners: list[tuple[Any, str]] = [(principal, "role")]
    elif kind == "user":
        principal = backend.get_user(arn.rsplit("/", 1)[-1])
        owners = [(principal, "user")]
        owners += [(g, "group") for g in backend.get_groups_for_user(principal.name)]
    elif kind == "group":
        owners = [(backend.get_group(arn.rsplit("/", 1)[-1]), "group")]
    else:
        raise InvalidInput(f"PolicySourceArn {arn} names no user, group or role")
    policies = []
    for owner, source in owners:
        for name, document in owner.policies.items():
            text = document if isinstance(document, str) else json.dumps(document)
            policies.append((name, source, text))
        for managed in owner.managed_policies.values():
            kind = "aws-managed" if _AWS_MANAGED in managed.arn else "user-managed"
            policies.append((managed.arn, kind, _document(managed)))
    return policies


def _verdict(
    policies: Iterable[tuple[str, str, str]], action: str, resource: str, context: Context
) -> tuple[str, list[dict[str, str]]]:
    """`allowed` | `explicitDeny` | `implicitDeny`, and the policies that decided it."""
    allowed, denied = [], []
    for policy_id, source, document in policies:
        result = decide([json.loads(document)], action, resource, context)
        matched = {"SourcePolicyId": policy_id, "SourcePolicyType": source}
        if result == "explicitDeny":
            denied.append(matched)
        elif result == "allowed":
            allowed.append(matched)
    if denied:
        return "explicitDeny", denied
    if allowed:
        return "allowed", allowed
    return "implicitDeny", []


def _simulate_principal_policy(self: IamResponse) -> Any:
    from moto.core.responses import ActionResult

    arn = self._get_param("PolicySourceArn")
    actions = self._get_param("ActionNames", [])
    resources = self._get_param("ResourceArns", []) or ["*"]
    policies = principal_policies(self.backend, arn)
    policies += [
        (f"PolicyInputList.{i}", "none", document)
        for i, document in enumerate(self._get_param("PolicyInputList", []), start=1)
    ]
    context = {
        entry["ContextKeyName"].lower(): [str(v) for v in entry.get("ContextKeyValues") or []]
        for entry in self._get_param("ContextEntries", [])
        if entry.get("ContextKeyName")
    }
    boundary = None
    if arn.split(":", 5)[-1].startswith(("role/", "user/")):
        principal = (
            self.backend.get_role_by_arn(arn)
            if ":role/" in arn
            else self.backend.get_user(arn.rsplit("/", 1)[-1])
        )
        boundary_arn = getattr(principal, "permissions_boundary_arn", None)
        if boundary_arn:
            policy = self.backend.get_policy(boundary_arn)
            boundary = [(boundary_arn, "user-managed", _document(policy))]
    results = []
    for action in actions:
        for resource in resources:
            decision, matched = _verdict(policies, action, resource, context)
            result: dict[str, Any] = {
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": decision,
                "MatchedStatements": matched,
                "MissingContextValues": [],
            }
            if boundary is not None:
                inside, _ = _verdict(boundary, action, resource, context)
                result["PermissionsBoundaryDecisionDetail"] = {
                    "AllowedByPermissionsBoundary": inside == "allowed"
                }
                if decision == "allowed" and inside != "allowed":
                    result["EvalDecision"] = "implicitDeny"
            results.append(result)
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})
