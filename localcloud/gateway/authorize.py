"""IAM for the keys this cloud's STS issued for a role (AssumeRole, AssumeRoleWithWebIdentity,
SageMaker's sessions of an execution role): a request signed with one is authorised against the
role's identity policies before it acts.

`guard.Guard` calls `authorize` once `auth.authenticate` has named the key; any other front
door of the cloud (a fast path for InvokeEndpoint) calls it the same way. The cloud's start key
and IAM users' keys are not checked here (the start key is the cloud's administrator).

What is evaluated, as IAM does for identity-based policies: the role's inline and attached
managed policies and its permissions boundary (`shared.iam.principal_policies`: the role is
looked up once per request, each document parsed once per text); an explicit `Deny` wins, else
an `Allow` in the policies that the boundary allows too, else the request is refused. The
request is read as moto reads it (`params`) and named as IAM names it (`requested`, with
`arns`): each action and the ARN it is authorised on, in the Service Authorization Reference's
formats, plus `iam:PassRole` of every role ARN the request hands to a service; `requested`
runs once per request, for this check and `accounts`' alike. Statements are matched and
conditions evaluated by `shared.policies` (wildcards, policy variables, condition operators).
The request context is the caller's (`principals.context_of`: `aws:PrincipalArn`,
`aws:PrincipalAccount`, `aws:PrincipalType` `AssumedRole`, `aws:userid` `ROLEID:session`,
`aws:RequestedRegion`, `aws:SecureTransport`, `aws:CalledVia` empty: a client's own call) with
`aws:ResourceAccount` (and `s3:ResourceAccount`) of each resource, `kms:CallerAccount` and,
for PassRole, `iam:PassedToService`; `aws:username` is absent, as for any role session.

A key of a role the cloud's IAM no longer holds (deleted since its AssumeRole, which refuses
roles that do not exist: `trust`) is allowed nothing. Not enforced (docs/localcloud.md):
resource-based policies within their own account (another account's bucket policy is
`accounts`'), SCPs, session policies, the web identity token's signature, and what
CloudFormation does on the caller's behalf: the resources of a stack are made with the cloud's
rights, not checked one by one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from localcloud.gateway.arns import checks
from localcloud.gateway.arns_s3 import bucket_account, s3_checks
from localcloud.gateway.auth import scope_region
from localcloud.gateway.params import RUNTIME_ROUTE, read
from localcloud.gateway.principals import Caller, context_of, iam_backend
from localcloud.gateway.refusals import Refused
from localcloud.shared.arns import sagemaker_arn
from localcloud.shared.iam import principal_policies
from localcloud.shared.policies import decide

Checked = tuple[str, str, dict[str, list[str]]]  # (action, resource ARN, extra context)
_FREE = {"sts:GetCallerIdentity"}  # AWS answers it whatever the policies say
_REQUESTED = "smlocal.requested"  # the environ key that keeps what a request needs


# IAM's service prefix where it is not the signing name.
_PREFIX = {"monitoring": "cloudwatch"}
_PASSED_ROLES = {  # request fields that hand a role to a service: service principal
    "ExecutionRoleArn": "sagemaker.amazonaws.com",
    "RoleArn": "sagemaker.amazonaws.com",
    "RoleARN": "cloudformation.amazonaws.com",
}


def _passed_roles(params: Any, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(role ARN, service it is passed to) of every role field in the request, nested too."""
    if isinstance(params, dict):
        for name, value in params.items():
            if name in _PASSED_ROLES and isinstance(value, str) and ":role/" in value:
                found.append((value, _PASSED_ROLES[name]))
            else:
                _passed_roles(value, found)
    elif isinstance(params, list):
        for value in params:
            _passed_roles(value, found)
    return found


# --- the request, as IAM names it ----------------------------------------------------------
_RUNTIME_OPS = {
    "invocations": "InvokeEndpoint",
    "async-invocations": "InvokeEndpointAsync",
    "invocations-response-stream": "InvokeEndpointWithResponseStream",
}


def requested(environ: dict[str, Any], service: str, account: str) -> list[Checked]:
    """(action, resource, extra context) of each authorisation the request needs, for a key
    of `account`; worked out once per request (kept in the environ)."""
    found = environ.get(_REQUESTED)
    if found is None:
        found = environ[_REQUESTED] = _requested(environ, service, account)
    return found


def _requested(environ: dict[str, Any], service: str, account: str) -> list[Checked]:
    asked = read(environ, service)
    region = scope_region(environ)
    prefix = _PREFIX.get(service, service)
    if service == "s3":
        return [(a, arn, {}) for a, arn in s3_checks(environ)]
    if asked.protocol == "rest-json":
        route = RUNTIME_ROUTE.match(environ.get("PATH_INFO", ""))
        if route is None:
            return [(f"{prefix}:*", "*", {})]  # a route this cloud does not map: fail closed
        arn = sagemaker_arn("endpoint", account, region, unquote(route.group(1)))
        return [(f"sagemaker:{_RUNTIME_OPS[route.group(2)]}", arn, {})]
    result: list[Checked] = []
    for params in (asked.params, *asked.views):  # every reading moto may make
        for action, arn in checks(prefix, asked.operation, params, account, region):
            if (action, arn, {}) not in result:
                result.append((action, arn, {}))
        for role, to in _passed_roles(params, []):
            passed = ("iam:PassRole", role, {"iam:passedtoservice": [to]})
            if passed not in result:
                result.append(passed)
    return result


# --- the role ------------------------------------------------------------------------------
def _role_policies(caller: Caller) -> tuple[list[dict], list[dict] | None]:
    """The role's identity policy documents and its permissions boundary's (None: it has
    none); nothing for a role deleted since the session began."""
    backend = iam_backend(caller.account)
    if caller.role is None or backend is None:
        return [], None
    policies, boundary = principal_policies(backend, caller.role)
    documents = [p.document for p in policies]
    return documents, None if boundary is None else [p.document for p in boundary]


def _resource_context(action: str, resource: str, caller: str) -> dict[str, list[str]]:
    """What the resource adds: the account that owns it, and KMS's caller account."""
    service = action.split(":", 1)[0]
    extra: dict[str, list[str]] = {}
    if service == "kms":
        extra["kms:calleraccount"] = [caller]
    parts = resource.split(":", 5)
    owner = parts[4] if len(parts) == 6 else ""
    if service == "s3" and len(parts) == 6:
        owner = bucket_account(parts[5].split("/", 1)[0]) or caller
        extra["s3:resourceaccount"] = [owner]
    if owner:
        extra["aws:resourceaccount"] = [owner]
    return extra


def authorize(environ: dict[str, Any], caller: Caller, service: str) -> None:
    """Raise Refused("denied") unless the role session `caller` may make this request
    (already authenticated)."""
    # AssumeRole refuses a role that does not exist (`trust`): a key of one is of a role
    # deleted since, whose sessions have no policy left to allow anything, as on AWS.
    policies, boundary = _role_policies(caller)
    base = context_of(caller, scope_region(environ))
    for action, resource, extra in requested(environ, service, caller.account):
        if action in _FREE:
            continue
        context = {**base, **_resource_context(action, resource, caller.account), **extra}
        verdict = decide(policies, action, resource, context)
        why = {
            "explicitDeny": "with an explicit deny in an identity-based policy",
            "implicitDeny": f"because no identity-based policy allows the {action} action",
        }.get(verdict)
        if why is None and boundary is not None:
            inside = decide(boundary, action, resource, context)
            if inside != "allowed":
                why = (
                    "with an explicit deny in a permissions boundary"
                    if inside == "explicitDeny"
                    else f"because no permissions boundary allows the {action} action"
                )
        if why is not None:
            raise Refused(
                "denied",
                f"User: {caller.arn} is not authorized to perform: {action}"
                + (f" on resource: {resource}" if resource != "*" else "")
                + f" {why}",
            )
