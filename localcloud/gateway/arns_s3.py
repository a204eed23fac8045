"""An S3 request as IAM names it: the action of the method, path and sub-resource, on the
bucket (`arn:aws:s3:::BUCKET`) or the object (`arn:aws:s3:::BUCKET/KEY`), and the extra
actions some requests need (the copy source read, the tags and ACL a PUT sets, each key of a
multi-object delete)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote
from xml.etree import ElementTree

Check = tuple[str, str]  # (IAM action, resource ARN)
_BUCKET_HOST = re.compile(r"(.+?)\.(?:localhost|s3[.-].*amazonaws\.com|s3\.amazonaws\.com)$")
_BUCKET_SUBRESOURCES = {  # query word -> (read, write, delete) actions
    "policy": ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    "policyStatus": ("GetBucketPolicyStatus",) * 3,
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
    "website": ("GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"),
    "replication": ("GetReplicationConfiguration",) + ("PutReplicationConfiguration",) * 2,
    "object-lock": ("GetBucketObjectLockConfiguration",)
    + ("PutBucketObjectLockConfiguration",) * 2,
    "accelerate": ("GetAccelerateConfiguration",) + ("PutAccelerateConfiguration",) * 2,
    "requestPayment": ("GetBucketRequestPayment",) + ("PutBucketRequestPayment",) * 2,
}
# Object sub-resources: query word -> (read, write, delete); `{v}` is `Version` when the
# request names a version.
_OBJECT_SUBRESOURCES = {
    "tagging": ("GetObject{v}Tagging", "PutObject{v}Tagging", "DeleteObject{v}Tagging"),
    "acl": ("GetObject{v}Acl", "PutObject{v}Acl", "PutObject{v}Acl"),
    "retention": ("GetObjectRetention", "PutObjectRetention", "PutObjectRetention"),
    "legal-hold": ("GetObjectLegalHold", "PutObjectLegalHold", "PutObjectLegalHold"),
    "attributes": ("GetObject{v}Attributes",) * 3,
    "restore": ("RestoreObject",) * 3,
}
_VERB = {"GET": 0, "HEAD": 0, "PUT": 1, "POST": 1, "DELETE": 2}


def bucket_and_key(environ: dict[str, Any]) -> tuple[str, str]:
    """The request's bucket and key, path style or virtual-host style."""
    path = unquote(environ.get("PATH_INFO", "/"))
    host = environ.get("HTTP_HOST", "").split(":")[0].lower()
    virtual = _BUCKET_HOST.match(host)
    if virtual and virtual.group(1) != "s3":
        return virtual.group(1), path.lstrip("/")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def bucket_account(bucket: str) -> str | None:
    """The account that owns `bucket` (S3's names are global), None when none does."""
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(bucket)
    return owner[1] if owner else None


def s3_checks(environ: dict[str, Any]) -> list[Check]:
    """(action, ARN) of each authorisation the S3 request needs."""
    bucket, key = bucket_and_key(environ)
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    method = environ.get("REQUEST_METHOD", "GET")
    if not bucket:
        return [("s3:ListAllMyBuckets", "*")]
    if key:
        return _object(environ, f"arn:aws:s3:::{bucket}/{key}", query, method)
    arn = f"arn:aws:s3:::{bucket}"
    for sub, names in _BUCKET_SUBRESOURCES.items():
        if sub in query:
            return [(f"s3:{names[_VERB.get(method, 0)]}", arn)]
    if method == "POST" and "delete" in query:
        return _deleted(environ, arn)
    action = {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, "ListBucket")
    return [(f"s3:{action}", arn)]


def _object(environ: dict[str, Any], arn: str, query: dict[str, str], method: str) -> list[Check]:
    version = "Version" if "versionId" in query else ""
    for sub, names in _OBJECT_SUBRESOURCES.items():
        if sub in query:
            return [(f"s3:{names[_VERB.get(method, 0)].format(v=version)}", arn)]
    if "uploadId" in query and method in ("GET", "DELETE"):
        action = "ListMultipartUploadParts" if method == "GET" else "AbortMultipartUpload"
        return [(f"s3:{action}", arn)]
    if method in ("GET", "HEAD"):
        return [(f"s3:GetObject{version}", arn)]
    if method == "DELETE":
        return [(f"s3:DeleteObject{version}", arn)]
    checks = [("s3:PutObject", arn)]  # PUT, UploadPart, Create/CompleteMultipartUpload
    if environ.get("HTTP_X_AMZ_TAGGING"):
        checks.append(("s3:PutObjectTagging", arn))
    if any(
        h in environ
        for h in ("HTTP_X_AMZ_ACL", "HTTP_X_AMZ_GRANT_READ", "HTTP_X_AMZ_GRANT_FULL_CONTROL")
    ):
        checks.append(("s3:PutObjectAcl", arn))
    source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
    if source:  # a copy reads its source
        path, _, source_query = unquote(source).lstrip("/").partition("?")
        read = "GetObjectVersion" if "versionId=" in source_query else "GetObject"
        checks.append((f"s3:{read}", f"arn:aws:s3:::{path}"))
    return checks


def _deleted(environ: dict[str, Any], arn: str) -> list[Check]:
    """DeleteObjects: s3:DeleteObject (or DeleteObjectVersion) of each key it names."""
    stream = environ.get("wsgi.input")
    body = stream.getvalue() if hasattr(stream, "getvalue") else b""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return [("s3:DeleteObject", f"{arn}/*")]  # S3 refuses the body; every key is asked
    checks = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] != "Object":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in element}
        action = "DeleteObjectVersion" if fields.get("VersionId") else "DeleteObject"
        checks.append((f"s3:{action}", f"{arn}/{fields.get('Key', '')}"))
    return checks or [("s3:DeleteObject", f"{arn}/*")]
