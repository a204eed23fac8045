"""Who may assume a role: the trust policy of a role, evaluated as STS evaluates it, for a
caller's AssumeRole, a web identity's AssumeRoleWithWebIdentity, and the services the cloud
plays.

AssumeRole (`check_sts`, called by the guard once the signature and a role caller's own
policies are checked) is allowed when the role exists and a statement of its trust policy
allows `sts:AssumeRole` to the caller (`principals.Caller`; Principal / NotPrincipal: `*`, an
account as its id or its root ARN, a role, a role session, a user, a `Service`) with its
conditions met, and no statement denies it. Conditions are IAM's (`shared.policies`) over the
caller's context (`principals.context_of`: `aws:PrincipalAccount`, `aws:PrincipalArn` (a
session's role), `aws:PrincipalType`, `aws:PrincipalIsAWSService`, `aws:PrincipalServiceName`,
`aws:RequestedRegion`, `aws:SecureTransport`, ...), `aws:SourceAccount` / `aws:SourceArn` (a
service's), `sts:ExternalId`, `sts:RoleSessionName`, `sts:SourceIdentity`. A trust that names
the caller's account (or `*`) lets it in only if the caller's own identity policy allows
`sts:AssumeRole` on the role, as it must always across accounts: the account root has every
right, a role's policies were checked by `authorize` before, an IAM user's are evaluated here
(`shared.iam.principal_policies`). Refused as AWS refuses: `AccessDenied` "User: ARN is not
authorized to perform: sts:AssumeRole on resource: ROLE", for a role that does not exist too.

AssumeRoleWithWebIdentity (`web_identity`) is judged by its token and the role's trust whether
it is signed or not: the same statement matching (`resource_policy`: Deny, NotPrincipal,
actions case-insensitively, `Version` for policy variables), the caller being the token's
OIDC provider (`Principal.Federated`). AssumeRoleWithSAML is refused (moto would issue any
role's key).

GetSessionToken issues a real temporary key of its caller (`install`: moto answers AWS's
documentation example), refused to session keys (`check_sts`), as AWS refuses it.

`ServiceSessions` is SageMaker assuming a job's or a model's execution role: the trust must
allow `sagemaker.amazonaws.com` with SageMaker's `aws:SourceAccount` and `aws:SourceArn`; the
key it gets lives in this process only (`auth.register_service_key`) and acts as the role.
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
from typing import Any

from localcloud.dataplane.sessions import RoleError, SessionKey
from localcloud.gateway.auth import IssuedKey, register_service_key
from localcloud.gateway.organization import ROLE_NAME, is_member
from localcloud.gateway.params import Asked
from localcloud.gateway.principals import Caller, context_of, iam_backend, named
from localcloud.gateway.refusals import Refused
from localcloud.shared.iam import document, principal_policies, role_by_arn
from localcloud.shared.policies import decide, statements, values

SAGEMAKER = "sagemaker.amazonaws.com"
SESSION_S = 3600  # SageMaker's sessions of a role last an hour; its clients refresh them
_ALPHABET = string.ascii_uppercase + string.digits


# --- principals ------------------------------------------------------------------------------
def principal_match(principal: Any, caller: Caller) -> str | None:
    """How a policy's Principal names `caller`: "specific" (the user, the role, the session,
    the service, the web identity's provider), "account" (its account: the caller's own policy
    must allow too), "any" (`*`: likewise), or None."""
    if principal == "*":
        return "any"
    if not isinstance(principal, dict):
        return None
    if caller.kind == "service":
        return "specific" if caller.service in values(principal.get("Service", [])) else None
    if caller.kind == "web-identity":
        return "specific" if caller.arn in values(principal.get("Federated", [])) else None
    best = None
    for value in values(principal.get("AWS", [])):
        if value == "*":
            best = best or "any"
        elif value in (caller.account, f"arn:aws:iam::{caller.account}:root"):
            best = "account" if best != "specific" else best
        elif value == caller.arn:
            return "specific"
        else:
            given = named(value)
            mine = named(caller.role_arn or caller.arn)
            if given is not None and given == mine:
                return "specific"
    return best


def statement_match(statement: dict[str, Any], caller: Caller) -> str | None:
    """`principal_match` of a statement's Principal, or of its NotPrincipal inverted."""
    if "NotPrincipal" in statement:
        return None if principal_match(statement["NotPrincipal"], caller) else "any"
    return principal_match(statement.get("Principal"), caller)


def resource_policy(
    policy: dict[str, Any],
    caller: Caller,
    action: str,
    resource: str,
    context: dict[str, list[str]],
) -> str | None:
    """How a resource-based policy (a trust policy, a bucket policy) lets `caller` perform
    `action` on `resource`: "specific" (a statement names the caller itself), "account" (its
    account or `*`: the caller's own policies must allow it too), "deny" (a statement denies
    it) or None (nothing allows it). Action and Resource are matched and conditions evaluated as
    `shared.policies.decide` does (a Deny whose condition cannot be evaluated applies)."""
    matched: list[tuple[str, dict[str, Any]]] = []
    for statement in statements(policy):
        if not isinstance(statement, dict):
            continue
        how = statement_match(statement, caller)
        if how is None:
            continue
        bare = {k: v for k, v in statement.items() if k not in ("Principal", "NotPrincipal")}
        if "Resource" not in bare and "NotResource" not in bare:
            bare["Resource"] = "*"  # a trust policy's statements name no resource
        matched.append((how, bare))
    version = policy.get("Version")

    def verdict(found: list[dict[str, Any]]) -> str:
        return decide([{"Version": version, "Statement": found}], action, resource, context)

    overall = verdict([s for _, s in matched])
    if overall != "allowed":
        return "deny" if overall == "explicitDeny" else None
    specific = [s for how, s in matched if how == "specific" or s.get("Effect") == "Deny"]
    return "specific" if verdict(specific) == "allowed" else "account"


# --- the caller's own policies ----------------------------------------------------------------
def identity_allows(
    caller: Caller, action: str, resource: str, context: dict[str, list[str]]
) -> bool:
    """Whether the caller's identity policies allow `action` on `resource`. The account root
    may do anything; a service acts for itself; a role's policies were checked by
    `authorize` before the request got here; an IAM user's (inline, attached, its groups',
    within a permissions boundary) are evaluated now."""
    if caller.kind != "user":
        return True
    backend = iam_backend(caller.account)
    user = named(caller.arn)
    found = backend.users.get(user[2]) if backend is not None and user else None
    if found is None:
        return False
    policies, boundary = principal_policies(backend, found)
    if decide([p.document for p in policies], action, resource, context) != "allowed":
        return False
    return (
        boundary is None
        or decide([p.document for p in boundary], action, resource, context) == "allowed"
    )


# --- AssumeRole ---------------------------------------------------------------------------------
def role_trust(role_arn: str) -> tuple[str, dict[str, Any]] | None:
    """(the role's ARN, its trust policy) if the role exists. A member account's
    `OrganizationAccountAccessRole` exists from the account's first use: naming it is a use."""
    found = named(role_arn)
    if found is None or found[1] != "role":
        return None
    account = found[0]
    backend = iam_backend(account)
    if backend is None and found[2] == ROLE_NAME and is_member(account):
        from moto.iam.models import iam_backends

        backend = iam_backends[account]["aws"]  # made with the role (`organization`)
    role = role_by_arn(backend, role_arn) if backend is not None else None
    if role is None:
        return None
    return role.arn, document(_text(role.assume_role_policy_document))


def _text(policy: Any) -> str:
    import json

    return policy if isinstance(policy, str) else json.dumps(policy)


def check_sts(asked: Asked, key: IssuedKey, caller: Caller, region: str) -> None:
    """The guard's check of an STS request by `key` (whose principal is `caller`): AssumeRole
    against the role's trust policy, AssumeRoleWithWebIdentity against the token and the role's
    trust; GetSessionToken refused to session keys, as AWS refuses it."""
    action, fields = asked.operation, asked.params
    if action == "GetSessionToken" and (key.session_token or caller.kind == "service"):
        raise Refused("denied", "Cannot call GetSessionToken with session credentials")
    if action == "AssumeRoleWithWebIdentity":
        web_identity(asked, region)  # signed or not, the token and the role's trust decide
        return
    if action == "AssumeRoleWithSAML":  # moto's would issue any role's key
        raise Refused(
            "denied", "Not authorized to perform sts:AssumeRoleWithSAML: no SAML provider here"
        )
    if action != "AssumeRole":
        return
    role_arn = str(fields.get("RoleArn", ""))
    context = context_of(caller, region)
    for field, name in (
        ("ExternalId", "sts:externalid"),
        ("RoleSessionName", "sts:rolesessionname"),
        ("SourceIdentity", "sts:sourceidentity"),
    ):
        if fields.get(field):
            context[name] = [str(fields[field])]
    denied = Refused(
        "denied",
        f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
    )
    found = role_trust(role_arn)
    if found is None:
        raise denied
    arn, trust = found
    how = resource_policy(trust, caller, "sts:AssumeRole", "*", context)
    if how in (None, "deny"):
        raise denied
    if how == "specific" and named(arn)[0] == caller.account:  # type: ignore[index]
        return  # a trust naming the principal itself needs nothing more in its own account
    if not identity_allows(caller, "sts:AssumeRole", arn, context):
        raise denied


# --- GetSessionToken ----------------------------------------------------------------------------
def install() -> None:
    """STS GetSessionToken issues a real temporary key (moto answers AWS's documentation
    example, which this cloud would refuse); `check_sts` refuses it to session keys."""
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.iam.models import iam_backends
    from moto.sts.responses import TokenResponse
    from moto.sts.utils import random_session_token

    if getattr(TokenResponse.get_session_token, "_localcloud", False):
        return

    def get_session_token(self: Any) -> Any:
        duration = self._get_int_param("DurationSeconds", 43200)
        backend = iam_backends[self.current_account][self.partition]
        # The session is the caller's: an IAM user's stays that user's (the guard refuses
        # session keys here, as AWS does); the cloud's own key's is its account root's.
        caller = backend.access_keys.get(self.get_access_key())
        key = backend.create_temp_access_key()
        key.smlocal_user = caller.user_name if caller is not None else None
        key.session_token = random_session_token()
        key.expiration = utcnow() + dt.timedelta(seconds=duration)
        credentials = {
            "AccessKeyId": key.access_key_id,
            "SecretAccessKey": key.secret_access_key,
            "SessionToken": key.session_token,
            "Expiration": key.expiration,
        }
        return ActionResult({"Credentials": credentials})

    get_session_token._localcloud = True  # type: ignore[attr-defined]
    TokenResponse.get_session_token = get_session_token  # type: ignore[method-assign]


# --- AssumeRoleWithWebIdentity: the token is the credential -------------------------------------
def _claims(token: str) -> dict[str, Any]:
    """A JWT's payload. Its signature is not verified: the cloud cannot reach the issuer."""
    import base64
    import json

    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        raise Refused("bad-identity-token", "The ID Token provided is not a valid JWT") from None
    if not isinstance(claims, dict) or not claims.get("iss"):
        raise Refused("bad-identity-token", "The ID Token provided has no issuer (iss)")
    return claims


def web_identity(asked: Asked, region: str) -> None:
    """Raise Refused unless the role's trust policy accepts the request's web identity token.

    The token's `iss` names the IAM OIDC provider (which must exist in the role's account), its
    `aud` and `sub` are the condition keys `<provider host>:aud|sub`; a trust statement must
    allow `sts:AssumeRoleWithWebIdentity` to that provider (`Principal.Federated`, or `*`)
    with its conditions met, and none may deny it."""
    fields = asked.params
    role_arn = str(fields.get("RoleArn", ""))
    claims = _claims(str(fields.get("WebIdentityToken", "")))
    host = str(claims["iss"]).removeprefix("https://").rstrip("/")
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    provider = f"arn:aws:iam::{account}:oidc-provider/{host}"
    denied = Refused("assume-denied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    backend = iam_backend(account)
    if backend is None or provider not in backend.open_id_providers:
        raise denied
    found = role_trust(role_arn)
    if found is None:  # no such role: refused as AWS does
        raise denied
    caller = Caller(account, provider, "web-identity")
    audiences = claims.get("aud", [])
    context = context_of(caller, region)
    context[f"{host}:aud".lower()] = values(audiences)
    context[f"{host}:sub".lower()] = [str(claims.get("sub", ""))]
    how = resource_policy(found[1], caller, "sts:AssumeRoleWithWebIdentity", "*", context)
    if how in (None, "deny"):
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
        given = named(role_arn)
        if given is None or given[0] != account:  # SageMaker takes roles of its account only
            return None
        found = role_trust(role_arn)
        if found is None:
            return None
        arn, trust = found
        caller = Caller(account, self.name, "service", service=self.name)
        context = context_of(caller, region)
        context["aws:sourceaccount"] = [account]
        context["aws:sourcearn"] = [source_arn]
        allowed = resource_policy(trust, caller, "sts:AssumeRole", "*", context)
        return arn if allowed in ("specific", "account") else None

    def _issue(self, account: str, **who: Any) -> SessionKey:
        access_key_id = "ASIA" + "".join(secrets.choice(_ALPHABET) for _ in range(16))
        secret = secrets.token_urlsafe(30)[:40]
        token = secrets.token_urlsafe(96)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=SESSION_S)
        register_service_key(access_key_id, IssuedKey(secret, token, account, expires, **who))
        return SessionKey(access_key_id, secret, token, expires)
