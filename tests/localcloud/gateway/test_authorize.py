"""IAM on the local cloud for the keys its STS issues for a role (`localcloud.gateway.authorize`):
the CiAccessStack deployed on the cloud, its deploy role assumed with a GitHub-shaped web
identity token, then what that role may and may not do, answered in AWS's error shapes."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.shared.policies import conditions_hold
from smlocal.core.naming import CI_DEPLOY_ROLE, endpoint_stack_name
from tests.helpers.cloud import BUCKET, PYTORCH_IMAGE, Cloud, Session, create_role
from tests.helpers.stacks import GITHUB_REPOSITORY

ACCOUNT, REGION = "123456789012", "us-east-1"
REPO = GITHUB_REPOSITORY
# The CiAccessStack of tests/helpers/stacks.py's manifests (dev, staging, prod in ACCOUNT), as
# synthesized: the snapshot tests/stacks/test_templates.py keeps equal to `cdk synth` (a synth
# here would cost ~10-30 s of CI).
TEMPLATE_FILE = (
    Path(__file__).parents[2]
    / "stacks/__snapshots__/test_templates"
    / f"test_template_snapshot[SmlocalCiAccess-{ACCOUNT}].json"
)
DEPLOY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{CI_DEPLOY_ROLE}"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMaker-local"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/SomeoneElsesRole"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/{CI_DEPLOY_ROLE}/gh-dev"
# A stack body that makes nothing: the decisions concern the stack, not its resources.
TEMPLATE = {"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}


def _token(sub: str, iss: str = "https://token.actions.githubusercontent.com") -> str:
    """A JWT as GitHub's OIDC issuer shapes it (the cloud reads its claims; it cannot check
    the signature of an issuer it cannot reach)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"iss": iss, "aud": "sts.amazonaws.com", "sub": sub}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def _assume(cloud: Cloud, sub: str, role: str = DEPLOY_ROLE, **token: str) -> boto3.Session:
    creds = cloud.client("sts").assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="gh-dev", WebIdentityToken=_token(sub, **token)
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


def _refusal(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = error.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


@pytest.fixture(scope="module")
def ci_access(cloud: Cloud) -> None:
    """The CiAccessStack deployed on the cloud with its start key (what an administrator does
    once per account), and the execution role and another role."""
    iam = cloud.client("iam")
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sagemaker.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    for arn in (EXECUTION_ROLE, OTHER_ROLE):
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_role(RoleName=arn.rsplit("/", 1)[1], AssumeRolePolicyDocument=trust)
    cfn = cloud.client("cloudformation")
    cfn.create_stack(
        StackName=f"SmlocalCiAccess-{ACCOUNT}",
        TemplateBody=TEMPLATE_FILE.read_text(),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    cfn.get_waiter("stack_create_complete").wait(
        StackName=f"SmlocalCiAccess-{ACCOUNT}", WaiterConfig={"Delay": 1}
    )


@pytest.fixture(scope="module")
def deploy(cloud: Cloud, ci_access: None) -> boto3.Session:
    """The deploy role's session, as the dev environment's GitHub job gets it."""
    return _assume(cloud, f"repo:{REPO}:environment:dev")


def _client(cloud: Cloud, session: boto3.Session, service: str) -> Any:
    return session.client(service, endpoint_url=cloud.url)


def test_the_deploy_role_is_assumed_only_with_a_token_its_trust_accepts(
    cloud: Cloud, deploy: boto3.Session
) -> None:
    identity = _client(cloud, deploy, "sts").get_caller_identity()
    assert identity["Arn"] == SESSION
    for sub, token in (
        (f"repo:{REPO}:pull_request", {}),  # a pull request: the plan role's subject
        (f"repo:{REPO}:environment:qa", {}),  # no such environment in this account
        (f"repo:{REPO}:environment:dev", {"iss": "https://tokens.example.com"}),  # no provider
    ):
        with pytest.raises(ClientError) as refused:
            _assume(cloud, sub, **token)
        assert _refusal(refused) == (
            "AccessDenied",
            403,
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        )
    with pytest.raises(ClientError) as malformed:
        cloud.client("sts").assume_role_with_web_identity(
            RoleArn=DEPLOY_ROLE, RoleSessionName="gh", WebIdentityToken="not-a-jwt"
        )
    assert _refusal(malformed)[:2] == ("InvalidIdentityToken", 400)


def test_the_deploy_role_creates_and_updates_the_dev_stack(
    cloud: Cloud, deploy: boto3.Session
) -> None:
    cfn = _client(cloud, deploy, "cloudformation")
    name = endpoint_stack_name("dev")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(TEMPLATE))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1})
    body = {"Resources": {**TEMPLATE["Resources"], "Second": TEMPLATE["Resources"]["Handle"]}}
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(body))
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig={"Delay": 1})
    (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"


def test_the_deploy_role_touches_no_other_stack(cloud: Cloud, deploy: boto3.Session) -> None:
    cfn = _client(cloud, deploy, "cloudformation")
    with pytest.raises(ClientError) as refused:
        cfn.create_stack(StackName="SomeoneElsesStack", TemplateBody=json.dumps(TEMPLATE))
    assert _refusal(refused) == (
        "AccessDenied",
        403,
        f"User: {SESSION} is not authorized to perform: cloudformation:CreateStack on resource: "
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/SomeoneElsesStack/* because no "
        "identity-based policy allows the cloudformation:CreateStack action",
    )
    assert "SomeoneElsesStack" not in [
        s["StackName"] for s in cloud.client("cloudformation").describe_stacks()["Stacks"]
    ]


def test_the_deploy_role_passes_the_execution_role_and_no_other(
    cloud: Cloud, deploy: boto3.Session
) -> None:
    sagemaker = _client(cloud, deploy, "sagemaker")
    container = {"Image": PYTORCH_IMAGE}
    sagemaker.create_model(
        ModelName="ci-passes-its-role", ExecutionRoleArn=EXECUTION_ROLE, PrimaryContainer=container
    )
    with pytest.raises(ClientError) as refused:
        sagemaker.create_model(
            ModelName="ci-passes-another", ExecutionRoleArn=OTHER_ROLE, PrimaryContainer=container
        )
    assert _refusal(refused) == (
        "AccessDeniedException",
        400,
        f"User: {SESSION} is not authorized to perform: iam:PassRole on resource: {OTHER_ROLE} "
        "because no identity-based policy allows the iam:PassRole action",
    )
    # CloudFormation's service role is a passed role too
    with pytest.raises(ClientError) as service_role:
        _client(cloud, deploy, "cloudformation").create_stack(
            StackName=endpoint_stack_name("prod"),
            TemplateBody=json.dumps(TEMPLATE),
            RoleARN=EXECUTION_ROLE,
        )
    code, status, message = _refusal(service_role)
    assert (code, status) == ("AccessDenied", 403)
    assert f"iam:PassRole on resource: {EXECUTION_ROLE}" in message


def test_the_execution_role_changes_only_through_cloudformation(
    cloud: Cloud, deploy: boto3.Session
) -> None:
    iam = _client(cloud, deploy, "iam")
    with pytest.raises(ClientError) as refused:
        iam.put_role_policy(
            RoleName="SageMaker-local",
            PolicyName="widen",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
    assert _refusal(refused)[:2] == ("AccessDenied", 403)
    assert "iam:PutRolePolicy on resource: " + EXECUTION_ROLE in _refusal(refused)[2]


@pytest.mark.parametrize(
    ("conditions", "context", "holds"),
    [
        ({"StringEquals": {"k": ["a", "b"]}}, {"k": ["b"]}, True),
        ({"StringEquals": {"k": "a"}}, {}, False),  # a missing key fails
        ({"StringEqualsIfExists": {"k": "a"}}, {}, True),
        ({"StringLike": {"k": "repo:acme/*"}}, {"k": ["repo:acme/models"]}, True),
        ({"StringNotEquals": {"k": "a"}}, {"k": ["a"]}, False),
        ({"ForAnyValue:StringEquals": {"k": "cfn"}}, {"k": []}, False),
        ({"ForAnyValue:StringEquals": {"k": "cfn"}}, {"k": ["x", "cfn"]}, True),
        ({"Null": {"k": "true"}}, {}, True),
        ({"NumericLessThan": {"k": "3"}}, {"k": ["1"]}, False),  # not evaluated: not met
    ],
)
def test_conditions(conditions: dict[str, Any], context: dict[str, list[str]], holds: bool) -> None:
    assert conditions_hold(conditions, context) is holds


def test_an_explicit_deny_and_the_permissions_boundary_win(cloud: Cloud) -> None:
    """A role allowed everything, less what a Deny names and what its boundary leaves out
    (assumed with AssumeRole: its trust lets in its account, whose root the cloud's key is)."""
    iam = cloud.client("iam")
    everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    boundary = iam.create_policy(
        PolicyName="authorize-tests-boundary",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [everything]}).replace(
            '"Action": "*"', '"Action": ["sts:*", "cloudformation:*"]'
        ),
    )["Policy"]["Arn"]
    role = iam.create_role(
        RoleName="authorize-tests-bounded",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
        PermissionsBoundary=boundary,
    )["Role"]["Arn"]
    deny = {"Effect": "Deny", "Action": "cloudformation:DescribeStacks", "Resource": "*"}
    iam.put_role_policy(
        RoleName="authorize-tests-bounded",
        PolicyName="all-but",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [everything, deny]}),
    )
    creds = cloud.client("sts").assume_role(RoleArn=role, RoleSessionName="bounded")["Credentials"]
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )
    _client(cloud, session, "cloudformation").list_stacks()  # allowed by both
    with pytest.raises(ClientError) as denied:
        _client(cloud, session, "cloudformation").describe_stacks()
    assert _refusal(denied)[2].endswith("with an explicit deny in an identity-based policy")
    with pytest.raises(ClientError) as bounded:
        _client(cloud, session, "s3").list_buckets()
    code, status, message = _refusal(bounded)
    assert (code, status) == ("AccessDenied", 403)
    assert message.endswith("because no permissions boundary allows the s3:ListAllMyBuckets action")
    # CloudWatch speaks Smithy RPC v2 CBOR: the operation and the alarm come from its path
    # and body
    with pytest.raises(ClientError) as alarm:
        _client(cloud, session, "cloudwatch").delete_alarms(AlarmNames=["billing"])
    assert alarm.value.response["Error"]["Code"] == "AccessDeniedException"  # JSON: 400
    assert (
        f"cloudwatch:DeleteAlarms on resource: arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:billing"
        in str(alarm.value)
    )
    # SageMaker Runtime's REST route is named as IAM names it (the invoke path is covered)
    with pytest.raises(ClientError) as invoke:
        _client(cloud, session, "sagemaker-runtime").invoke_endpoint(
            EndpointName="Some-Endpoint", Body=b"{}", ContentType="application/json"
        )
    assert _refusal(invoke) == (
        "AccessDeniedException",
        403,
        "User: arn:aws:sts::123456789012:assumed-role/authorize-tests-bounded/bounded is not "
        "authorized to perform: sagemaker:InvokeEndpoint on resource: "
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/some-endpoint because no permissions "
        "boundary allows the sagemaker:InvokeEndpoint action",
    )


# --- resource-scoped statements of the services a CDK app touches, through the cloud ----------
ROOT_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


SCOPED_ROLE = "authorize-tests-scoped"
SCOPED_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/{SCOPED_ROLE}/scoped"
ASSETS = "authorize-tests-assets"


def _scoped_policy(key_arn: str) -> dict[str, Any]:
    """What a bootstrap role is given, one scoped statement per service (variables too)."""
    statements = [
        (
            "ssm:GetParameter*",
            f"arn:aws:ssm:{REGION}:${{aws:PrincipalAccount}}:parameter/cdk-bootstrap/*",
        ),
        ("logs:*", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/*"),
        ("ecr:Describe*", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/cdk-*"),
        ("kms:Encrypt", key_arn),
    ]
    document: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": a, "Resource": r} for a, r in statements],
    }
    document["Statement"].append(
        {  # the CDK file publishing role's statement: its own account's bucket only
            "Effect": "Allow",
            "Action": ["s3:PutObject*", "s3:GetBucket*"],
            "Resource": [f"arn:aws:s3:::{ASSETS}", f"arn:aws:s3:::{ASSETS}/*"],
            "Condition": {"StringEquals": {"aws:ResourceAccount": ACCOUNT}},
        }
    )
    return document


@pytest.fixture(scope="module")
def scoped(cloud: Cloud) -> boto3.Session:
    """A role trusted by its account and allowed scoped statements, assumed; the resources
    it reaches made with the cloud's key."""
    ssm, kms, ecr = cloud.client("ssm"), cloud.client("kms"), cloud.client("ecr")
    for name in ("/cdk-bootstrap/hnb659fds/version", "/other/secret"):
        ssm.put_parameter(Name=name, Value="1", Type="String", Overwrite=True)
    for name in ("cdk-assets", "other-images"):
        with contextlib.suppress(ecr.exceptions.RepositoryAlreadyExistsException):
            ecr.create_repository(repositoryName=name)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/authorize-tests", TargetKeyId=key)
    cloud.client("s3").create_bucket(Bucket=ASSETS)
    iam = cloud.client("iam")
    role = iam.create_role(RoleName=SCOPED_ROLE, AssumeRolePolicyDocument=json.dumps(ROOT_TRUST))
    iam.put_role_policy(
        RoleName=SCOPED_ROLE,
        PolicyName="scoped",
        PolicyDocument=json.dumps(_scoped_policy(key)),
    )
    creds = cloud.client("sts").assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="scoped")[
        "Credentials"
    ]
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )
    return session


def _denied(call: Any, action: str, resource: str) -> None:
    with pytest.raises(ClientError) as refused:
        call()
    code, status, message = _refusal(refused)
    # AWS's shapes: the JSON services' 400 AccessDeniedException, S3's 403 AccessDenied
    assert (code, status) in (("AccessDeniedException", 400), ("AccessDenied", 403))
    assert message == (
        f"User: {SCOPED_SESSION} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action"
    )


def test_ssm_parameters_are_matched_by_their_arn(cloud: Cloud, scoped: boto3.Session) -> None:
    ssm = _client(cloud, scoped, "ssm")
    # the CDK CLI's bootstrap version check: `parameter` + the name's own leading slash
    assert ssm.get_parameter(Name="/cdk-bootstrap/hnb659fds/version")["Parameter"]["Value"] == "1"
    ssm.get_parameters(Names=["/cdk-bootstrap/hnb659fds/version"])
    _denied(
        lambda: ssm.get_parameter(Name="/other/secret"),
        "ssm:GetParameter",
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/other/secret",
    )


def test_log_groups_and_streams_are_matched_by_their_arn(
    cloud: Cloud, scoped: boto3.Session
) -> None:
    logs = _client(cloud, scoped, "logs")
    group = "/aws/sagemaker/Endpoints/authorize-tests"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="AllTraffic/i-1")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="AllTraffic/i-1",
        logEvents=[{"timestamp": 1_700_000_000_000, "message": "ready"}],
    )
    _denied(
        lambda: logs.create_log_group(logGroupName="/aws/lambda/f"),
        "logs:CreateLogGroup",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/f",
    )


def test_ecr_kms_and_s3_are_matched_by_their_arn(cloud: Cloud, scoped: boto3.Session) -> None:
    ecr = _client(cloud, scoped, "ecr")
    assert ecr.describe_repositories(repositoryNames=["cdk-assets"])["repositories"]
    _denied(
        lambda: ecr.describe_repositories(repositoryNames=["other-images"]),
        "ecr:DescribeRepositories",
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/other-images",
    )
    kms = _client(cloud, scoped, "kms")
    kms.encrypt(KeyId="alias/authorize-tests", Plaintext=b"x")  # authorised on the key
    _denied(
        lambda: kms.encrypt(KeyId="alias/aws/s3", Plaintext=b"x"),
        "kms:Encrypt",
        f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/s3",
    )
    s3 = _client(cloud, scoped, "s3")
    s3.put_object(Bucket=ASSETS, Key="asset.zip", Body=b"zip")  # aws:ResourceAccount holds
    _denied(
        lambda: s3.put_object(Bucket=BUCKET, Key="asset.zip", Body=b"zip"),
        "s3:PutObject",
        f"arn:aws:s3:::{BUCKET}/asset.zip",
    )


def _role(cloud: Cloud, name: str, *statements: dict[str, Any]) -> Session:
    policy = {"Version": "2012-10-17", "Statement": list(statements)}
    return cloud.assume(create_role(cloud.client("iam"), name, ROOT_TRUST, policy))


def test_a_request_is_authorised_as_moto_reads_it(cloud: Cloud, signed: Any) -> None:
    """A role checked for one action or resource and run for another, each way moto reads
    a request otherwise than a plain reading: refused as malformed, or authorised for each
    reading."""
    getter = _role(
        cloud,
        "authorize-tests-get-user",
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"},
    )
    nothing = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    target = {"Version": "2012-10-17", "Statement": [nothing]}
    create_role(cloud.client("iam"), "authorize-tests-target", ROOT_TRUST, target)
    # ?Action=GetUser in the URL, PutRolePolicy in a multipart body: moto runs the body's
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
    )
    parts = {
        "Action": "PutRolePolicy",
        "Version": "2010-05-08",
        "RoleName": "authorize-tests-target",
        "PolicyName": "escalated",
        "PolicyDocument": policy,
    }
    body = (
        "".join(
            f'--b\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in parts.items()
        ).encode()
        + b"--b--\r\n"
    )
    response = signed(
        "iam",
        path="/?Action=GetUser",
        body=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        creds=getter.credentials,
    )
    assert response.status_code == 400, response.text
    assert "<Code>MalformedQueryString</Code>" in response.text
    iam = cloud.client("iam")
    assert (
        "escalated" not in iam.list_role_policies(RoleName="authorize-tests-target")["PolicyNames"]
    )
    # SSM reads a parameter from the URL's query, or from the body read as a query string,
    # before the JSON body
    writer = _role(
        cloud,
        "authorize-tests-ssm-mine",
        {
            "Effect": "Allow",
            "Action": "ssm:PutParameter",
            "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/authorize-tests-mine",
        },
    )
    json_headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonSSM.PutParameter",
    }
    mine = {"Name": "authorize-tests-mine", "Value": "x", "Type": "String", "Overwrite": True}
    response = signed(
        "ssm",
        path="/?Name=authorize-tests-victim",
        body=json.dumps(mine).encode(),
        headers=json_headers,
        creds=writer.credentials,
    )
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == "SerializationException"
    smuggled = {**mine, "Value": "x&Name=authorize-tests-victim&Overwrite="}
    response = signed(
        "ssm", body=json.dumps(smuggled).encode(), headers=json_headers, creds=writer.credentials
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/authorize-tests-ssm-mine/tests is not "
        "authorized to perform: ssm:PutParameter on resource: "
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/authorize-tests-victim because no "
        "identity-based policy allows the ssm:PutParameter action"
    )
    ssm = cloud.client("ssm")
    assert ssm.get_parameters(Names=["authorize-tests-victim"])["InvalidParameters"] == [
        "authorize-tests-victim"
    ]
    writer.client("ssm").put_parameter(**mine)  # its own, read one way: allowed


def test_the_loopback_interface_stands_for_tls_for_a_role_too(cloud: Cloud, s3: Any) -> None:
    """`aws:SecureTransport` is true for a role's request over http://localhost, as for a
    bucket policy (CDK's `enforceSSL` and the bootstrap's deny of insecure transport)."""
    insecure = {"Bool": {"aws:SecureTransport": "false"}}
    session = _role(
        cloud,
        "authorize-tests-tls-only",
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": insecure},
    )
    session.client("s3").put_object(Bucket=BUCKET, Key="authorize-tests/tls", Body=b"x")
