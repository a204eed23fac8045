"""Only the cloud's user gets in: requests signed with keys the cloud issued, sent to its own
host names; a web page (cross-origin, unsigned, or a rebound DNS name) gets AWS's refusal and no
CORS grant; moto's reset is off. Driven over HTTP, as a browser or boto3 would."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud import control
from localcloud.shared.credentials import credentials
from tests.helpers.cloud import BUCKET, Cloud, stop_cloud

OTHER_ACCOUNT = "222222222222"
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


def client(cloud: Cloud, service: str, key: str, secret: str, token: str | None = None) -> Any:
    """A client with the given key that tries once and counts what it sends."""
    made = boto3.client(
        service,
        endpoint_url=cloud.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"total_max_attempts": 3}, signature_version=_signature(service)),
    )
    made.sent = 0
    made.meta.events.register("before-send", lambda **_: setattr(made, "sent", made.sent + 1))
    return made


def _signature(service: str) -> str | None:
    return "s3v4" if service == "s3" else None


def unsigned(cloud: Cloud, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=cloud.url,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 3}),
    )


CALLS = {
    "s3": lambda c: c.list_objects_v2(Bucket=BUCKET),
    "sagemaker": lambda c: c.list_endpoints(),
    "logs": lambda c: c.describe_log_groups(),
    "iam": lambda c: c.list_roles(),
    "cloudformation": lambda c: c.list_stacks(),
    "sagemaker-runtime": lambda c: c.invoke_endpoint(EndpointName="e", Body=b"{}"),
}


def refusal(made: Any, service: str) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        CALLS[service](made)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def key(cloud: Cloud, s3: Any) -> Any:
    return credentials(cloud.state_dir)


@pytest.mark.parametrize(
    ("service", "code", "status"),
    [
        ("s3", "AccessDenied", 403),
        ("sagemaker", "MissingAuthenticationTokenException", 400),
        ("logs", "MissingAuthenticationTokenException", 400),
        ("iam", "MissingAuthenticationToken", 403),
        ("cloudformation", "MissingAuthenticationToken", 403),
        ("sagemaker-runtime", "MissingAuthenticationTokenException", 403),
    ],
)
def test_an_unsigned_request_is_refused(
    cloud: Cloud, key: Any, service: str, code: str, status: int
) -> None:
    assert refusal(unsigned(cloud, service), service) == (code, status)


@pytest.mark.parametrize(
    ("service", "code", "status"),
    [
        ("s3", "SignatureDoesNotMatch", 403),
        ("sagemaker", "InvalidSignatureException", 400),
        ("logs", "InvalidSignatureException", 400),
        ("iam", "SignatureDoesNotMatch", 403),
        ("cloudformation", "SignatureDoesNotMatch", 403),
        ("sagemaker-runtime", "InvalidSignatureException", 403),
    ],
)
def test_the_cloud_key_with_a_wrong_secret_is_refused_once(
    cloud: Cloud, key: Any, service: str, code: str, status: int
) -> None:
    made = client(cloud, service, key.access_key_id, key.secret_access_key[:-1] + "x")
    assert refusal(made, service) == (code, status)
    assert made.sent == 1  # AWS's code, not a retried error


@pytest.mark.parametrize(
    ("service", "code", "status"),
    [
        ("s3", "InvalidAccessKeyId", 403),
        ("sagemaker", "UnrecognizedClientException", 400),
        ("logs", "UnrecognizedClientException", 400),
        ("iam", "InvalidClientTokenId", 403),
        ("cloudformation", "InvalidClientTokenId", 403),
        ("sagemaker-runtime", "UnrecognizedClientException", 403),
    ],
)
@pytest.mark.parametrize("access_key_id", ["test", "AKIAIOSFODNN7EXAMPLE"])
def test_a_key_the_cloud_did_not_issue_is_refused(
    cloud: Cloud, key: Any, service: str, code: str, status: int, access_key_id: str
) -> None:
    made = client(cloud, service, access_key_id, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY")
    assert refusal(made, service) == (code, status)
    assert made.sent == 1


def test_the_s3_refusal_is_s3s_xml_naming_the_key(cloud: Cloud, key: Any) -> None:
    made = client(cloud, "s3", "AKIAIOSFODNN7EXAMPLE", "secret")
    with pytest.raises(ClientError) as caught:
        made.list_objects_v2(Bucket=BUCKET)
    assert caught.value.response["Error"]["AWSAccessKeyId"] == "AKIAIOSFODNN7EXAMPLE"


def test_a_request_signed_more_than_15_minutes_ago_is_refused(
    cloud: Cloud, key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=16)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *_a, **_k: past)
    s3 = client(cloud, "s3", key.access_key_id, key.secret_access_key)
    assert refusal(s3, "s3") == ("RequestTimeTooSkewed", 403)
    sagemaker = client(cloud, "sagemaker", key.access_key_id, key.secret_access_key)
    with pytest.raises(ClientError, match="Signature expired"):
        sagemaker.list_endpoints()


def test_presigned_urls_of_the_cloud_key_work_and_tampered_ones_do_not(
    cloud: Cloud, s3: Any, key: Any
) -> None:
    s3.put_object(Bucket=BUCKET, Key="auth/a b+c.txt", Body=b"presigned")
    signer = client(cloud, "s3", key.access_key_id, key.secret_access_key)
    url = signer.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "auth/a b+c.txt"}
    )
    assert httpx.get(url).content == b"presigned"
    tampered = httpx.get(url.replace("a%20b", "a%20c"))
    assert tampered.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in tampered.content


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
    "host", ["evil.example:{port}", "evil.example", "localhost:1", "127.0.0.2:{port}"]
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
def other_account(cloud: Cloud, key: Any) -> dict[str, str]:
    """Credentials of a role in another account, assumed with the cloud's key."""
    sts = cloud.client("sts")
    role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/deployer"
    return sts.assume_role(RoleArn=role, RoleSessionName="auth-tests")["Credentials"]


def test_assumed_role_credentials_work_in_their_account_and_need_their_token(
    cloud: Cloud, other_account: dict[str, str]
) -> None:
    key, secret = other_account["AccessKeyId"], other_account["SecretAccessKey"]
    sts = client(cloud, "sts", key, secret, other_account["SessionToken"])
    assert sts.get_caller_identity()["Account"] == OTHER_ACCOUNT
    for token in (None, other_account["SessionToken"][:-4] + "AAAA"):
        with pytest.raises(ClientError) as caught:
            client(cloud, "sts", key, secret, token).get_caller_identity()
        assert caught.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_an_iam_key_of_another_account_acts_in_that_account_only(
    cloud: Cloud, other_account: dict[str, str]
) -> None:
    creds = (
        other_account["AccessKeyId"],
        other_account["SecretAccessKey"],
        other_account["SessionToken"],
    )
    iam = client(cloud, "iam", *creds)
    iam.create_user(UserName="ci")
    made = iam.create_access_key(UserName="ci")["AccessKey"]
    key, secret = made["AccessKeyId"], made["SecretAccessKey"]
    assert client(cloud, "sts", key, secret).get_caller_identity()["Account"] == OTHER_ACCOUNT

    # The key's account wins over moto's account header, which only the cloud's key may use.
    ssm = client(cloud, "ssm", key, secret)
    ssm.meta.events.register(
        "before-sign.ssm.PutParameter",
        lambda request, **_: request.headers.__setitem__("x-moto-account-id", "123456789012"),
    )
    ssm.put_parameter(Name="/auth/where", Value="other", Type="String")
    with pytest.raises(ClientError):
        cloud.client("ssm").get_parameter(Name="/auth/where")
    assert ssm.get_parameter(Name="/auth/where")["Parameter"]["Value"] == "other"

    iam.update_access_key(UserName="ci", AccessKeyId=key, Status="Inactive")
    with pytest.raises(ClientError) as caught:
        client(cloud, "sts", key, secret).get_caller_identity()
    assert caught.value.response["Error"]["Code"] == "InvalidClientTokenId"
    iam.delete_access_key(UserName="ci", AccessKeyId=key)
    with pytest.raises(ClientError) as caught:
        client(cloud, "sagemaker", key, secret).list_endpoints()
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_get_session_token_issues_a_key_that_works(cloud: Cloud) -> None:
    issued = cloud.client("sts").get_session_token()["Credentials"]
    assert issued["AccessKeyId"] != "AKIAIOSFODNN7EXAMPLE"  # moto's fixed example key
    sts = client(
        cloud, "sts", issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"]
    )
    assert sts.get_caller_identity()["Account"] == "123456789012"


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


def test_the_start_key_is_kept_owner_only(tmp_path: Path) -> None:
    first = credentials(tmp_path)
    assert credentials(tmp_path) == first
    assert (tmp_path / "credentials.json").stat().st_mode & 0o777 == 0o600
    assert first.access_key_id.startswith("LKIA") and len(first.access_key_id) == 20
    assert len(first.secret_access_key) == 40
    assert credentials(tmp_path / "other") != first


def test_cloud_status_and_env_reach_the_cloud_with_its_key(cloud: Cloud) -> None:
    def smlocal(*args: str) -> str:
        argv = [sys.executable, "-c", "from smlocal.cli import main; main()", "cloud", *args]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    status = smlocal("status", "--state-dir", str(cloud.state_dir))
    assert "answering" in status and "NOT" not in status
    line = smlocal("env", "--state-dir", str(cloud.state_dir))
    exports = dict(item.split("=", 1) for item in shlex.split(line)[1:])
    sts = client(cloud, "sts", exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"])
    assert sts.get_caller_identity()["Account"] == exports["CDK_DEFAULT_ACCOUNT"]
    assert exports["AWS_ENDPOINT_URL"] == cloud.url
