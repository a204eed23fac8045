"""Accounts kept apart, as AWS keeps them: the guard's last check of a signed request, once
its key is known and (for a role's key) its identity policies allowed it.

S3 bucket names are global (in moto as on AWS), so a request may name a bucket of another
account. Within the bucket's own account nothing more is checked here (one dict lookup: the
owner of the bucket the request names). Across accounts a request is served only when the
bucket grants it, as S3 evaluates a cross-account request:
- the bucket policy allows the action on the resource to the caller: its ARN (a user, a role:
  any session of it, a session), its account (id or root ARN), or `*`, with the statement's
  conditions met (`aws:PrincipalAccount`, `aws:PrincipalArn`, `aws:SecureTransport`, ...); an
  explicit Deny wins. A policy that is public (`*` without conditions) grants nothing to other
  accounts when the bucket's public access block sets `RestrictPublicBuckets`;
- or an ACL grant to a group (`AllUsers`, `AuthenticatedUsers`) covers it: the bucket's for
  listing and writing, the object's for reading; not when the bucket's object ownership is
  `BucketOwnerEnforced` (ACLs disabled) or its public access block sets `IgnorePublicAcls`.
  (moto gives every account the same canonical user id, so a grant to one account's canonical
  id cannot be told from the owner's and is not taken as a grant to another account.)
- and the caller's own identity policy allows it too: the account root may do anything, a
  role's policies were checked by `authorize`, an IAM user's are evaluated (`trust`).
Every caller counts: the cloud's own key (its account's root), IAM users' keys, roles'
sessions, the keys the cloud's services sign with. Refused as S3 refuses another account:
`AccessDenied`, 403, "Access Denied".

The buckets a request names are read as moto reads them (`arns_s3.bucket_and_key`,
`arns_s3.copy_source`), their owners from moto's own map (`arns_s3.bucket_account`), and what
the request does on them is named once per request (`authorize.requested`). Bucket policies
read `aws:SecureTransport` as true, as every check does (`principals`).

STS requests get their trust check here too (`trust.check_sts`): AssumeRole evaluates the
role's trust policy.
"""

from __future__ import annotations

import json
from typing import Any

from localcloud.gateway.arns_s3 import bucket_account, bucket_and_key, copy_source
from localcloud.gateway.auth import IssuedKey, scope_region
from localcloud.gateway.authorize import requested
from localcloud.gateway.params import read
from localcloud.gateway.principals import Caller, context_of
from localcloud.gateway.refusals import Refused
from localcloud.gateway.trust import check_sts, identity_allows, resource_policy

_ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
_AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
# S3 action -> the ACL permission that grants it (on the bucket, or on the object for reads)
_ACL = {
    "ListBucket": "READ",
    "ListBucketVersions": "READ",
    "ListBucketMultipartUploads": "READ",
    "PutObject": "WRITE",
    "DeleteObject": "WRITE",
    "AbortMultipartUpload": "WRITE",
    "GetBucketAcl": "READ_ACP",
    "PutBucketAcl": "WRITE_ACP",
    "GetObject": "READ",
}
_OBJECT_READS = ("GetObject",)


def check(environ: dict[str, Any], key: IssuedKey, caller: Caller, service: str) -> None:
    """Raise Refused unless the request keeps within what its account may reach (S3), or
    the role's trust lets its caller in (STS)."""
    if service == "s3":
        _s3(environ, caller)
    elif service == "sts":
        check_sts(read(environ, service), key, caller, scope_region(environ))


def _buckets(environ: dict[str, Any]) -> list[str]:
    """The buckets a request names: its own (host or path), and a copy's source."""
    names = [bucket_and_key(environ)[0]]
    source = copy_source(environ)
    if source is not None:
        names.append(source[0])
    return names


def _s3(environ: dict[str, Any], caller: Caller) -> None:
    account = caller.account
    if all(bucket_account(name) in (None, account) for name in _buckets(environ)):
        return  # the caller's own buckets, or none that exists (S3 answers NoSuchBucket)
    context = context_of(caller, scope_region(environ))
    for action, resource, _extra in requested(environ, "s3", account):
        if action == "s3:CreateBucket":
            continue  # a name another account holds: S3 answers BucketAlreadyExists
        bucket_name = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        owner = bucket_account(bucket_name)
        if owner is None or owner == account:
            continue
        if not _granted(owner, bucket_name, action, resource, caller, context):
            raise Refused("denied", "Access Denied")


def _granted(
    owner: str,
    bucket_name: str,
    action: str,
    resource: str,
    caller: Any,
    context: dict[str, list[str]],
) -> bool:
    """Whether the bucket of another account grants `action` on `resource` to `caller`, and
    the caller's own policies allow it."""
    from moto.s3.models import s3_backends
    from moto.s3.utils import bucket_policy_is_public

    bucket = dict.get(dict.get(s3_backends, owner) or {}, "aws")
    bucket = bucket.buckets.get(bucket_name) if bucket is not None else None
    if bucket is None:
        return True  # gone meanwhile: moto answers NoSuchBucket
    block = getattr(bucket, "public_access_block", None)
    how = None
    if bucket.policy:
        text = bucket.policy.decode() if isinstance(bucket.policy, bytes) else str(bucket.policy)
        try:
            document = json.loads(text)
        except ValueError:
            document = {}
        how = resource_policy(document, caller, action, resource, context)
        if how == "deny":
            return False
        restricted = block is not None and block.restrict_public_buckets
        if how and restricted and bucket_policy_is_public(text):
            how = None  # a public policy reaches the owner's account only
    if how is None and not _acl_grants(bucket, action, resource, block):
        return False
    return identity_allows(caller, action, resource, context)


def _acl_grants(bucket: Any, action: str, resource: str, block: Any) -> bool:
    """Whether a group grant of the bucket's ACL (the object's, for reads) covers `action`."""
    permission = _ACL.get(action.removeprefix("s3:"))
    if permission is None or "BucketOwnerEnforced" in str(bucket.ownership_rule or ""):
        return False
    if block is not None and block.ignore_public_acls:
        return False
    acl = bucket.acl
    if action.removeprefix("s3:") in _OBJECT_READS:
        object_key = resource.split("/", 1)[1] if "/" in resource else ""
        found = bucket.keys.get(object_key)
        acl = getattr(found, "acl", None)
    for grant in getattr(acl, "grants", None) or []:
        groups = {g.uri for g in grant.grantees if g.uri}
        if groups & {_ALL_USERS, _AUTHENTICATED} and (
            permission in grant.permissions or "FULL_CONTROL" in grant.permissions
        ):
            return True
    return False
