"""S3 requests named as IAM names them (`localcloud.gateway.arns_s3.s3_checks`): the action of
the method, path and sub-resource, on the bucket or the object, and the extra actions a copy,
tags, an ACL or a multi-object delete need. Called directly on WSGI environs: no cloud."""

from __future__ import annotations

import io
from typing import Any

import pytest

from localcloud.gateway.arns_s3 import bucket_and_key, s3_checks
from localcloud.gateway.refusals import Refused

OBJECT = "arn:aws:s3:::assets/models/model.tar.gz"
BUCKET = "arn:aws:s3:::assets"


def _environ(method: str, path: str, query: str = "", body: bytes = b"", **headers: str) -> Any:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_HOST": "localhost:4566",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return environ


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        (_environ("GET", "/"), [("s3:ListAllMyBuckets", "*")]),
        (_environ("GET", "/assets/models/model.tar.gz"), [("s3:GetObject", OBJECT)]),
        (_environ("HEAD", "/assets/models/model.tar.gz"), [("s3:GetObject", OBJECT)]),
        (
            _environ("GET", "/assets/models/model.tar.gz", "versionId=3"),
            [("s3:GetObjectVersion", OBJECT)],
        ),
        (_environ("PUT", "/assets/models/model.tar.gz"), [("s3:PutObject", OBJECT)]),
        (_environ("POST", "/assets/models/model.tar.gz", "uploads"), [("s3:PutObject", OBJECT)]),
        (
            _environ("GET", "/assets/models/model.tar.gz", "uploadId=u"),
            [("s3:ListMultipartUploadParts", OBJECT)],
        ),
        (
            _environ("DELETE", "/assets/models/model.tar.gz", "uploadId=u"),
            [("s3:AbortMultipartUpload", OBJECT)],
        ),
        (
            _environ("PUT", "/assets/models/model.tar.gz", "tagging"),
            [("s3:PutObjectTagging", OBJECT)],
        ),
        (_environ("GET", "/assets/models/model.tar.gz", "acl"), [("s3:GetObjectAcl", OBJECT)]),
        (
            _environ(
                "PUT", "/assets/models/model.tar.gz", x_amz_tagging="a=b", x_amz_acl="private"
            ),
            [
                ("s3:PutObject", OBJECT),
                ("s3:PutObjectTagging", OBJECT),
                ("s3:PutObjectAcl", OBJECT),
            ],
        ),
        (
            _environ("PUT", "/assets/copy", x_amz_copy_source="/other/src%20key?versionId=2"),
            [
                ("s3:PutObject", "arn:aws:s3:::assets/copy"),
                ("s3:GetObjectVersion", "arn:aws:s3:::other/src key"),
            ],
        ),
        (_environ("GET", "/assets", "list-type=2&prefix=m"), [("s3:ListBucket", BUCKET)]),
        (_environ("HEAD", "/assets"), [("s3:ListBucket", BUCKET)]),
        (_environ("PUT", "/assets"), [("s3:CreateBucket", BUCKET)]),
        (_environ("GET", "/assets", "location"), [("s3:GetBucketLocation", BUCKET)]),
        (_environ("DELETE", "/assets", "tagging"), [("s3:PutBucketTagging", BUCKET)]),
        (_environ("GET", "/assets", "versions"), [("s3:ListBucketVersions", BUCKET)]),
        (_environ("PUT", "/assets", "policy"), [("s3:PutBucketPolicy", BUCKET)]),
        (
            _environ(
                "POST",
                "/assets",
                "delete",
                b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key>'
                b"</Object><Object><Key>b</Key><VersionId>1</VersionId></Object></Delete>",
            ),
            [
                ("s3:DeleteObject", "arn:aws:s3:::assets/a"),
                ("s3:DeleteObjectVersion", "arn:aws:s3:::assets/b"),
            ],
        ),
    ],
)
def test_s3_requests_are_named_as_iam_names_them(
    environ: Any, named: list[tuple[str, str]]
) -> None:
    assert s3_checks(environ) == named


def test_a_virtual_host_names_the_bucket() -> None:
    environ = _environ("GET", "/models/model.tar.gz")
    environ["HTTP_HOST"] = "assets.s3.us-east-1.amazonaws.com"
    assert s3_checks(environ) == [("s3:GetObject", OBJECT)]


@pytest.mark.parametrize(
    ("host", "path", "read"),
    [
        ("localhost:4566", "/assets/models/m", ("assets", "models/m")),
        ("127.0.0.1:4566", "/assets/models/m", ("assets", "models/m")),
        ("assets.localhost:4566", "/models/m", ("assets", "models/m")),
        # moto's readings, which a plain one would get wrong: the first label is the bucket ...
        ("assets.x.localhost:4566", "/models/m", ("assets", "models/m")),
        # ... and a host starting `localhost` is path style
        ("localhost.x.localhost:4566", "/assets/models/m", ("assets", "models/m")),
        ("localhost.s3.amazonaws.com", "/assets/models/m", ("assets", "models/m")),
        ("assets.s3.us-east-1.amazonaws.com", "/models/m", ("assets", "models/m")),
        ("s3.us-east-1.amazonaws.com", "/assets/models/m", ("assets", "models/m")),
        ("localhost:4566", "/assets/a%2Fb", ("assets", "a/b")),
    ],
)
def test_the_bucket_and_key_are_moto_s(host: str, path: str, read: tuple[str, str]) -> None:
    environ = _environ("GET", path)
    environ.update({"HTTP_HOST": host, "RAW_URI": path})
    assert bucket_and_key(environ) == read


def test_a_copy_source_is_read_as_moto_reads_it() -> None:
    # `//other/...` is a URL's authority to moto: the source bucket is the path's first part
    environ = _environ("PUT", "/assets/copy", x_amz_copy_source="//other/assets/src")
    assert s3_checks(environ) == [
        ("s3:PutObject", "arn:aws:s3:::assets/copy"),
        ("s3:GetObject", "arn:aws:s3:::assets/src"),
    ]


@pytest.mark.parametrize(
    "environ",
    [
        _environ("POST", "/assets"),  # POST Object: moto writes the form's `key`
        _environ("POST", "/assets", "acl"),  # whatever sub-resource the URL names
        _environ("POST", "/assets/models/model.tar.gz"),
        _environ("PATCH", "/assets/models/model.tar.gz"),
        _environ("GET", "/v20180820/configuration/publicAccessBlock"),  # S3 Control
    ],
)
def test_what_the_cloud_does_not_serve_is_refused_not_named(environ: Any) -> None:
    with pytest.raises(Refused) as refused:
        s3_checks(environ)
    assert refused.value.kind == "not-implemented"


def test_select_reads_the_object() -> None:
    environ = _environ("POST", "/assets/models/model.tar.gz", "select&select-type=2")
    assert s3_checks(environ) == [("s3:GetObject", OBJECT)]
