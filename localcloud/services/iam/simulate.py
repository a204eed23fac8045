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

from collections.abc import Iterable
from typing import Any

from moto.iam.exceptions import InvalidInput
from moto.iam.models import IAMBackend
from moto.iam.responses import IamResponse

from localcloud.shared.iam import Policy, principal_policies
from localcloud.shared.policies import Context, decide


def install() -> None:
    """Add the action to moto's IAM responses."""
    IamResponse.simulate_principal_policy = _simulate_principal_policy  # type: ignore[attr-defined]


def _principal(backend: IAMBackend, arn: str) -> Any:
    """The role, user or group `arn` names; moto's NoSuchEntity when none."""
    kind = arn.split(":", 5)[-1].split("/", 1)[0]
    if kind == "role":
        return backend.get_role_by_arn(arn)
    if kind == "user":
        return backend.get_user(arn.rsplit("/", 1)[-1])
    if kind == "group":
        return backend.get_group(arn.rsplit("/", 1)[-1])
    raise InvalidInput(f"PolicySourceArn {arn} names no user, group or role")


def _verdict(
    policies: Iterable[Policy], action: str, resource: str, context: Context
) -> tuple[str, list[dict[str, str]]]:
    """`allowed` | `explicitDeny` | `implicitDeny`, and the policies that decided it."""
    allowed, denied = [], []
    for policy in policies:
        result = decide([policy.document], action, resource, context)
        matched = {"SourcePolicyId": policy.id, "SourcePolicyType": policy.source}
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
    # the principal's policies and boundary, as the gateway's authorizer gathers them
    policies, boundary = principal_policies(self.backend, _principal(self.backend, arn))
    policies += [
        Policy(f"PolicyInputList.{i}", "none", document)
        for i, document in enumerate(self._get_param("PolicyInputList", []), start=1)
    ]
    context = {
        entry["ContextKeyName"].lower(): [str(v) for v in entry.get("ContextKeyValues") or []]
        for entry in self._get_param("ContextEntries", [])
        if entry.get("ContextKeyName")
    }
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
