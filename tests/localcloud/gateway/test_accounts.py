"""S3 keeps accounts apart (`localcloud.gateway.accounts`): another account's private bucket is
refused to every caller of this one (the cloud's key, a role, an IAM user) as S3 refuses it,
until its bucket policy (or a group grant of its ACL) lets them in."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.cloud import ACCOUNT, BUCKET, Cloud, Session, create_role

MEMBER = "111111111111"
PRIVATE = "accounts-tests-private"
ALL_S3 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}
ROOT_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture(scope="module")
def member(cloud: Cloud) -> Cloud:
    """The member account's administrator, with its private bucket and one object in it."""
    admin = cloud.assume(f"arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole")
    s3 = admin.client("s3")
    s3.create_bucket(Bucket=PRIVATE)
    s3.put_object(Bucket=PRIVATE, Key="secret.txt", Body=b"the member's")
    return admin


@pytest.fixture(scope="module")
def callers(cloud: Cloud, s3: Any) -> dict[str, Cloud]:
    """This account's callers, each allowed all of S3 by its own policies."""
    iam = cloud.client("iam")
    role = create_role(iam, "accounts-tests-role", ROOT_TRUST, ALL_S3)
    iam.create_user(UserName="accounts-tests-user")
    iam.put_user_policy(
        UserName="accounts-tests-user", PolicyName="s3", PolicyDocument=json.dumps(ALL_S3)
    )
    key = iam.create_access_key(UserName="accounts-tests-user")["AccessKey"]
    return {
        "the cloud's key": cloud,
        "a role": cloud.assume(role),
        "an IAM user": Session(cloud.state_dir, cloud.port, key),
    }


def access_denied(call: Any, **params: Any) -> None:
    with pytest.raises(ClientError) as error:
        call(**params)
    response = error.value.response
    assert response["Error"]["Code"] in ("AccessDenied", "403"), response  # HEAD has no body
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_another_accounts_private_bucket_is_refused_to_every_caller_of_this_one(
    member: Cloud, callers: dict[str, Cloud]
) -> None:
    for caller in callers.values():
        s3 = caller.client("s3")
        access_denied(s3.get_object, Bucket=PRIVATE, Key="secret.txt")
        access_denied(s3.head_object, Bucket=PRIVATE, Key="secret.txt")
        access_denied(s3.list_objects_v2, Bucket=PRIVATE)
        access_denied(s3.put_object, Bucket=PRIVATE, Key="planted.txt", Body=b"x")
        access_denied(s3.delete_object, Bucket=PRIVATE, Key="secret.txt")
        access_denied(
            s3.copy_object,
            Bucket=BUCKET,
            Key="accounts/copied.txt",
            CopySource={"Bucket": PRIVATE, "Key": "secret.txt"},
        )
        assert PRIVATE not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    owner = member.client("s3")
    assert owner.get_object(Bucket=PRIVATE, Key="secret.txt")["Body"].read() == b"the member's"
    assert [o["Key"] for o in owner.list_objects_v2(Bucket=PRIVATE)["Contents"]] == ["secret.txt"]
    # ... and the member's key does not reach this account's bucket either.
    access_denied(owner.list_objects_v2, Bucket=BUCKET)
    # Bucket names are global: a name another account holds is taken, as S3 answers it.
    with pytest.raises(ClientError) as taken:
        callers["the cloud's key"].client("s3").create_bucket(Bucket=PRIVATE)
    assert taken.value.response["Error"]["Code"] == "BucketAlreadyExists"


def test_the_bucket_policy_lets_this_account_in_and_its_deny_wins(
    member: Cloud, callers: dict[str, Cloud]
) -> None:
    denied_role = f"arn:aws:iam::{ACCOUNT}:role/accounts-tests-role"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{PRIVATE}", f"arn:aws:s3:::{PRIVATE}/*"],
                "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}},
            },
            {  # as the PlatformStack denies its execution role writes under promoted/
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{PRIVATE}/*",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": denied_role}},
            },
        ],
    }
    owner = member.client("s3")
    owner.put_bucket_policy(Bucket=PRIVATE, Policy=json.dumps(policy))
    try:
        for name, caller in callers.items():
            s3 = caller.client("s3")
            assert s3.list_objects_v2(Bucket=PRIVATE)["KeyCount"] == 1, name
            access_denied(s3.put_object, Bucket=PRIVATE, Key="planted.txt", Body=b"x")
            if name == "a role":
                access_denied(s3.get_object, Bucket=PRIVATE, Key="secret.txt")
            else:
                assert s3.get_object(Bucket=PRIVATE, Key="secret.txt")["Body"].read()
        # A third account is not the one the policy names.
        third = callers["the cloud's key"].assume(
            "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
        )
        access_denied(third.client("s3").get_object, Bucket=PRIVATE, Key="secret.txt")
    finally:
        owner.delete_bucket_policy(Bucket=PRIVATE)


def test_a_public_read_object_is_read_across_accounts_unless_acls_are_ignored(
    member: Cloud, callers: dict[str, Cloud]
) -> None:
    owner = member.client("s3")
    owner.put_object(Bucket=PRIVATE, Key="public.txt", Body=b"for all", ACL="public-read")
    s3 = callers["an IAM user"].client("s3")
    try:
        assert s3.get_object(Bucket=PRIVATE, Key="public.txt")["Body"].read() == b"for all"
        access_denied(s3.list_objects_v2, Bucket=PRIVATE)  # the bucket's own ACL is private
        owner.put_public_access_block(
            Bucket=PRIVATE,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        access_denied(s3.get_object, Bucket=PRIVATE, Key="public.txt")
    finally:
        owner.delete_public_access_block(Bucket=PRIVATE)
        owner.delete_object(Bucket=PRIVATE, Key="public.txt")


def test_a_host_is_read_for_its_bucket_as_moto_reads_it(
    cloud: Cloud, member: Cloud, signed: Any
) -> None:
    """moto takes a host's first label as the bucket, and a host starting `localhost` as path
    style: a name it would read otherwise than as `BUCKET.localhost` is not the cloud's."""
    for host, path in (
        (f"{PRIVATE}.x.localhost:{cloud.port}", "/secret.txt"),
        (f"localhost.x.localhost:{cloud.port}", f"/{PRIVATE}/secret.txt"),
    ):
        response = signed("s3", method="GET", path=path, host=host)
        assert response.status_code == 403, (host, response.text)
        assert b"the member's" not in response.content
    # BUCKET.localhost is the bucket it names, as S3's virtual hosts are
    response = signed(
        "s3", method="GET", path="/secret.txt", host=f"{PRIVATE}.localhost:{cloud.port}"
    )
    assert response.status_code == 403 and b"<Code>AccessDenied</Code>" in response.content
    assert member.client("s3").get_object(Bucket=PRIVATE, Key="secret.txt")["Body"].read()


def test_a_post_object_form_upload_is_refused(cloud: Cloud, member: Cloud, signed: Any) -> None:
    """S3's POST Object writes the key its form names: not served (a public-read bucket's
    listing grant would have let another account write)."""
    owner = member.client("s3")
    owner.create_bucket(Bucket="accounts-tests-public-read", ACL="public-read")
    form = (
        b'--f\r\nContent-Disposition: form-data; name="key"\r\n\r\nplanted.txt\r\n'
        b'--f\r\nContent-Disposition: form-data; name="file"; filename="p"\r\n\r\nx\r\n--f--\r\n'
    )
    for bucket in ("accounts-tests-public-read", BUCKET):
        for query in ("", "?acl"):
            response = signed(
                "s3",
                path=f"/{bucket}{query}",
                body=form,
                headers={"Content-Type": "multipart/form-data; boundary=f"},
            )
            assert response.status_code == 501, response.text
            assert b"<Code>NotImplemented</Code>" in response.content
            assert b"POST Object" in response.content
    assert owner.list_objects_v2(Bucket="accounts-tests-public-read")["KeyCount"] == 0
    assert cloud.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="planted")["KeyCount"] == 0
