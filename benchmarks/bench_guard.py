"""The guard's CPU per request (`localcloud.gateway.guard.Guard`, in this process, in front of
an app that answers at once), for signed requests of the cloud's own key: an S3 GetObject on a
bucket of its account (the accounts rule's dict lookup), an S3 GetObject on another account's
bucket (refused: the bucket policy is read), and a SageMaker JSON call (no S3 rule at all); and
for a role's session key (AssumeRole), whose requests the role's policies decide (`authorize`:
AWS's managed `AmazonSageMakerFullAccess`, 14 KB, attached beside an inline policy): a
SageMaker JSON call and an S3 GetObject.

    python benchmarks/bench_guard.py [--calls 3000]

Run it with PYTHONPATH at another checkout to measure that code the same way (the Guard's
constructor and the moto state it reads are the same). CPU is the thread's own clock
(`time.thread_time`); the load average is printed before and after. Not in CI.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PORT = 4566


def _environ(request: Any) -> dict[str, Any]:
    """The WSGI environ werkzeug would build for a signed botocore request."""
    from urllib.parse import urlsplit

    url = urlsplit(request.url)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "PATH_INFO": url.path,
        "QUERY_STRING": url.query,
        "RAW_URI": url.path + (f"?{url.query}" if url.query else ""),
        "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": str(len(request.body or b"")),
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE",) else f"HTTP_{key}"] = (
            value.decode() if isinstance(value, bytes) else value
        )
    environ["_body"] = request.body or b""
    return environ


def _signed(
    key: Any, service: str, method: str, url: str, body: bytes = b"", **headers: str
) -> Any:
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        method=method, url=url, data=body, headers={"Host": f"localhost:{PORT}", **headers}
    )
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(Credentials(key.access_key_id, key.secret_access_key), service, "us-east-1").add_auth(
        request
    )
    return _environ(request)


class _RoleKey:
    """A role's session key, as STS issues it."""

    def __init__(self, access_key_id: str, secret_access_key: str, token: str) -> None:
        self.access_key_id, self.secret_access_key, self.token = (
            access_key_id,
            secret_access_key,
            token,
        )


def _role_key() -> _RoleKey:
    """A session of a role with AmazonSageMakerFullAccess and an inline policy, among 200
    other roles of its account (moto finds a role by ARN by scanning them all)."""
    import json

    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    from localcloud.services.iam import managed

    managed.install()  # AWS's managed policies, as the cloud has them
    iam = iam_backends["123456789012"]["aws"]
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sts:*"}
            ],
        }
    )
    for n in range(200):
        iam.create_role(f"bench-other-{n}", trust, "/", None, "", [], None)
    role = iam.create_role("bench-role", trust, "/", None, "", [], None)
    iam.attach_role_policy("arn:aws:iam::aws:policy/AmazonSageMakerFullAccess", role.name)
    inline = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_role_policy(role.name, "s3", json.dumps(inline))
    session = sts_backends["123456789012"]["aws"].assume_role(
        region_name="us-east-1",
        role_session_name="bench",
        role_arn=role.arn,
        policy="",
        duration=3600,
        external_id="",
    )
    return _RoleKey(session.access_key_id, session.secret_access_key, session.session_token)


def _per_call(front: Callable[..., Any], environ: dict[str, Any], calls: int) -> tuple[float, str]:
    """CPU µs per call and the status of the last answer."""
    seen = []

    def start_response(status: str, _headers: Any, _exc: Any = None) -> None:
        seen.append(status)

    body = environ["_body"]
    base = {k: v for k, v in environ.items() if k != "_body"}
    started = time.thread_time()
    for _ in range(calls):
        request = dict(base)
        request["wsgi.input"] = io.BytesIO(body)
        for _chunk in front(request, start_response):
            pass
    return (time.thread_time() - started) / calls * 1e6, seen[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    from moto.s3.models import s3_backends

    from localcloud.gateway.guard import Guard
    from localcloud.shared.credentials import credentials

    print(f"load average {'/'.join(f'{v:.1f}' for v in os.getloadavg())}")
    s3_backends["123456789012"]["aws"].create_bucket("bench-own", "us-east-1")
    s3_backends["111111111111"]["aws"].create_bucket("bench-theirs", "us-east-1")
    role_key = _role_key()

    def app(_environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    with tempfile.TemporaryDirectory(prefix="bench-guard-") as tmp:
        key = credentials(Path(tmp))
        front = Guard(app, key)
        front.port = PORT
        base = f"http://localhost:{PORT}"
        cases = {
            "S3 GetObject, own account's bucket": _signed(key, "s3", "GET", f"{base}/bench-own/k"),
            "S3 GetObject, another account's bucket": _signed(
                key, "s3", "GET", f"{base}/bench-theirs/k"
            ),
            "SageMaker ListEndpoints (JSON)": _signed(
                key,
                "sagemaker",
                "POST",
                f"{base}/",
                b"{}",
                **{
                    "Content-Type": "application/x-amz-json-1.1",
                    "X-Amz-Target": "SageMaker.ListEndpoints",
                },
            ),
            "role: SageMaker DescribeEndpoint (JSON)": _signed(
                role_key,
                "sagemaker",
                "POST",
                f"{base}/",
                b'{"EndpointName": "bench"}',
                **{
                    "Content-Type": "application/x-amz-json-1.1",
                    "X-Amz-Target": "SageMaker.DescribeEndpoint",
                    "X-Amz-Security-Token": role_key.token,
                },
            ),
            "role: S3 GetObject, own account's bucket": _signed(
                role_key,
                "s3",
                "GET",
                f"{base}/bench-own/k",
                **{"X-Amz-Security-Token": role_key.token},
            ),
        }
        for label, environ in cases.items():
            _per_call(front, environ, 200)  # warm: signing keys cached, modules imported
            micros, status = _per_call(front, environ, args.calls)
            print(f"  {label:<42} {micros:7.1f} µs per request ({status})")
    print(f"load average {'/'.join(f'{v:.1f}' for v in os.getloadavg())} at end")


if __name__ == "__main__":
    main()
