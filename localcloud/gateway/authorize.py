"""IAM for the keys this cloud's STS issued for a role (AssumeRole, AssumeRoleWithWebIdentity):
a request signed with one is authorised against the role's identity policies before it acts.

`guard.Guard` calls `authorize` once `auth.authenticate` has named the key; any other front
door of the cloud (a fast path for InvokeEndpoint) calls it the same way. The cloud's start key
and IAM users' keys are not checked here (the start key is the cloud's administrator).

What is evaluated, as IAM does for identity-based policies: the role's inline and attached
managed policies and its permissions boundary; an explicit `Deny` wins, else an `Allow` in the
policies that the boundary allows too, else the request is refused. The request is read as
IAM names it (`requested`, with `arns`): each action and the ARN it is authorised on, in the Service
Authorization Reference's formats, plus `iam:PassRole` of every role ARN the request hands to
a service. Statements are matched and conditions evaluated by `shared.policies` (wildcards,
policy variables, condition operators). The request context holds `aws:PrincipalArn`,
`aws:PrincipalAccount`, `aws:PrincipalType` (`AssumedRole`), `aws:userid`
(`ROLEID:session`), `aws:RequestedRegion`, `aws:SecureTransport`, `aws:CalledVia` (empty: a
client's own call), `aws:ResourceAccount` (and `s3:ResourceAccount`) of each resource,
`kms:CallerAccount` and, for PassRole, `iam:PassedToService`; `aws:username` is absent, as
for any role session.

A key of a role the cloud's IAM no longer holds (deleted since its AssumeRole, which refuses
roles that do not exist: `trust`) is allowed nothing. Not enforced (docs/localcloud.md):
resource-based policies within their own account (another account's bucket policy is
`accounts`'), SCPs, session policies, the web identity token's signature, and what
CloudFormation does on the caller's behalf: the resources of a stack are made with the cloud's
rights, not checked one by one.
"""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import parse_qsl, unquote

from localcloud.gateway.arns import checks
from localcloud.gateway.arns_s3 import bucket_account, s3_checks
from localcloud.gateway.refusals import Refused, protocol
from localcloud.shared.arns import sagemaker_arn
from localcloud.shared.policies import conditions_hold, decide, statements

__all__ = ["authorize", "conditions_hold", "decide", "role_policies", "web_identity"]

_FREE = {"sts:GetCallerIdentity"}  # AWS answers it whatever the policies say


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
_RUNTIME_ROUTE = re.compile(
    r"/endpoints/([^/]+)/(invocations|async-invocations|invocations-response-stream)"
)
_RUNTIME_OPS = {
    "invocations": "InvokeEndpoint",
    "async-invocations": "InvokeEndpointAsync",
    "invocations-response-stream": "InvokeEndpointWithResponseStream",
}
_RPC_V2_ROUTE = re.compile(r"/service/[^/]+/operation/([A-Za-z0-9]+)")


def _body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    return stream.getvalue() if hasattr(stream, "getvalue") else b""


def _params(environ: dict[str, Any], kind: str) -> dict[str, Any]:
    """The request's fields: the JSON body, or the query's (query string and form body)."""
    body = _body(environ)
    if kind == "json":
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    fields = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        fields.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return _query_structure(fields)


def _query_structure(fields: dict[str, str]) -> dict[str, Any]:
    """A query request's flat fields, with `X.member.N` lists as lists (AlarmNames)."""
    result: dict[str, Any] = {}
    for name, value in fields.items():
        head, _, rest = name.partition(".member.")
        if rest:
            result.setdefault(head, []).append(value)
        else:
            result[name] = value
    return result


def _cbor(environ: dict[str, Any]) -> dict[str, Any]:
    """An RPC v2 request's CBOR body as a dict (botocore's own CBOR decoder)."""
    from botocore.parsers import RpcV2CBORParser

    body = _body(environ)
    if not body:
        return {}
    parser = RpcV2CBORParser()
    try:
        decoded = parser.parse_data_item(parser.get_peekable_stream_from_bytes(body))
    except Exception:  # a body botocore cannot read names no resource
        return {}
    return decoded if isinstance(decoded, dict) else {}


def requested(
    environ: dict[str, Any], service: str, account: str, region: str
) -> list[tuple[str, str, dict[str, list[str]]]]:
    """(action, resource, extra context) of each authorisation the request needs."""
    kind = protocol(environ, service)
    prefix = _PREFIX.get(service, service)
    if kind == "rest-xml" and service == "s3":
        return [(a, arn, {}) for a, arn in s3_checks(environ)]
    if kind == "rest-json":
        route = _RUNTIME_ROUTE.match(environ.get("PATH_INFO", ""))
        if route is None:
            return [(f"{prefix}:*", "*", {})]  # a route this cloud does not map: fail closed
        arn = sagemaker_arn("endpoint", account, region, unquote(route.group(1)))
        return [(f"sagemaker:{_RUNTIME_OPS[route.group(2)]}", arn, {})]
    rpc = _RPC_V2_ROUTE.fullmatch(environ.get("PATH_INFO", ""))
    if rpc is not None:  # Smithy RPC v2 CBOR (CloudWatch): the operation is in the path
        found = checks(prefix, rpc.group(1), _cbor(environ), account, region)
        return [(a, arn, {}) for a, arn in found]
    params = _params(environ, kind)
    if kind == "json":
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rsplit(".", 1)[-1]
    else:
        operation = str(params.get("Action", ""))
    found = checks(prefix, operation, params, account, region)
    result = [(a, arn, {}) for a, arn in found]
    for role, to in _passed_roles(params, []):
        result.append(("iam:PassRole", role, {"iam:passedtoservice": [to]}))
    return result


# --- the role ------------------------------------------------------------------------------
def _document(policy: Any) -> dict[str, Any]:
    text = policy if isinstance(policy, str) else json.dumps(policy)
    return json.loads(text)


def role_policies(account: str, role_arn: str) -> tuple[list[dict], list[dict] | None] | None:
    """The role's identity policies (inline and attached managed) and its permissions
    boundary (None: it has none); None when the cloud's IAM holds no such role."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["aws"]
    try:
        role = backend.get_role_by_arn(role_arn)
    except NotFoundException:
        return None
    policies = [_document(p) for p in role.policies.values()]
    for managed in role.managed_policies.values():
        policies.append(_document(next(v.document for v in managed.versions if v.is_default)))
    boundary = None
    if getattr(role, "permissions_boundary_arn", None):
        managed = backend.get_policy(role.permissions_boundary_arn)
        boundary = [_document(next(v.document for v in managed.versions if v.is_default))]
    return policies, boundary


# --- AssumeRoleWithWebIdentity: unsigned, the token is the credential ----------------------
def _claims(token: str) -> dict[str, Any]:
    """A JWT's payload. Its signature is not verified: the cloud cannot reach the issuer."""
    import base64

    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        raise Refused("bad-identity-token", "The ID Token provided is not a valid JWT") from None
    if not isinstance(claims, dict) or not claims.get("iss"):
        raise Refused("bad-identity-token", "The ID Token provided has no issuer (iss)")
    return claims


def web_identity(environ: dict[str, Any]) -> bool:
    """Whether the request is an (unsigned) STS AssumeRoleWithWebIdentity whose token the
    role's trust policy accepts; raises Refused when the trust does not.

    The token's `iss` names the IAM OIDC provider (which must exist in the role's account), its
    `aud` and `sub` are the condition keys `<provider host>:aud|sub`; a trust statement must
    allow `sts:AssumeRoleWithWebIdentity` to that provider with its conditions met."""
    if environ.get("REQUEST_METHOD") != "POST" or not environ.get("CONTENT_TYPE", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        return False
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > 64 * 1024:
        return False
    import io

    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    fields = dict(parse_qsl(body.decode("utf-8", "replace")))
    if fields.get("Action") != "AssumeRoleWithWebIdentity":
        return False
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    role_arn = fields.get("RoleArn", "")
    claims = _claims(fields.get("WebIdentityToken", ""))
    host = str(claims["iss"]).removeprefix("https://").rstrip("/")
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    backend = dict.get(dict.get(iam_backends, account) or {}, "aws")
    provider = f"arn:aws:iam::{account}:oidc-provider/{host}"
    denied = Refused("assume-denied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    if backend is None or provider not in backend.open_id_providers:
        raise denied
    try:
        role = backend.get_role_by_arn(role_arn)
    except NotFoundException:  # no such role: refused as AWS does
        raise denied from None
    audiences = claims.get("aud", [])
    context = {
        f"{host}:aud".lower(): audiences if isinstance(audiences, list) else [str(audiences)],
        f"{host}:sub".lower(): [str(claims.get("sub", ""))],
    }
    for statement in statements(_document(role.assume_role_policy_document)):
        federated = (statement.get("Principal") or {}).get("Federated", [])
        federated = federated if isinstance(federated, list) else [federated]
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if (
            statement.get("Effect") == "Allow"
            and provider in federated
            and any(fnmatchcase("sts:AssumeRoleWithWebIdentity", a) for a in actions)
            and conditions_hold(statement.get("Condition", {}), context)
        ):
            return True
    raise denied


# --- the hook -------------------------------------------------------------------------------
def _context(role_arn: str, principal: str, environ: dict[str, Any]) -> dict[str, list[str]]:
    """The request context of a role session's request, less what each resource adds."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    account = principal.split(":")[4]
    session = principal.rsplit("/", 1)[-1]
    try:
        role_id = iam_backends[account]["aws"].get_role_by_arn(role_arn).id
    except NotFoundException:  # deleted since its AssumeRole: its sessions may do nothing
        role_id = "deleted"
    secure = environ.get("wsgi.url_scheme") == "https" or "smlocal.tunnel_host" in environ
    return {
        "aws:principalarn": [role_arn],
        "aws:principalaccount": [account],
        "aws:principaltype": ["AssumedRole"],
        "aws:userid": [f"{role_id}:{session}"],
        "aws:requestedregion": [_region(environ)],
        "aws:securetransport": ["true" if secure else "false"],
        "aws:calledvia": [],
    }


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


def authorize(environ: dict[str, Any], principal: str, role_arn: str, service: str) -> None:
    """Raise Refused("denied") unless the role `role_arn` (assumed as `principal`, an
    `assumed-role` ARN) may make this request (already authenticated)."""
    account = principal.split(":")[4]
    # AssumeRole refuses a role that does not exist (`trust`): a key of one is of a role
    # deleted since, whose sessions have no policy left to allow anything, as on AWS.
    policies, boundary = role_policies(account, role_arn) or ([], None)
    base = _context(role_arn, principal, environ)
    for action, resource, extra in requested(environ, service, account, _region(environ)):
        if action in _FREE:
            continue
        context = {**base, **_resource_context(action, resource, account), **extra}
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
                f"User: {principal} is not authorized to perform: {action}"
                + (f" on resource: {resource}" if resource != "*" else "")
                + f" {why}",
            )


def _region(environ: dict[str, Any]) -> str:
    """The region of the request's credential scope (`auth` parsed it)."""
    signed = environ.get("smlocal.sigv4")
    return getattr(signed, "region", "") or "us-east-1"
