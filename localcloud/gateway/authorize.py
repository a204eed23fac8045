"""IAM for the keys this cloud's STS issued for a role (AssumeRole, AssumeRoleWithWebIdentity):
a request signed with one is authorised against the role's identity policies before it acts.

`guard.Guard` calls `authorize` once `auth.authenticate` has named the key; any other front
door of the cloud (a fast path for InvokeEndpoint) calls it the same way. The cloud's start key
and IAM users' keys are not checked here (the start key is the cloud's administrator).

What is evaluated, as IAM does for identity-based policies: the role's inline and attached
managed policies and its permissions boundary; an explicit `Deny` wins, else an `Allow` in the
policies that the boundary allows too, else the request is refused. The request is read as
IAM names it: the action (`service:Operation`, from the query's `Action`, the JSON target,
the REST route of SageMaker Runtime and S3) and the resource ARNs of the operation's names
(`resources`), plus `iam:PassRole` of every role ARN the request hands to a service
(SageMaker's `ExecutionRoleArn`/`RoleArn`, CloudFormation's `RoleARN`). Action and
Resource/NotResource are matched by moto's policy evaluator (`moto.iam.access_control`);
conditions are evaluated here, because moto's knows `StringEquals` only and turns an `Allow`
whose condition fails into a `Deny`. The request context holds `aws:PrincipalArn`,
`aws:RequestedRegion`, `aws:SecureTransport`, `aws:CalledVia` (empty: a client's own call) and,
for PassRole, `iam:PassedToService`; a condition on any other key, or with an operator not in
`_OPERATORS`, is not met (an `Allow` does not apply; a `Deny` does: it fails closed).

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
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import parse_qsl, unquote

from localcloud.gateway.refusals import Refused

# IAM's service prefix where it is not the signing name.
_PREFIX = {"monitoring": "cloudwatch"}
_FREE = {"sts:GetCallerIdentity"}  # AWS answers it whatever the policies say
_PASSED_ROLES = {  # request fields that hand a role to a service: service principal
    "ExecutionRoleArn": "sagemaker.amazonaws.com",
    "RoleArn": "sagemaker.amazonaws.com",
    "RoleARN": "cloudformation.amazonaws.com",
}
_SAGEMAKER_KINDS = {  # operation's noun -> (name field, ARN resource type)
    "Model": ("ModelName", "model"),
    "EndpointConfig": ("EndpointConfigName", "endpoint-config"),
    "Endpoint": ("EndpointName", "endpoint"),
    "TrainingJob": ("TrainingJobName", "training-job"),
    "TransformJob": ("TransformJobName", "transform-job"),
    "ProcessingJob": ("ProcessingJobName", "processing-job"),
    "HyperParameterTuningJob": ("HyperParameterTuningJobName", "hyper-parameter-tuning-job"),
    "ModelPackageGroup": ("ModelPackageGroupName", "model-package-group"),
    "ModelPackage": ("ModelPackageName", "model-package"),
}
_SAGEMAKER_OP = re.compile(
    r"(?:Create|Describe|Delete|Update|Stop|Start|Invoke)(" + "|".join(_SAGEMAKER_KINDS) + r")"
    r"(?:Async|WithResponseStream)?"
)
_RUNTIME_ROUTE = re.compile(
    r"/endpoints/([^/]+)/(invocations|async-invocations|invocations-response-stream)"
)
_RUNTIME_OPS = {
    "invocations": "InvokeEndpoint",
    "async-invocations": "InvokeEndpointAsync",
    "invocations-response-stream": "InvokeEndpointWithResponseStream",
}


# --- the request, as IAM names it ---------------------------------------------------------
def _params(environ: dict[str, Any], kind: str) -> dict[str, Any]:
    """The request's fields: the JSON body, or the query's (query string and form body)."""
    stream = environ.get("wsgi.input")
    body = stream.getvalue() if hasattr(stream, "getvalue") else b""
    if kind == "json":
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    fields = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        fields.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return fields


def _s3_action(environ: dict[str, Any]) -> tuple[str, list[str]]:
    """S3's IAM action and resource ARNs from the method and the path (path or host style)."""
    path = unquote(environ.get("PATH_INFO", "/"))
    host = environ.get("HTTP_HOST", "").split(":")[0].lower()
    bucket_host = re.match(r"(.+?)\.(?:localhost|s3[.-].*amazonaws\.com|s3\.amazonaws\.com)$", host)
    if bucket_host and bucket_host.group(1) not in ("s3",):
        bucket, key = bucket_host.group(1), path.lstrip("/")
    else:
        bucket, _, key = path.lstrip("/").partition("/")
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    method = environ.get("REQUEST_METHOD", "GET")
    if not bucket:
        return "ListAllMyBuckets", ["*"]
    if key:
        arn = f"arn:aws:s3:::{bucket}/{key}"
        if "tagging" in query:
            verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, "Get")
            return f"{verb}ObjectTagging", [arn]
        if method in ("GET", "HEAD"):
            return "GetObject", [arn]
        if method == "DELETE":
            return ("AbortMultipartUpload" if "uploadId" in query else "DeleteObject"), [arn]
        resources = [arn]
        source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
        if source:  # a copy reads its source too; checked as GetObject below
            resources.append("copy:" + unquote(source).lstrip("/").split("?")[0])
        return "PutObject", resources
    arn = f"arn:aws:s3:::{bucket}"
    for sub, names in _BUCKET_SUBRESOURCES.items():
        if sub in query:
            verb = {"GET": 0, "HEAD": 0, "PUT": 1, "POST": 1, "DELETE": 2}.get(method, 0)
            return names[verb], [arn]
    if method == "POST" and "delete" in query:
        return "DeleteObject", [f"{arn}/*"]
    return {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, "ListBucket"), [arn]


_BUCKET_SUBRESOURCES = {  # query word -> (read, write, delete) actions
    "policy": ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    "location": ("GetBucketLocation",) * 3,
    "versioning": ("GetBucketVersioning", "PutBucketVersioning", "PutBucketVersioning"),
    "versions": ("ListBucketVersions",) * 3,
    "uploads": ("ListBucketMultipartUploads",) * 3,
    "encryption": ("GetEncryptionConfiguration",) + ("PutEncryptionConfiguration",) * 2,
    "lifecycle": ("GetLifecycleConfiguration",) + ("PutLifecycleConfiguration",) * 2,
    "logging": ("GetBucketLogging", "PutBucketLogging", "PutBucketLogging"),
    "tagging": ("GetBucketTagging", "PutBucketTagging", "PutBucketTagging"),
    "publicAccessBlock": ("GetBucketPublicAccessBlock",) + ("PutBucketPublicAccessBlock",) * 2,
    "ownershipControls": ("GetBucketOwnershipControls",) + ("PutBucketOwnershipControls",) * 2,
    "notification": ("GetBucketNotification", "PutBucketNotification", "PutBucketNotification"),
    "acl": ("GetBucketAcl", "PutBucketAcl", "PutBucketAcl"),
    "cors": ("GetBucketCORS", "PutBucketCORS", "PutBucketCORS"),
}


def _stack_arn(name: str, account: str, region: str) -> str:
    """A stack's ARN: the stack id of the live stack of that name, else `stack/NAME/*`."""
    if name.startswith("arn:"):
        return name
    from moto.cloudformation.models import cloudformation_backends

    backend = dict.get(dict.get(cloudformation_backends, account) or {}, region)
    for stack in list(getattr(backend, "stacks", {}).values()) if backend else []:
        if stack.name == name and stack.status != "DELETE_COMPLETE":
            return stack.stack_id
    return f"arn:aws:cloudformation:{region}:{account}:stack/{name}/*"


def resources(
    service: str, operation: str, params: dict[str, Any], account: str, region: str
) -> list[str]:
    """The ARNs IAM authorises `service:operation` on, from the request's fields; `*` for an
    operation without resource-level permissions or one this cloud does not map."""
    if service == "cloudformation" and params.get("StackName"):
        return [_stack_arn(params["StackName"], account, region)]
    if service == "sagemaker":
        if params.get("ResourceArn"):  # AddTags, DeleteTags, ListTags
            return [params["ResourceArn"]]
        match = _SAGEMAKER_OP.fullmatch(operation)
        if match:
            field, kind = _SAGEMAKER_KINDS[match.group(1)]
            name = params.get(field) or params.get("ModelPackageArn")
            if kind == "model-package" and not name and params.get("ModelPackageGroupName"):
                name = f"{params['ModelPackageGroupName']}/*"  # a new version of the group
            if name:
                if str(name).startswith("arn:"):
                    return [str(name)]
                return [f"arn:aws:sagemaker:{region}:{account}:{kind}/{str(name).lower()}"]
    if service == "iam":
        if params.get("PolicyArn") and not params.get("RoleName"):
            return [params["PolicyArn"]]
        for field, kind in (("RoleName", "role"), ("UserName", "user"), ("GroupName", "group")):
            if params.get(field):
                return [_iam_arn(kind, params[field], account)]
    if service == "sts" and params.get("RoleArn"):
        return [params["RoleArn"]]
    if service == "cloudwatch":
        names = [v for k, v in params.items() if k == "AlarmName" or k.startswith("AlarmNames.")]
        names += params.get("AlarmNames", []) if isinstance(params.get("AlarmNames"), list) else []
        if names:
            return [f"arn:aws:cloudwatch:{region}:{account}:alarm:{n}" for n in names]
    return ["*"]


def _iam_arn(kind: str, name: str, account: str) -> str:
    """A role's or user's ARN with its path when it exists, else at the root path."""
    from moto.iam.models import iam_backends

    backend = dict.get(dict.get(iam_backends, account) or {}, "aws")
    if backend is not None and kind == "role":
        role = next((r for r in list(backend.roles.values()) if r.name == name), None)
        if role is not None:
            return role.arn
    return f"arn:aws:iam::{account}:{kind}/{name}"


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


def requested(
    environ: dict[str, Any], service: str, account: str, region: str
) -> list[tuple[str, str, dict[str, list[str]]]]:
    """(action, resource, extra context) of each authorisation the request needs."""
    from localcloud.gateway.refusals import protocol

    kind = protocol(environ, service)
    prefix = _PREFIX.get(service, service)
    if kind == "rest-xml" and service == "s3":
        operation, arns = _s3_action(environ)
        checks = []
        for arn in arns:
            if arn.startswith("copy:"):
                checks.append(("s3:GetObject", f"arn:aws:s3:::{arn[5:]}", {}))
            else:
                checks.append((f"s3:{operation}", arn, {}))
        return checks
    if kind == "rest-json":
        route = _RUNTIME_ROUTE.match(environ.get("PATH_INFO", ""))
        if route is None:
            return [(f"{prefix}:*", "*", {})]  # a route this cloud does not map: fail closed
        name = unquote(route.group(1)).lower()
        arn = f"arn:aws:sagemaker:{region}:{account}:endpoint/{name}"
        return [(f"sagemaker:{_RUNTIME_OPS[route.group(2)]}", arn, {})]
    rpc = _RPC_V2_ROUTE.fullmatch(environ.get("PATH_INFO", ""))
    if rpc is not None:  # Smithy RPC v2 CBOR (CloudWatch): the operation is in the path
        operation, params = rpc.group(1), _cbor(environ)
        checks = [
            (f"{prefix}:{operation}", arn, {})
            for arn in resources(prefix, operation, params, account, region)
        ]
        return checks
    params = _params(environ, kind)
    if kind == "json":
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rsplit(".", 1)[-1]
    else:
        operation = str(params.get("Action", ""))
        params = _query_structure(params)
    action = f"{prefix}:{operation}"
    checks = [(action, arn, {}) for arn in resources(prefix, operation, params, account, region)]
    for role, to in _passed_roles(params, []):
        checks.append(("iam:PassRole", role, {"iam:passedtoservice": [to]}))
    return checks


_RPC_V2_ROUTE = re.compile(r"/service/[^/]+/operation/([A-Za-z0-9]+)")


def _cbor(environ: dict[str, Any]) -> dict[str, Any]:
    """An RPC v2 request's CBOR body as a dict (botocore's own CBOR decoder)."""
    from botocore.parsers import RpcV2CBORParser

    stream = environ.get("wsgi.input")
    body = stream.getvalue() if hasattr(stream, "getvalue") else b""
    if not body:
        return {}
    parser = RpcV2CBORParser()
    try:
        decoded = parser.parse_data_item(parser.get_peekable_stream_from_bytes(body))
    except Exception:  # a body botocore cannot read names no resource
        return {}
    return decoded if isinstance(decoded, dict) else {}


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


# --- the decision ---------------------------------------------------------------------------
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


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _applies(statement: dict[str, Any], action: str, resource: str) -> bool:
    """Whether the statement's Action/NotAction and Resource/NotResource cover the request
    (moto's matcher; it ignores NotResource, so that is matched here by its inverse)."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    bare = {k: v for k, v in statement.items() if k not in ("Condition", "NotResource")}
    bare["Effect"] = "Allow"
    if "NotResource" in statement:
        bare["Resource"] = "*"
        if IAMPolicyStatement(bare).is_action_permitted(action, "*") != PermissionResult.PERMITTED:
            return False
        bare["Resource"] = statement["NotResource"]
        inside = IAMPolicyStatement(bare).is_action_permitted(action, resource)
        return inside != PermissionResult.PERMITTED
    if "Resource" not in bare:
        return False  # moto reads a statement without Resource as a trust policy's
    return IAMPolicyStatement(bare).is_action_permitted(action, resource) == (
        PermissionResult.PERMITTED
    )


def _equals(expected: str, actual: str) -> bool:
    return expected == actual


def _like(expected: str, actual: str) -> bool:
    return fnmatchcase(actual, expected)


_OPERATORS = {  # operator -> (value test, negated)
    "StringEquals": (_equals, False),
    "StringNotEquals": (_equals, True),
    "StringEqualsIgnoreCase": (lambda e, a: e.lower() == a.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda e, a: e.lower() == a.lower(), True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    "ArnEquals": (_equals, False),
    "ArnLike": (_like, False),
    "ArnNotEquals": (_equals, True),
    "ArnNotLike": (_like, True),
    "Bool": (lambda e, a: e.lower() == a.lower(), False),
}


def conditions_hold(conditions: dict[str, Any], context: dict[str, list[str]]) -> bool:
    """IAM's condition rules over `context` (lowercased keys: keys are case-insensitive):
    every operator and key must hold; a missing key fails unless `...IfExists` (or
    `ForAllValues:`), `Null` tests presence; an operator not in `_OPERATORS` fails."""
    for operator, pairs in conditions.items():
        qualifier, _, name = operator.rpartition(":")
        if_exists = name.endswith("IfExists")
        name = name.removesuffix("IfExists")
        for key, expected in pairs.items():
            wanted = [str(v) for v in (expected if isinstance(expected, list) else [expected])]
            actual = context.get(key.lower())
            if name == "Null":
                if (actual is None) != (wanted[0].lower() == "true"):
                    return False
                continue
            if name not in _OPERATORS:
                return False
            if actual is None:
                if if_exists or qualifier == "ForAllValues":
                    continue
                return False
            test, negated = _OPERATORS[name]

            def matches(value: str, test: Any = test, wanted: list[str] = wanted) -> bool:
                return any(test(e, value) for e in wanted)

            if qualifier == "ForAllValues":
                ok = all(matches(v) != negated for v in actual)
            elif qualifier == "ForAnyValue":
                ok = any(matches(v) != negated for v in actual)
            elif negated:
                ok = not any(matches(v) for v in actual)
            else:
                ok = any(matches(v) for v in actual)
            if not ok:
                return False
    return True


def decide(
    policies: Iterable[dict[str, Any]], action: str, resource: str, context: dict[str, list[str]]
) -> str:
    """`allowed`, `explicitDeny` or `implicitDeny` of `action` on `resource`."""
    allowed = False
    for document in policies:
        for statement in _statements(document):
            if not _applies(statement, action, resource):
                continue
            met = conditions_hold(statement.get("Condition", {}), context)
            if statement.get("Effect") == "Deny":
                # a Deny whose condition this cloud cannot evaluate applies (fails closed)
                unknown = not met and not _known(statement.get("Condition", {}), context)
                if met or unknown:
                    return "explicitDeny"
            elif met:
                allowed = True
    return "allowed" if allowed else "implicitDeny"


def _known(conditions: dict[str, Any], context: dict[str, list[str]]) -> bool:
    """Whether every operator of `conditions` is one this cloud evaluates."""
    for operator in conditions:
        name = operator.rpartition(":")[2].removesuffix("IfExists")
        if name != "Null" and name not in _OPERATORS:
            return False
    return True


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
    for statement in _statements(_document(role.assume_role_policy_document)):
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
def authorize(environ: dict[str, Any], principal: str, role_arn: str, service: str) -> None:
    """Raise Refused("denied") unless the role `role_arn` (assumed as `principal`, an
    `assumed-role` ARN) may make this request (already authenticated)."""
    account = principal.split(":")[4]
    region = _region(environ)
    # AssumeRole refuses a role that does not exist (`trust`): a key of one is of a role
    # deleted since, whose sessions have no policy left to allow anything, as on AWS.
    policies, boundary = role_policies(account, role_arn) or ([], None)
    secure = environ.get("wsgi.url_scheme") == "https" or "smlocal.tunnel_host" in environ
    base = {
        "aws:principalarn": [role_arn],
        "aws:requestedregion": [region],
        "aws:securetransport": ["true" if secure else "false"],
        "aws:calledvia": [],
    }
    for action, resource, extra in requested(environ, service, account, region):
        if action in _FREE:
            continue
        context = {**base, **extra}
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
