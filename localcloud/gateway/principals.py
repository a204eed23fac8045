"""Who signs a request, and the request context IAM evaluates for them: one caller
(`Caller`, `caller_of`) and one set of global condition keys (`context_of`) for the role
authorizer (`authorize`), the trust of AssumeRole and AssumeRoleWithWebIdentity (`trust`) and S3
across accounts (`accounts`).

A caller is the account root (the cloud's own key, and the temporary keys its GetSessionToken
issues), an IAM user (its keys and its GetSessionToken keys), a role's session (AssumeRole,
AssumeRoleWithWebIdentity, a service's session of a role: its moto Role looked up once, None
when deleted since), a service (`sagemaker.amazonaws.com`, the keys the cloud's services sign
with) or a web identity (an OIDC provider's token, before it is any of these).

`aws:SecureTransport` is true for every request: the cloud listens on the loopback interface
only, which stands in for TLS (docs/localcloud.md, "Security model"), through the proxy's
tunnel or not, and CloudFormation reads bucket policies the same way
(`services.cloudformation.resources`). So the CDK bootstrap bucket's deny of insecure
transport lets the cloud's clients in over http://localhost, as it lets AWS's in over https.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from localcloud.gateway.auth import IssuedKey
from localcloud.shared.iam import role_by_arn


@dataclass(frozen=True)
class Caller:
    """The principal behind a key."""

    account: str
    arn: str  # root, user or assumed-role session ARN; a service's name; a provider's ARN
    kind: str  # "root", "user", "role", "service" or "web-identity"
    role_arn: str | None = None  # a session's role
    service: str | None = None
    role: Any = None  # a session's moto Role (None: deleted since the session began)


def iam_backend(account: str) -> Any:
    """moto's IAM backend of `account`, or None: looking must not create accounts."""
    from moto.iam.models import iam_backends

    return dict.get(dict.get(iam_backends, account) or {}, "aws")


def named(arn: str) -> tuple[str, str, str] | None:
    """(account, kind, name) of an IAM role or user ARN, the path dropped."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam":
        return None
    kind, _, rest = parts[5].partition("/")
    return parts[4], kind, rest.rsplit("/", 1)[-1]


def caller_of(key: IssuedKey) -> Caller:
    """Who signs with `key` (a role session's role is looked up here, once per request)."""
    if key.service is not None and key.role_arn is None:
        return Caller(key.account, key.service, "service", service=key.service)
    if key.role_arn is not None and key.principal is not None:
        backend = iam_backend(key.account)
        role = role_by_arn(backend, key.role_arn) if backend is not None else None
        return Caller(key.account, key.principal, "role", role_arn=key.role_arn, role=role)
    if key.user is not None:
        backend = iam_backend(key.account)
        user = backend.users.get(key.user) if backend is not None else None
        arn = user.arn if user is not None else f"arn:aws:iam::{key.account}:user/{key.user}"
        return Caller(key.account, arn, "user")
    return Caller(key.account, f"arn:aws:iam::{key.account}:root", "root")


_TYPES = {"root": "Account", "user": "User", "role": "AssumedRole", "web-identity": "WebIdentity"}


def context_of(caller: Caller, region: str) -> dict[str, list[str]]:
    """The global condition keys of a request by `caller` in `region` (lowercased, as
    conditions read them); each resource adds its own (`authorize`)."""
    service = caller.kind == "service"
    context: dict[str, list[str]] = {
        "aws:principalisawsservice": ["true" if service else "false"],
        "aws:requestedregion": [region],
        "aws:securetransport": ["true"],  # loopback stands for TLS: see the module's doc
        "aws:calledvia": [],
    }
    if service:
        context["aws:principalservicename"] = [caller.arn]
        return context
    context["aws:principaltype"] = [_TYPES[caller.kind]]
    if caller.kind == "web-identity":
        context["aws:federatedprovider"] = [caller.arn]
        return context
    context["aws:principalaccount"] = [caller.account]
    context["aws:principalarn"] = [caller.role_arn or caller.arn]
    if caller.kind == "role":
        # ROLEID:session; a role deleted since its AssumeRole has no id left to match
        role_id = caller.role.id if caller.role is not None else "deleted"
        context["aws:userid"] = [f"{role_id}:{caller.arn.rsplit('/', 1)[-1]}"]
    return context
