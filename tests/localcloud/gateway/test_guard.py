"""Only the cloud's user gets in (localcloud/gateway/guard.py): requests sent to its own host
names; a web page (cross-origin, a preflight, or a rebound DNS name) gets a refusal and no CORS
grant unless --cors-origin names its origin; moto's internal API is off; health answers. Driven
over HTTP, as a browser would."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from localcloud import control
from tests.helpers.cloud import BUCKET, Cloud, stop_cloud

ORIGIN = "http://localhost:3000"
TEMPLATE = json.dumps(
    {
        "Resources": {
            "P": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "/smlocal/page", "Type": "String", "Value": "x"},
            }
        }
    }
)


def test_a_cross_origin_cloudformation_form_post_is_refused_without_cors(
    cloud: Cloud, key: Any
) -> None:
    cf = cloud.client("cloudformation")
    body = {"Action": "CreateStack", "StackName": "page", "TemplateBody": TEMPLATE}
    for content_type in ("application/x-www-form-urlencoded", "text/plain"):
        response = httpx.post(
            cloud.url,
            data=body if "form" in content_type else None,
            content=None if "form" in content_type else httpx.QueryParams(body).__str__(),
            headers={"Origin": "http://evil.example", "Content-Type": content_type},
        )
        assert response.status_code == 403, response.text
        assert not any(h.lower().startswith("access-control-") for h in response.headers)
    assert "page" not in [s["StackName"] for s in cf.list_stacks()["StackSummaries"]]


def test_a_cross_origin_s3_form_upload_is_refused_without_cors(
    cloud: Cloud, s3: Any, key: Any
) -> None:
    response = httpx.post(
        f"{cloud.url}/{BUCKET}",
        data={"key": "auth/from-a-page.sh"},
        files={"file": ("x.sh", b"touch /tmp/owned", "text/plain")},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status_code == 403
    assert b"<Code>AccessDenied</Code>" in response.content
    assert "access-control-allow-origin" not in response.headers
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="auth/from-a-page")["KeyCount"] == 0


def test_a_preflight_is_not_allowed(cloud: Cloud) -> None:
    response = httpx.options(
        f"{cloud.url}/{BUCKET}/x",
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,x-amz-date",
        },
    )
    assert response.status_code == 403
    assert not any(h.lower().startswith("access-control-") for h in response.headers)


def test_a_signed_response_carries_no_cors_grant(cloud: Cloud, s3: Any) -> None:
    seen: dict[str, str] = {}
    s3.meta.events.register(
        "before-sign.s3.ListObjectsV2",
        lambda request, **_: request.headers.__setitem__("Origin", "http://evil.example"),
    )
    s3.meta.events.register(
        "after-call.s3.ListObjectsV2",
        lambda http_response, **_: seen.update(
            {k.lower(): v for k, v in http_response.headers.items()}
        ),
    )
    try:
        s3.list_objects_v2(Bucket=BUCKET)
    finally:
        s3.meta.events.unregister("before-sign.s3.ListObjectsV2")
    assert seen and not any(h.lower().startswith("access-control-") for h in seen)


@pytest.mark.parametrize(
    "path", ["/moto-api/reset", "/moto-api/reset-auth", "/moto-api/seed?a=42", "/moto-api/"]
)
def test_motos_internal_api_is_off_and_the_state_stays(cloud: Cloud, s3: Any, path: str) -> None:
    for method in ("POST", "GET"):
        response = httpx.request(method, f"{cloud.url}{path}")
        assert response.status_code == 404
        assert response.json()["__type"] == "NotFound"
    assert BUCKET in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:{port}",
        "evil.example",
        "localhost:1",
        "127.0.0.2:{port}",
        # moto would read the bucket `a` of the first, the path's of the second
        "a.b.localhost:{port}",
        "localhost.b.localhost:{port}",
    ],
)
def test_a_foreign_host_header_is_refused(cloud: Cloud, key: Any, host: str) -> None:
    response = httpx.get(
        f"{cloud.url}/_smlocal/health", headers={"Host": host.format(port=cloud.port)}
    )
    assert response.status_code == 403
    assert b"is not this local cloud's" in response.content


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "bkt.localhost:{port}"])
def test_the_clouds_own_names_are_served(cloud: Cloud, host: str) -> None:
    response = httpx.get(
        f"{cloud.url}/_smlocal/health", headers={"Host": host.format(port=cloud.port)}
    )
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.fixture(scope="module")
def cors_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    state_dir = tmp_path_factory.mktemp("cors-cloud")
    record = control.start_detached(state_dir, 0, cors_origins=(ORIGIN + "/",))
    running = Cloud(state_dir=Path(record["state_dir"]), port=int(record["port"]))
    try:
        yield running
    finally:
        stop_cloud(running)


def test_cors_origin_allows_exactly_that_origin(cors_cloud: Cloud) -> None:
    preflight = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "a,b"}
    allowed = httpx.options(f"{cors_cloud.url}/bkt/x", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert allowed.headers["access-control-allow-headers"] == "a,b"
    for other in ("http://localhost:3001", "http://evil.example", "null"):
        refused = httpx.options(f"{cors_cloud.url}/bkt/x", headers={"Origin": other, **preflight})
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers

    # A page of that origin still needs the key: unsigned is refused (readably, to that page).
    page = httpx.post(cors_cloud.url, data={"Action": "ListStacks"}, headers={"Origin": ORIGIN})
    assert page.status_code == 403
    assert page.headers["access-control-allow-origin"] == ORIGIN

    seen: dict[str, str] = {}
    s3 = cors_cloud.client("s3")
    s3.meta.events.register(
        "before-sign.s3.ListBuckets",
        lambda request, **_: request.headers.__setitem__("Origin", ORIGIN),
    )
    s3.meta.events.register(
        "after-call.s3.ListBuckets",
        lambda http_response, **_: seen.update(
            {k.lower(): v for k, v in http_response.headers.items()}
        ),
    )
    s3.list_buckets()
    assert seen["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize("origin", ["*", "localhost:3000", "http://x.test/path", "ftp://x.test"])
def test_a_cors_origin_that_is_not_an_origin_is_refused(origin: str, tmp_path: Path) -> None:
    with pytest.raises(control.CloudError, match="--cors-origin must be an origin"):
        control.start_detached(tmp_path, 0, cors_origins=(origin,))


def _environ(service: str, path: str, body: bytes, creds: Any, **headers: str) -> dict[str, Any]:
    """The WSGI environ of a request signed for `service` with `creds` (botocore's
    Credentials), as werkzeug builds it."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest

    sent = {"Host": "localhost:4566", **headers}
    if service == "s3":
        sent["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    request = AWSRequest(method="POST", url=f"http://localhost:4566{path}", data=body, headers=sent)
    (S3SigV4Auth if service == "s3" else SigV4Auth)(creds, service, "us-east-1").add_auth(request)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "RAW_URI": path,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in request.headers.items():
        upper = name.upper().replace("-", "_")
        environ[upper if upper == "CONTENT_TYPE" else f"HTTP_{upper}"] = value
    return environ


def test_while_the_cloud_recovers_only_its_services_keys_get_in(tmp_path: Path) -> None:
    """After a restart the cloud serves its own services (an endpoint fetching its model as
    its role) and answers every other key 503 in its protocol's shape, until it recovered."""
    from botocore.credentials import Credentials

    from localcloud.gateway.auth import IssuedKey, register_service_key
    from localcloud.gateway.guard import Guard
    from localcloud.shared.credentials import credentials

    answered: list[str] = []

    def app(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    def status(status_line: str, _headers: Any, _exc: Any = None) -> None:
        answered.append(status_line)

    start = credentials(tmp_path)
    front = Guard(app, start)
    front.port = 4566
    front.recovering = True
    own = Credentials(start.access_key_id, start.secret_access_key)
    requests = {
        "s3": (_environ("s3", "/bkt/k", b"x", own), b"<Code>ServiceUnavailable</Code>"),
        "sagemaker": (
            _environ(
                "sagemaker",
                "/",
                b"{}",
                own,
                **{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.X"},
            ),
            b'"__type": "ServiceUnavailable"',
        ),
        "sts": (
            _environ(
                "sts",
                "/",
                b"Action=GetCallerIdentity",
                own,
                **{"Content-Type": "application/x-www-form-urlencoded"},
            ),
            b"<Code>ServiceUnavailable</Code>",
        ),
    }
    for service, (environ, shape) in requests.items():
        body = b"".join(
            front(
                dict(environ, **{"wsgi.input": io.BytesIO(environ["wsgi.input"].getvalue())}),
                status,
            )
        )
        assert answered[-1] == "503 Service Unavailable", service
        assert shape in body and b"recovering" in body, body
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    register_service_key(
        "ASIATESTRECOVERING01",
        IssuedKey("s" * 40, "token", "123456789012", expires, service="sagemaker.amazonaws.com"),
    )
    service_key = Credentials("ASIATESTRECOVERING01", "s" * 40, "token")
    sts = _environ(
        "sts",
        "/",
        b"Action=GetCallerIdentity",
        service_key,
        **{"Content-Type": "application/x-www-form-urlencoded"},
    )
    front(sts, status)
    assert answered[-1] == "200 OK"
    front.recovering = False
    environ, _ = requests["sts"]
    front(dict(environ, **{"wsgi.input": io.BytesIO(environ["wsgi.input"].getvalue())}), status)
    assert answered[-1] == "200 OK"
