"""Who a key is, and who may assume a role: the trust policy of a role, evaluated as STS
evaluates it, for a caller's AssumeRole and for the services the cloud plays.

A caller (`Caller`) is the account root (the cloud's own key, and the temporary keys its
GetSessionToken issues), an IAM user (its keys and its GetSessionToken keys), a role's session
(AssumeRole, AssumeRoleWithWebIdentity, a service's session of a role) or a service
(`sagemaker.amazonaws.com`, for the keys the cloud's services sign with).

AssumeRole (`check_assume_role`, called by the guard once the signature and the caller's own
policies are checked) is allowed when the role exists and a statement of its trust policy
allows `sts:AssumeRole` to the caller (Principal / NotPrincipal: `*`, an account as its id or
its root ARN, a role, a role session, a user, a `Service`) with its conditions met, and no
statement denies it. Conditions are IAM's (`authorize.conditions_hold`) over
`aws:PrincipalAccount`, `aws:PrincipalArn` (a session's role), `aws:PrincipalType`,
`aws:PrincipalIsAWSService`, `aws:PrincipalServiceName`, `aws:SourceAccount` / `aws:SourceArn`
(a service's), `sts:ExternalId`, `sts:RoleSessionName`, `sts:SourceIdentity`,
`aws:RequestedRegion`, `aws:SecureTransport`. A trust that names the caller's account (or `*`)
lets it in only if the caller's own identity policy allows `sts:AssumeRole` on the role, as it
must always across accounts: the account root has every right, a role's policies were checked
by `authorize` before, an IAM user's are evaluated here. Refused as AWS refuses: `AccessDenied`
"User: ARN is not authorized to perform: sts:AssumeRole on resource: ROLE", for a role that
does not exist too.

AssumeRoleWithWebIdentity is judged by its token and the role's trust whether it is signed or
not (`authorize.web_identity`); AssumeRoleWithSAML is refused (moto would issue any role's key).

`ServiceSessions` is SageMaker assuming a job's or a model's execution role: the trust must
allow `sagemaker.amazonaws.com` with SageMaker's `aws:SourceAccount` and `aws:SourceArn`; the
key it gets lives in this process only (`auth.register_service_key`) and acts as the role.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from localcloud.dataplane.sessions import RoleError, SessionKey
from localcloud.gateway.auth import IssuedKey, register_service_key
from localcloud.gateway.authorize import decide, web_identity
from localcloud.gateway.organization import ROLE_NAME, given, is_member, trust_document
from localcloud.gateway.refusals import Refused

SAGEMAKER = "sagemaker.amazonaws.com"
SESSION_S = 3600  # SageMaker's sessions of a role last an hour; its clients refresh them
_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class Caller:
    """The principal behind a key."""

    account: str
    arn: str  # root, user or assumed-role session ARN; the service's name for a service
    kind: str  # "root", "user", "role" or "service"
    role_arn: str | None = None  # a session's role
    service: str | None = None


def caller_of(key: IssuedKey) -> Caller:
    """Who signs with `key`."""
    if key.service is not None and key.role_arn is None:
        return Caller(key.account, key.service, "service", service=key.service)
    if key.role_arn is not None and key.principal is not None:
        return Caller(key.account, key.principal, "role", role_arn=key.role_arn)
    if key.user is not None:
        return Caller(key.account, _user_arn(key.account, key.user), "user")
    return Caller(key.account, f"arn:aws:iam::{key.account}:root", "root")


def _user_arn(account: str, name: str) -> str:
    backend = _iam(account)
    user = backend.users.get(name) if backend is not None else None
    return user.arn if user is not None else f"arn:aws:iam::{account}:user/{name}"


def _iam(account: str) -> Any:
    """moto's IAM backend of `account`, or None: looking must not create accounts."""
    from moto.iam.models import iam_backends

    return dict.get(dict.get(iam_backends, account) or {}, "aws")


def context_of(caller: Caller, region: str, secure: bool) -> dict[str, list[str]]:
    """The global condition keys of a request by `caller` (lowercased, as conditions read
    them)."""
    service = caller.kind == "service"
    context: dict[str, list[str]] = {
        "aws:principalisawsservice": ["true" if service else "false"],
        "aws:requestedregion": [region],
        "aws:securetransport": ["true" if secure else "false"],
        "aws:calledvia": [],
    }
    if service:
        context["aws:principalservicename"] = [caller.arn]
        return context
    context["aws:principalaccount"] = [caller.account]
    context["aws:principalarn"] = [caller.role_arn or caller.arn]
    kind = {"root": "Account", "user": "User", "role": "AssumedRole"}[caller.kind]
    context["aws:principaltype"] = [kind]
    return context


# --- principals ------------------------------------------------------------------------------
def _values(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _named(arn: str) -> tuple[str, str, str] | None:
    """(account, kind, name) of an IAM role or user ARN, the path dropped."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam":
        return None
    kind, _, rest = parts[5].partition("/")
    return parts[4], kind, rest.rsplit("/", 1)[-1]


def principal_match(principal: Any, caller: Caller) -> str | None:
    """How a policy's Principal names `caller`: "specific" (the user, the role, the session,
    the service), "account" (its account: the caller's own policy must allow too), "any"
    (`*`: likewise), or None."""
    if principal == "*":
        return "any"
    if not isinstance(principal, dict):
        return None
    if caller.kind == "service":
        return "specific" if caller.service in _values(principal.get("Service", [])) else None
    best = None
    for value in _values(principal.get("AWS", [])):
        if value == "*":
            best = best or "any"
        elif value in (caller.account, f"arn:aws:iam::{caller.account}:root"):
            best = "account" if best != "specific" else best
        elif value == caller.arn:
            return "specific"
        else:
            named = _named(value)
            mine = _named(caller.role_arn or caller.arn)
            if named is not None and named == mine:
                return "specific"
    return best


def statement_match(statement: dict[str, Any], caller: Caller) -> str | None:
    """`principal_match` of a statement's Principal, or of its NotPrincipal inverted."""
    if "NotPrincipal" in statement:
        return None if principal_match(statement["NotPrincipal"], caller) else "any"
    return principal_match(statement.get("Principal"), caller)


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def resource_policy(
    document: dict[str, Any],
    caller: Caller,
    action: str,
    resource: str,
    context: dict[str, list[str]],
) -> str | None:
    """How a resource-based policy (a trust policy, a bucket policy) lets `caller` perform
    `action` on `resource`: "specific" (a statement names the caller itself), "account" (its
    account or `*`: the caller's own policies must allow it too), "deny" (a statement denies
    it) or None (nothing allows it). Action and Resource are matched and conditions evaluated as
    `authorize.decide` does (a Deny whose condition cannot be evaluated applies)."""
    matched: list[tuple[str, dict[str, Any]]] = []
    for statement in _statements(document):
        how = statement_match(statement, caller)
        if how is None:
            continue
        bare = {k: v for k, v in statement.items() if k not in ("Principal", "NotPrincipal")}
        if "Resource" not in bare and "NotResource" not in bare:
            bare["Resource"] = "*"  # a trust policy's statements name no resource
        matched.append((how, bare))

    def verdict(statements: list[dict[str, Any]]) -> str:
        return decide([{"Statement": statements}], action, resource, context)

    overall = verdict([s for _, s in matched])
    if overall != "allowed":
        return "deny" if overall == "explicitDeny" else None
    named = [s for how, s in matched if how == "specific" or s.get("Effect") == "Deny"]
    return "specific" if verdict(named) == "allowed" else "account"


# --- the caller's own policies ----------------------------------------------------------------
def identity_allows(
    caller: Caller, action: str, resource: str, context: dict[str, list[str]]
) -> bool:
    """Whether the caller's identity policies allow `action` on `resource`. The account root
    may do anything; a service acts for itself; a role's policies were checked by
    `authorize` before the request got here; an IAM user's (inline, attached, its groups',
    within its permissions boundary) are evaluated now."""
    if caller.kind != "user":
        return True
    backend = _iam(caller.account)
    named = _named(caller.arn)
    user = backend.users.get(named[2]) if backend is not None and named else None
    if user is None:
        return False
    policies = [_document(p) for p in user.policies.values()]
    policies += [_managed(p) for p in user.managed_policies.values()]
    for group in backend.get_groups_for_user(user.name):
        policies += [_document(p) for p in group.policies.values()]
        policies += [_managed(p) for p in group.managed_policies.values()]
    if decide(policies, action, resource, context) != "allowed":
        return False
    boundary = getattr(user, "permissions_boundary", None) or getattr(
        user, "permissions_boundary_arn", None
    )
    if boundary:
        managed = backend.managed_policies.get(str(boundary))
        document = [_managed(managed)] if managed is not None else []
        return decide(document, action, resource, context) == "allowed"
    return True


def _document(policy: Any) -> dict[str, Any]:
    return json.loads(policy) if isinstance(policy, str) else dict(policy)


def _managed(policy: Any) -> dict[str, Any]:
    return _document(next(v.document for v in policy.versions if v.is_default))


# --- AssumeRole ---------------------------------------------------------------------------------
def role_trust(role_arn: str) -> tuple[str, dict[str, Any]] | None:
    """(the role's ARN, its trust policy) if the role exists; a member account's
    `OrganizationAccountAccessRole` exists from the account's first use."""
    named = _named(role_arn)
    if named is None or named[1] != "role":
        return None
    account = named[0]
    backend = _iam(account)
    role = None
    if backend is not None:
        try:
            role = backend.get_role_by_arn(role_arn)
        except Exception:  # moto's NotFoundException: no such role
            role = None
    if role is not None:
        return role.arn, _document(role.assume_role_policy_document)
    organization_role = role_arn.endswith(f":role/{ROLE_NAME}") and is_member(account)
    if organization_role and (backend is None or not given(backend)):
        return role_arn, trust_document()  # made by the AssumeRole that follows
    return None


def check_sts(environ: dict[str, Any], key: IssuedKey, region: str, secure: bool) -> None:
    """The guard's check of an STS request: AssumeRole against the role's trust policy;
    GetSessionToken refused to session keys, as AWS refuses it."""
    stream = environ.get("wsgi.input")
    body = stream.getvalue() if hasattr(stream, "getvalue") else b""
    fields = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    fields.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    action = fields.get("Action")
    caller = caller_of(key)
    if action == "GetSessionToken" and (key.session_token or caller.kind == "service"):
        raise Refused("denied", "Cannot call GetSessionToken with session credentials")
    if action == "AssumeRoleWithWebIdentity":
        web_identity(environ)  # signed or not, the token and the role's trust decide
        return
    if action == "AssumeRoleWithSAML":  # moto's would issue any role's key
        raise Refused(
            "denied", "Not authorized to perform sts:AssumeRoleWithSAML: no SAML provider here"
        )
    if action != "AssumeRole":
        return
    role_arn = fields.get("RoleArn", "")
    context = context_of(caller, region, secure)
    for field, name in (
        ("ExternalId", "sts:externalid"),
        ("RoleSessionName", "sts:rolesessionname"),
        ("SourceIdentity", "sts:sourceidentity"),
    ):
        if fields.get(field):
            context[name] = [fields[field]]
    denied = Refused(
        "denied",
        f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
    )
    found = role_trust(role_arn)
    if found is None:
        raise denied
    arn, document = found
    how = resource_policy(document, caller, "sts:AssumeRole", "*", context)
    if how in (None, "deny"):
        raise denied
    same_account = _named(arn) is not None and _named(arn)[0] == caller.account  # type: ignore[index]
    if how == "specific" and same_account:
        return  # a trust naming the principal itself needs nothing more in its own account
    if not identity_allows(caller, "sts:AssumeRole", arn, context):
        raise denied


# --- the services the cloud plays --------------------------------------------------------------
class ServiceSessions:
    """SageMaker's keys: a session of an execution role (`role`), the service's own key in an
    account (`service`); both live in this process only and expire after an hour."""

    def __init__(self, service: str = SAGEMAKER) -> None:
        self.name = service

    def check(self, account: str, region: str, role_arn: str, source_arn: str) -> str | None:
        """None when the service may assume `role_arn` for `source_arn`, else AWS's
        CreateX refusal ("Could not assume role ...")."""
        if self._trusted(account, region, role_arn, source_arn) is None:
            return (
                f"Could not assume role {role_arn}. Please ensure that the role exists and "
                f"allows principal '{self.name}' to assume the role."
            )
        return None

    def role(self, account: str, region: str, role_arn: str, source_arn: str) -> SessionKey:
        """A session of `role_arn` as the service, acting for `source_arn`; RoleError when
        the role is gone or no longer trusts the service."""
        arn = self._trusted(account, region, role_arn, source_arn)
        if arn is None:
            raise RoleError(f"SageMaker was unable to assume the role '{role_arn}'")
        name = arn.rsplit("/", 1)[-1]
        principal = f"arn:aws:sts::{account}:assumed-role/{name}/SageMaker"
        return self._issue(account, principal=principal, role_arn=arn, service=self.name)

    def service(self, account: str) -> SessionKey:
        """The service's own key in `account` (a tuning job launching its training jobs)."""
        return self._issue(account, service=self.name)

    def _trusted(self, account: str, region: str, role_arn: str, source_arn: str) -> str | None:
        named = _named(role_arn)
        if named is None or named[0] != account:  # SageMaker takes roles of its account only
            return None
        found = role_trust(role_arn)
        if found is None:
            return None
        arn, document = found
        caller = Caller(account, self.name, "service", service=self.name)
        context = context_of(caller, region, secure=True)
        context["aws:sourceaccount"] = [account]
        context["aws:sourcearn"] = [source_arn]
        allowed = resource_policy(document, caller, "sts:AssumeRole", "*", context)
        return arn if allowed in ("specific", "account") else None

    def _issue(self, account: str, **who: Any) -> SessionKey:
        access_key_id = "ASIA" + "".join(secrets.choice(_ALPHABET) for _ in range(16))
        secret = secrets.token_urlsafe(30)[:40]
        token = secrets.token_urlsafe(96)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=SESSION_S)
        register_service_key(access_key_id, IssuedKey(secret, token, account, expires, **who))
        return SessionKey(access_key_id, secret, token, expires)
