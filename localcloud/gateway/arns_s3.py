"""An S3 request as IAM names it: the action of the method, path and sub-resource, on the
bucket (`arn:aws:s3:::BUCKET`) or the object (`arn:aws:s3:::BUCKET/KEY`), and the extra
actions some requests need (the copy source read, the tags and ACL a PUT sets, each key of a
multi-object delete).

The bucket, the key and a copy's source are read with moto's own functions (`S3Response`'s
choice of virtual-host or path style, its bucket and key parsers, on moto's `Request` over the
same environ), so the guard checks the bucket moto acts on by construction. What the cloud
does not serve is refused before it is named (`unserved`): S3's POST Object (an HTML form
upload: moto writes the object the form's `key` names, whatever sub-resource the URL has),
methods S3 has no operation for, S3 Control and access points.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlparse
from xml.etree import ElementTree

from localcloud.gateway.auth import read_body
from localcloud.gateway.refusals import Refused

Check = tuple[str, str]  # (IAM action, resource ARN)
_READ = "smlocal.s3"  # the environ key that keeps a request's bucket and key
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
    "select": ("GetObject",) * 3,  # SelectObjectContent reads the object
}
_VERB = {"GET": 0, "HEAD": 0, "PUT": 1, "POST": 1, "DELETE": 2}


@functools.lru_cache(maxsize=64)
def _url_root(scheme: str, host: str, root_path: str) -> str:
    from werkzeug.sansio.utils import get_current_url

    return get_current_url(scheme, host, root_path)


@functools.cache
def _moto() -> tuple[Any, ...]:
    """moto's S3 readers, and its `Request` with werkzeug's URL root kept per host (computed
    by werkzeug's own `get_current_url`, the costliest part of a request's URL)."""
    from moto.core.request import Request
    from moto.s3.responses import S3Response, parse_key_name
    from moto.s3.utils import bucket_name_from_url
    from moto.s3bucket_path.utils import bucket_name_from_url as path_bucket
    from moto.s3bucket_path.utils import parse_key_name as path_key

    class Seen(Request):
        raw_path = functools.cached_property(Request.raw_path.fget)  # read twice: once

        @property
        def url_root(self) -> str:  # type: ignore[override]
            return _url_root(self.scheme, self.host, self.root_path)

    return (
        Seen,
        S3Response.subdomain_based_buckets,
        bucket_name_from_url,
        parse_key_name,
        (
            path_bucket,
            path_key,
        ),
    )


def bucket_and_key(environ: dict[str, Any]) -> tuple[str, str]:
    """The request's bucket and key as moto's S3 reads them: `S3Response.subdomain_based_buckets`
    decides virtual-host or path style from the Host header (a host starting `localhost` is
    path style; another takes its first label as the bucket), moto's parsers read the raw URL
    and path of moto's own `Request` over the environ (which reads no body, changes nothing)."""
    found = environ.get(_READ)
    if found is not None:
        return found
    seen, subdomain_based, bucket_name_from_url, parse_key_name, (path_bucket, path_key) = _moto()
    request = seen(environ, populate_request=False, shallow=True)
    safe_path = unquote(request.raw_path)  # `S3Response.get_safe_path`
    if subdomain_based(request):
        found = bucket_name_from_url(request.raw_url) or "", parse_key_name(safe_path)
    else:
        found = path_bucket(request.raw_url) or "", path_key(safe_path)
    environ[_READ] = found
    return found


def copy_source(environ: dict[str, Any]) -> tuple[str, str, str | None] | None:
    """(bucket, key, version id) of a copy's `x-amz-copy-source`, as moto reads it."""
    source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
    if not source:
        return None
    parsed = urlparse(source)
    bucket, _, key = unquote(parsed.path).lstrip("/").partition("/")
    return bucket, key, parse_qs(parsed.query).get("versionId", [None])[0]


def unserved(environ: dict[str, Any]) -> None:
    """Refuse an S3 request the cloud does not serve (so never names): a POST Object form
    upload, a method S3 has no operation for, S3 Control, an access point."""
    host = environ.get("HTTP_HOST", "")
    if environ.get("PATH_INFO", "").startswith("/v20180820/") or "s3-control" in host:
        raise Refused("not-implemented", "the local cloud does not serve S3 Control")
    if ".s3-accesspoint." in host:
        raise Refused("not-implemented", "the local cloud does not serve S3 access points")
    method = environ.get("REQUEST_METHOD", "GET")
    if method not in _VERB:
        raise Refused("not-implemented", f"S3 has no operation for the method {method[:20]}")
    if method != "POST":
        return
    bucket, key = bucket_and_key(environ)
    query = environ.get("QUERY_STRING", "")
    words = {name for name, _ in parse_qsl(query, keep_blank_values=True)}
    posts = {"uploads", "uploadId", "restore", "select"} if key else {"delete"}
    if bucket and not words & posts:
        raise Refused(
            "not-implemented",
            "POST Object (an HTML form upload) is not served by the local cloud: use PutObject",
        )


def bucket_account(bucket: str) -> str | None:
    """The account that owns `bucket` (S3's names are global), None when none does."""
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(bucket)
    return owner[1] if owner else None


def s3_checks(environ: dict[str, Any]) -> list[Check]:
    """(action, ARN) of each authorisation the S3 request needs; Refused for what the cloud
    does not serve (`unserved`)."""
    unserved(environ)
    bucket, key = bucket_and_key(environ)
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    method = environ.get("REQUEST_METHOD", "GET")
    if not bucket:
        return [("s3:ListAllMyBuckets", "*")]
    if key:
        return _object(environ, f"arn:aws:s3:::{bucket}/{key}", query, method)
    arn = f"arn:aws:s3:::{bucket}"
    if method == "POST":  # `unserved` let only DeleteObjects through
        return _deleted(environ, arn)
    for sub, names in _BUCKET_SUBRESOURCES.items():
        if sub in query:
            return [(f"s3:{names[_VERB[method]]}", arn)]
    action = {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, "ListBucket")
    return [(f"s3:{action}", arn)]


def _object(environ: dict[str, Any], arn: str, query: dict[str, str], method: str) -> list[Check]:
    version = "Version" if "versionId" in query else ""
    for sub, names in _OBJECT_SUBRESOURCES.items():
        if sub in query:
            return [(f"s3:{names[_VERB[method]].format(v=version)}", arn)]
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
    source = copy_source(environ)
    if source is not None:  # a copy reads its source
        bucket, key, version = source
        read = "GetObjectVersion" if version else "GetObject"
        checks.append((f"s3:{read}", f"arn:aws:s3:::{bucket}/{key}"))
    return checks


def _deleted(environ: dict[str, Any], arn: str) -> list[Check]:
    """DeleteObjects: s3:DeleteObject (or DeleteObjectVersion) of each key it names (its body
    read once, bounded as every signed body is: `auth.read_body`)."""
    body = read_body(environ)
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
