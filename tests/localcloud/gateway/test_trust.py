"""AssumeRole evaluates the role's trust policy (`localcloud.gateway.trust`): a caller it does
not let in, or a role that does not exist, is refused with STS's AccessDenied; the cloud's
accounts are one organization whose member accounts hold `OrganizationAccountAccessRole`."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from tests.helpers.cloud import ACCOUNT, Cloud, Session, create_role

MEMBER = "111111111111"
ORGANIZATION_ROLE = f"arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
S3_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


def trust(principal: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def refused(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = error.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def denied(who: str, role: str) -> tuple[str, int, str]:
    """STS's refusal, as AWS words it."""
    message = f"User: {who} is not authorized to perform: sts:AssumeRole on resource: {role}"
    return ("AccessDenied", 403, message)


def test_a_role_whose_trust_excludes_the_caller_or_that_does_not_exist_is_refused(
    cloud: Cloud,
) -> None:
    iam = cloud.client("iam")
    elsewhere = create_role(iam, "trust-tests-elsewhere", trust({"AWS": "999999999999"}), S3_ONLY)
    service = create_role(
        iam, "trust-tests-service", trust({"Service": "sagemaker.amazonaws.com"}), S3_ONLY
    )
    missing = f"arn:aws:iam::{ACCOUNT}:role/trust-tests-missing"
    for role in (elsewhere, service, missing, f"arn:aws:iam::{MEMBER}:role/trust-tests-missing"):
        with pytest.raises(ClientError) as error:
            cloud.assume(role)
        assert refused(error) == denied(ROOT, role)
    # Signing a web identity request does not stand in for the token and the role's trust.
    claims = base64.urlsafe_b64encode(b'{"iss": "https://issuer.example", "sub": "x"}').decode()
    with pytest.raises(ClientError) as error:
        cloud.client("sts").assume_role_with_web_identity(
            RoleArn=elsewhere, RoleSessionName="tests", WebIdentityToken=f"e30.{claims}.c2ln"
        )
    assert refused(error)[:2] == ("AccessDenied", 403)


def test_the_account_root_the_user_itself_and_conditions(cloud: Cloud) -> None:
    iam = cloud.client("iam")
    by_account = create_role(iam, "trust-tests-account", trust({"AWS": ROOT}), S3_ONLY)
    external = create_role(
        iam,
        "trust-tests-external-id",
        trust({"AWS": ACCOUNT}, {"StringEquals": {"sts:ExternalId": "agreed"}}),
        S3_ONLY,
    )
    assert cloud.assume(by_account).client("sts").get_caller_identity()["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/trust-tests-account/tests"
    )
    with pytest.raises(ClientError) as error:
        cloud.assume(external)
    assert refused(error) == denied(ROOT, external)
    cloud.assume(external, ExternalId="agreed")

    # An IAM user: a trust naming its account needs its own policy too, one naming the user not.
    iam.create_user(UserName="trust-tests-user")
    key = iam.create_access_key(UserName="trust-tests-user")["AccessKey"]
    user = Session(cloud.state_dir, cloud.port, key)
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/trust-tests-user"
    named = create_role(iam, "trust-tests-named", trust({"AWS": user_arn}), S3_ONLY)
    user.assume(named)
    with pytest.raises(ClientError) as error:
        user.assume(by_account)
    assert refused(error) == denied(user_arn, by_account)
    iam.put_user_policy(
        UserName="trust-tests-user",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": by_account}
                ],
            }
        ),
    )
    user.assume(by_account)
    # GetSessionToken's key is the user's, not the account root's; a session cannot make one.
    token = user.client("sts").get_session_token()["Credentials"]
    with_token = Session(cloud.state_dir, cloud.port, token)
    with_token.assume(by_account)
    with pytest.raises(ClientError) as error:
        with_token.assume(external, ExternalId="agreed")  # its policy allows by_account only
    assert refused(error) == denied(user_arn, external)
    with pytest.raises(ClientError) as again:
        with_token.client("sts").get_session_token()
    assert refused(again)[:2] == ("AccessDenied", 403)


def test_member_accounts_hold_the_organization_role_that_the_cloud_key_assumes(
    cloud: Cloud,
) -> None:
    member = cloud.assume(ORGANIZATION_ROLE)
    assert member.client("sts").get_caller_identity()["Account"] == MEMBER
    role = member.client("iam").get_role(RoleName="OrganizationAccountAccessRole")["Role"]
    assert role["Arn"] == ORGANIZATION_ROLE
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"AWS": ROOT}
    # A role of the member trusting its own account only: the management account's key is out,
    # the member's administrator (another account's caller, its own policy allows all) is in.
    own = create_role(
        member.client("iam"), "trust-tests-member-only", trust({"AWS": MEMBER}), S3_ONLY
    )
    with pytest.raises(ClientError) as error:
        cloud.assume(own)
    assert refused(error) == denied(ROOT, own)
    member.assume(own)
    # Back into the management account: only a role that trusts the member account.
    back = create_role(
        cloud.client("iam"), "trust-tests-from-member", trust({"AWS": MEMBER}), S3_ONLY
    )
    member.assume(back)
    with pytest.raises(ClientError) as error:
        member.assume(f"arn:aws:iam::{ACCOUNT}:role/trust-tests-account")
    session = f"arn:aws:sts::{MEMBER}:assumed-role/OrganizationAccountAccessRole/tests"
    assert refused(error) == denied(session, f"arn:aws:iam::{ACCOUNT}:role/trust-tests-account")


def test_a_deleted_organization_role_stays_deleted_and_its_sessions_lose_their_rights(
    cloud: Cloud,
) -> None:
    role = "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole"
    admin = cloud.assume(role)
    everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    other = create_role(
        admin.client("iam"),
        "trust-tests-other-admin",
        trust({"AWS": "333333333333"}),
        {"Version": "2012-10-17", "Statement": [everything]},
    )
    iam = admin.assume(other).client("iam")  # the member's administrators remove the role
    attached = iam.list_attached_role_policies(RoleName="OrganizationAccountAccessRole")
    for policy in attached["AttachedPolicies"]:
        iam.detach_role_policy(
            RoleName="OrganizationAccountAccessRole", PolicyArn=policy["PolicyArn"]
        )
    for name in iam.list_role_policies(RoleName="OrganizationAccountAccessRole")["PolicyNames"]:
        iam.delete_role_policy(RoleName="OrganizationAccountAccessRole", PolicyName=name)
    iam.delete_role(RoleName="OrganizationAccountAccessRole")
    with pytest.raises(ClientError) as error:
        admin.client("iam").list_roles()
    assert refused(error)[:2] == ("AccessDenied", 403)
    with pytest.raises(ClientError) as error:
        cloud.assume(role)
    assert refused(error) == denied(ROOT, role)


def test_a_role_arn_given_twice_is_refused_not_read_two_ways(cloud: Cloud, signed: Any) -> None:
    """moto reads the first RoleArn of a form, the trust check once read the last: the
    trusting role checked, the other one's key issued."""
    iam = cloud.client("iam")
    victim = create_role(iam, "trust-tests-twice-victim", trust({"AWS": "999999999999"}), S3_ONLY)
    trusting = create_role(iam, "trust-tests-twice-trusting", trust({"AWS": ROOT}), S3_ONLY)
    fields = f"RoleSessionName=t&Version=2011-06-15&RoleArn={victim}&RoleArn={trusting}"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = signed("sts", body=f"Action=AssumeRole&{fields}".encode(), headers=form)
    assert response.status_code == 400, response.text
    assert "<Code>MalformedQueryString</Code>" in response.text
    assert "the parameter RoleArn is given more than once" in response.text
    assert b"AccessKeyId" not in response.content
    # nor with the role in the URL's query and the other in the body
    response = signed(
        "sts",
        path=f"/?RoleArn={quote(victim, safe='')}",
        body=f"Action=AssumeRole&RoleSessionName=t&RoleArn={trusting}".encode(),
        headers=form,
    )
    assert response.status_code == 400 and "both in the URL" in response.text


def _token(issuer: str, sub: str) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"iss": issuer, "aud": "sts.amazonaws.com", "sub": sub}
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


def test_a_web_identity_trust_is_matched_as_every_trust_is(cloud: Cloud) -> None:
    """AssumeRoleWithWebIdentity through the trust matcher of AssumeRole: a Deny wins, actions
    match case-insensitively, `Principal: "*"` is a principal (not a crash)."""
    iam = cloud.client("iam")
    issuer = "https://trust-tests.example"
    provider = iam.create_open_id_connect_provider(
        Url=issuer, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )["OpenIDConnectProviderArn"]
    allow = {
        "Effect": "Allow",
        "Principal": {"Federated": provider},
        "Action": "sts:assumerolewithwebidentity",  # lowercase: IAM matches actions so
    }
    deny = {
        "Effect": "Deny",
        "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"trust-tests.example:sub": "blocked"}},
    }
    anyone = {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRoleWithWebIdentity"}
    guarded = create_role(
        iam, "trust-tests-web-deny", {"Version": "2012-10-17", "Statement": [allow, deny]}, S3_ONLY
    )
    open_role = create_role(
        iam, "trust-tests-web-any", {"Version": "2012-10-17", "Statement": [anyone]}, S3_ONLY
    )
    sts = cloud.client("sts")

    def assume(role: str, sub: str) -> dict[str, Any]:
        return sts.assume_role_with_web_identity(
            RoleArn=role, RoleSessionName="tests", WebIdentityToken=_token(issuer, sub)
        )

    assert assume(guarded, "allowed")["Credentials"]["AccessKeyId"]
    with pytest.raises(ClientError) as error:
        assume(guarded, "blocked")
    assert refused(error)[:2] == ("AccessDenied", 403)
    assert assume(open_role, "anyone")["Credentials"]["AccessKeyId"]
