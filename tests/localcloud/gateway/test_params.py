"""A request is read once, as moto reads it (`localcloud.gateway.params`): what moto could read
two ways is refused as malformed, in the request's protocol. Called directly on WSGI environs
(no cloud); tests/localcloud/gateway/test_authorize.py and test_trust.py drive the same
refusals through a cloud."""

from __future__ import annotations

import io
from typing import Any

import pytest

from localcloud.gateway.params import read
from localcloud.gateway.refusals import Refused, error_response

FORM = "application/x-www-form-urlencoded"
JSON = "application/x-amz-json-1.1"


def _environ(
    body: bytes = b"", query: str = "", path: str = "/", content_type: str = FORM, **headers: str
) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_HOST": "localhost:4566",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return environ


def _refused(environ: dict[str, Any], service: str) -> tuple[str, bytes]:
    with pytest.raises(Refused) as refusal:
        read(environ, service)
    status, _, body = error_response(environ, refusal.value, service)
    return status, body


def _malformed(environ: dict[str, Any], service: str, code: bytes, why: bytes) -> None:
    status, body = _refused(environ, service)
    assert status == "400 Bad Request"
    assert code in body and why in body, body


def test_a_query_request_reads_one_way() -> None:
    asked = read(_environ(b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr"), "sts")
    assert (asked.protocol, asked.operation) == ("query", "AssumeRole")
    assert asked.params["RoleArn"] == "arn:aws:iam::1:role/r"
    listed = read(
        _environ(b"Action=DescribeAlarms&AlarmNames.member.1=a&AlarmNames.member.2=b"), "monitoring"
    )
    assert listed.params["AlarmNames"] == ["a", "b"]
    in_url = read(_environ(query="Action=GetCallerIdentity", content_type=""), "sts")
    assert in_url.operation == "GetCallerIdentity"


@pytest.mark.parametrize(
    ("environ", "why"),
    [
        # moto reads the first RoleArn (werkzeug's form), dict(parse_qsl) the last
        (_environ(b"Action=AssumeRole&RoleArn=victim&RoleArn=trusting"), b"RoleArn is given"),
        # moto reads the body's Action once the body has fields, not the URL's
        (_environ(b"Action=PutRolePolicy&RoleName=Admin", "Action=GetUser"), b"both in the URL"),
        # a multipart body is werkzeug's form too: moto reads it
        (
            _environ(
                b'--x\r\nContent-Disposition: form-data; name="Action"\r\n\r\n'
                b"PutRolePolicy\r\n--x--\r\n",
                "Action=GetUser",
                content_type="multipart/form-data; boundary=x",
            ),
            b"not multipart/form-data",
        ),
        (_environ(b"Action=GetUser", content_type="text/plain"), b"not text/plain"),
        (_environ(b"RoleName=Admin"), b"names its Action"),
        (_environ(b"Action=GetUser\xff"), b"not UTF-8"),
    ],
)
def test_a_query_request_moto_could_read_otherwise_is_refused(
    environ: dict[str, Any], why: bytes
) -> None:
    _malformed(environ, "iam", b"<Code>MalformedQueryString</Code>", why)


def test_a_json_request_reads_its_body_and_its_body_read_as_a_query_too() -> None:
    asked = read(
        _environ(
            b'{"EndpointName": "e"}', content_type=JSON, x_amz_target="SageMaker.DescribeEndpoint"
        ),
        "sagemaker",
    )
    assert (asked.protocol, asked.operation, asked.params, asked.views) == (
        "json",
        "DescribeEndpoint",
        {"EndpointName": "e"},
        [],
    )
    # Logs, SSM, ... read a parameter from the body read as a query string before the JSON
    tricky = read(
        _environ(
            b'{"Name": "mine", "Value": "x&Name=victim&y="}',
            content_type=JSON,
            x_amz_target="AmazonSSM.PutParameter",
        ),
        "ssm",
    )
    assert tricky.params["Name"] == "mine" and tricky.views[0]["Name"] == "victim"


@pytest.mark.parametrize(
    ("environ", "why"),
    [
        (
            _environ(
                b"{}", "Name=victim", content_type=JSON, x_amz_target="AmazonSSM.GetParameter"
            ),
            b"in its body only",
        ),
        (_environ(b"{}", content_type=FORM, x_amz_target="AmazonSSM.GetParameter"), b"is JSON"),
        (_environ(b"", content_type=JSON, x_amz_target="AmazonSSM.GetParameter"), b"a JSON object"),
        (
            _environ(
                b"{}",
                path="/x/invocations",
                content_type=JSON,
                x_amz_target="SageMaker.DeleteEndpoint",
            ),
            b"sent to /",
        ),
        (
            _environ(
                b'{"a": "&Action=DeleteEndpoint"}',
                content_type=JSON,
                x_amz_target="SageMaker.DescribeEndpoint",
            ),
            b"names no Action",
        ),
    ],
)
def test_a_json_request_moto_could_read_otherwise_is_refused(
    environ: dict[str, Any], why: bytes
) -> None:
    _malformed(environ, "sagemaker", b'"__type": "SerializationException"', why)


@pytest.mark.parametrize(
    "environ",
    [
        _environ(
            b"x", "Action=DeleteEndpoint", path="/endpoints/e/invocations", content_type="text/csv"
        ),
        _environ(
            b"x", path="/endpoints/e/invocations", content_type="text/csv", action="DeleteEndpoint"
        ),
        _environ(b"Action=DeleteEndpoint", path="/endpoints/e/invocations"),
        _environ(
            b"x",
            path="/endpoints/e/invocations",
            content_type="text/csv",
            x_amz_target="SageMaker.DeleteEndpoint",
        ),
    ],
)
def test_a_route_with_another_operation_beside_it_is_refused(environ: dict[str, Any]) -> None:
    status, _ = _refused(environ, "sagemaker")
    assert status == "400 Bad Request"
    # a model's payload is raw bytes: moto does not read it as a query
    plain = _environ(b"Action movie", path="/endpoints/e/invocations", content_type="text/csv")
    assert read(plain, "sagemaker").protocol == "rest-json"


def test_a_presigned_url_is_taken_for_s3_only() -> None:
    query = (
        "Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fsts%2Faws4_request"
        "&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=00"
    )
    status, body = _refused(_environ(query=query, content_type=""), "sts")
    assert status == "400 Bad Request" and b"presigned URL is taken for S3 only" in body
