"""Only requests signed with keys the cloud issued get in (localcloud/gateway/auth.py): the
cloud's start key, presigned URLs, and keys issued through IAM / STS in their own account; any
other signature gets AWS's refusal. Driven over HTTP, as boto3 would."""

from __future__ import annotations

import datetime as dt
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.shared.credentials import credentials
from tests.helpers.cloud import BUCKET, Cloud

OTHER_ACCOUNT = "222222222222"


def client(cloud: Cloud, service: str, key: str, secret: str, token: str | None = None) -> Any:
    """A client with the given key that counts the answers it gets: an attempt lost to a
    connection error on a loaded machine is retried and not counted, a refusal that botocore
    retried (a throttling or 5xx code where AWS sends a 4xx) is."""
    made = boto3.client(
        service,
        endpoint_url=cloud.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"total_max_attempts": 3}, signature_version=_signature(service)),
    )
    made.answers = 0

    def answered(response_dict: dict[str, Any] | None, **_: Any) -> None:
        if response_dict is not None:
            made.answers += 1

    made.meta.events.register("response-received", answered)
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


REFUSALS = {  # service: (HTTP status, unsigned, wrong secret, a key the cloud did not issue)
    "s3": (403, "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId"),
    "sagemaker": (
        400,
        "MissingAuthenticationTokenException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
    ),
    "logs": (
        400,
        "MissingAuthenticationTokenException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
    ),
    "iam": (403, "MissingAuthenticationToken", "SignatureDoesNotMatch", "InvalidClientTokenId"),
    "cloudformation": (
        403,
        "MissingAuthenticationToken",
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
    ),
    "sagemaker-runtime": (
        403,
        "MissingAuthenticationTokenException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
    ),
}


@pytest.mark.parametrize("service", REFUSALS)
def test_an_unsigned_request_is_refused(cloud: Cloud, key: Any, service: str) -> None:
    status, code, _, _ = REFUSALS[service]
    assert refusal(unsigned(cloud, service), service) == (code, status)


@pytest.mark.parametrize("service", REFUSALS)
def test_the_cloud_key_with_a_wrong_secret_is_refused_once(
    cloud: Cloud, key: Any, service: str
) -> None:
    status, _, code, _ = REFUSALS[service]
    made = client(cloud, service, key.access_key_id, key.secret_access_key[:-1] + "x")
    assert refusal(made, service) == (code, status)
    assert made.answers == 1  # AWS's code, not a retried error


@pytest.mark.parametrize("service", REFUSALS)
@pytest.mark.parametrize("access_key_id", ["test", "AKIAIOSFODNN7EXAMPLE"])
def test_a_key_the_cloud_did_not_issue_is_refused(
    cloud: Cloud, key: Any, service: str, access_key_id: str
) -> None:
    status, _, _, code = REFUSALS[service]
    made = client(cloud, service, access_key_id, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY")
    assert refusal(made, service) == (code, status)
    assert made.answers == 1


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


@pytest.fixture(scope="module")
def other_account(cloud: Cloud, key: Any) -> dict[str, str]:
    """Credentials of a role in another account of the cloud's organization, assumed with the
    cloud's key (its management account's administrator)."""
    sts = cloud.client("sts")
    role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/OrganizationAccountAccessRole"
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
