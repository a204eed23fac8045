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
