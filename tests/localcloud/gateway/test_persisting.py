"""Which requests change state (and so are persisted): judged from the WSGI environ, leaving the
body for moto."""

from __future__ import annotations

import io

import pytest

from localcloud.gateway.persisting import is_mutating


def environ(method: str, path: str = "/", *, body: bytes = b"", **headers: str) -> dict:
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    env.update(headers)
    return env


@pytest.mark.parametrize(
    ("env", "mutating"),
    [
        (environ("GET", "/bucket/key"), False),
        (environ("HEAD", "/bucket/key"), False),
        (environ("PUT", "/bucket/key", body=b"data"), True),
        (environ("DELETE", "/bucket/key"), True),
        (environ("POST", "/", HTTP_X_AMZ_TARGET="SageMaker.DescribeEndpoint"), False),
        (environ("POST", "/", HTTP_X_AMZ_TARGET="SageMaker.CreateEndpoint"), True),
        (environ("POST", "/", HTTP_X_AMZ_TARGET="Logs_20140328.PutLogEvents"), True),
        (environ("POST", "/endpoints/e/invocations", body=b"[1]"), False),
        (
            environ(
                "POST",
                body=b"Action=GetCallerIdentity&Version=2011-06-15",
                CONTENT_TYPE="application/x-www-form-urlencoded; charset=utf-8",
            ),
            False,
        ),
        (
            environ(
                "POST",
                body=b"Action=CreateStack&StackName=s",
                CONTENT_TYPE="application/x-www-form-urlencoded",
            ),
            True,
        ),
    ],
)
def test_is_mutating(env: dict, mutating: bool) -> None:
    body = env["wsgi.input"].getvalue()
    assert is_mutating(env) is mutating
    assert env["wsgi.input"].read() == body  # the body is still there for moto
