"""CiAccessStack: GitHub's OIDC provider, the plan and deploy roles, who may assume them, and
what their policies allow, evaluated on the template by the local cloud's IAM evaluator
(`localcloud.shared.policies.decide`: IAM's matching and condition rules), with the
request context of a direct call (no aws:CalledVia) unless a case names CloudFormation's.
tests/localcloud/gateway/test_authorize.py checks the same roles deployed on the cloud."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from localcloud.shared.policies import decide
from smlocal.core.environments import load_all
from smlocal.core.manifest import ManifestError, ci_accounts
from stacks.wiring import add_stacks
from tests.helpers.stacks import ACCOUNT, CI_ACCESS, GITHUB_REPOSITORY, REPO, Synth

REGION = "us-east-1"
OIDC = "token.actions.githubusercontent.com"


def _resources(synth: Synth, kind: str) -> dict[str, dict[str, Any]]:
    resources = synth.template(CI_ACCESS)["Resources"]
    return {k: r for k, r in resources.items() if r["Type"] == kind}


def _role(synth: Synth, name: str) -> dict[str, Any]:
    roles = _resources(synth, "AWS::IAM::Role").values()
    (role,) = [r for r in roles if r["Properties"]["RoleName"] == name]
    return role["Properties"]


def _policy(synth: Synth, prefix: str) -> dict[str, Any]:
    (policy,) = [
        r for k, r in _resources(synth, "AWS::IAM::Policy").items() if k.startswith(prefix)
    ]
    return json.loads(json.dumps(policy["Properties"]["PolicyDocument"]))


# A call the role makes itself; PassRole of a role handed to SageMaker. VIA_CFN: the same call
# made by CloudFormation for the role (a stack deploy).
DIRECT = {"aws:calledvia": [], "iam:passedtoservice": ["sagemaker.amazonaws.com"]}
VIA_CFN = {**DIRECT, "aws:calledvia": ["cloudformation.amazonaws.com"]}


def _allowed(
    policy: dict[str, Any], action: str, resource: str, context: dict[str, list[str]] = DIRECT
) -> bool:
    return decide([policy], action, resource, context) == "allowed"


def _stack(name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/0f1e2d3c-aaaa-bbbb"


def test_one_github_oidc_provider_for_the_sts_audience(synth: Synth) -> None:
    (provider,) = _resources(synth, "AWS::IAM::OIDCProvider").values()
    assert provider["Properties"] == {
        "Url": f"https://{OIDC}",
        "ClientIdList": ["sts.amazonaws.com"],
    }


@pytest.mark.parametrize(
    ("role", "subjects"),
    [
        (
            "smlocal-github-deploy",
            [f"repo:{GITHUB_REPOSITORY}:environment:{e}" for e in ("dev", "staging", "prod")],
        ),
        (
            "smlocal-github-plan",
            [
                f"repo:{GITHUB_REPOSITORY}:pull_request",
                f"repo:{GITHUB_REPOSITORY}:ref:refs/heads/main",
            ],
        ),
    ],
)
def test_roles_trust_only_the_repository_subjects_with_the_sts_audience(
    synth: Synth, role: str, subjects: list[str]
) -> None:
    (statement,) = _role(synth, role)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": {"Fn::GetAtt": ["GitHubOidc", "Arn"]}}
    assert statement["Condition"] == {
        "StringEquals": {f"{OIDC}:aud": "sts.amazonaws.com", f"{OIDC}:sub": subjects}
    }
    assert _role(synth, role)["MaxSessionDuration"] == 3600


def test_no_action_wildcards_and_no_managed_policies(synth: Synth) -> None:
    for policy in _resources(synth, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            for action in actions if isinstance(actions, list) else [actions]:
                assert "*" not in action, action
    for name in ("smlocal-github-plan", "smlocal-github-deploy"):
        assert "ManagedPolicyArns" not in _role(synth, name)


@pytest.mark.parametrize(
    ("action", "resource", "allowed"),
    [
        ("cloudformation:CreateStack", _stack("SageMakerEndpoint-dev"), True),
        ("cloudformation:ExecuteChangeSet", _stack("SageMakerEndpoint-prod"), True),
        ("cloudformation:UpdateStack", _stack(f"SageMakerPlatform-{ACCOUNT}-{REGION}"), True),
        # another stack: not ours, nor the CI access stack itself (no self-escalation)
        ("cloudformation:UpdateStack", _stack("SageMakerEndpoint-qa"), False),
        ("cloudformation:UpdateStack", _stack(CI_ACCESS), False),
        # only the endpoint stack of an env with cost.idle_limit_hours may be destroyed
        ("cloudformation:DeleteStack", _stack("SageMakerEndpoint-dev"), True),
        ("cloudformation:DeleteStack", _stack("SageMakerEndpoint-prod"), False),
        ("cloudformation:DeleteStack", _stack(f"SageMakerPlatform-{ACCOUNT}-{REGION}"), False),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/SageMaker-local", True),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/smlocal-github-deploy", False),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/Admin", False),
        ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/smlocal-github-deploy", False),
        ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/Other", False),
        # the platform stack owns the execution role: no direct IAM call rewrites it
        ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/SageMaker-local", False),
        ("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/SageMaker-local", False),
        ("s3:PutBucketPolicy", f"arn:aws:s3:::sagemaker-{REGION}-{ACCOUNT}", True),
        ("s3:PutBucketPolicy", "arn:aws:s3:::someone-elses-bucket", False),
        ("s3:GetObject", f"arn:aws:s3:::sagemaker-{REGION}-{ACCOUNT}/models/m.tar.gz", False),
        ("sagemaker:CreateEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/e", True),
        ("sagemaker:CreateEndpoint", f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:endpoint/e", False),
        (
            "sagemaker:CreateTrainingJob",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/t",
            False,
        ),
        (
            "cloudwatch:PutMetricAlarm",
            f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:SageMakerEndpoint-dev-5xx-errors",
            True,
        ),
        (
            "cloudwatch:PutMetricAlarm",
            f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:billing",
            False,
        ),
    ],
)
def test_deploy_role_may_deploy_our_stacks_and_nothing_else(
    synth: Synth, action: str, resource: str, allowed: bool
) -> None:
    assert _allowed(_policy(synth, "DeployRoleDefaultPolicy"), action, resource) is allowed


@pytest.mark.parametrize("action", ["iam:PutRolePolicy", "iam:CreateRole", "iam:TagRole"])
def test_the_execution_role_changes_through_a_cloudformation_deploy_only(
    synth: Synth, action: str
) -> None:
    policy, role = _policy(synth, "DeployRoleDefaultPolicy"), f"arn:aws:iam::{ACCOUNT}:role/"
    assert _allowed(policy, action, role + "SageMaker-local", VIA_CFN)
    assert not _allowed(policy, action, role + "SageMaker-local", DIRECT)
    assert not _allowed(policy, action, role + "Other", VIA_CFN)


def test_the_execution_role_is_passed_to_sagemaker_only(synth: Synth) -> None:
    policy, role = _policy(synth, "DeployRoleDefaultPolicy"), f"arn:aws:iam::{ACCOUNT}:role/"
    to_cfn = {**DIRECT, "iam:passedtoservice": ["cloudformation.amazonaws.com"]}
    assert not _allowed(policy, "iam:PassRole", role + "SageMaker-local", to_cfn)


@pytest.mark.parametrize(
    ("action", "resource", "allowed"),
    [
        ("cloudformation:GetTemplate", _stack("SageMakerEndpoint-prod"), True),
        ("cloudformation:CreateChangeSet", _stack("SageMakerEndpoint-prod"), True),
        ("cloudformation:ExecuteChangeSet", _stack("SageMakerEndpoint-prod"), False),
        ("cloudformation:UpdateStack", _stack("SageMakerEndpoint-dev"), False),
        ("sagemaker:DescribeEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/e", True),
        ("sagemaker:UpdateEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/e", False),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/SageMaker-local", False),
        ("s3:ListBucket", f"arn:aws:s3:::sagemaker-{REGION}-{ACCOUNT}", True),
        ("s3:GetObject", f"arn:aws:s3:::sagemaker-{REGION}-{ACCOUNT}/models/m.tar.gz", False),
    ],
)
def test_plan_role_reads_and_diffs_but_never_changes(
    synth: Synth, action: str, resource: str, allowed: bool
) -> None:
    assert _allowed(_policy(synth, "PlanRoleDefaultPolicy"), action, resource) is allowed


def test_ci_never_deploys_its_own_roles_one_environment_leaves_the_stack_out(
    synth: Synth,
) -> None:
    envs = load_all(synth.manifests)
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    ids = {s.stack_name for s in add_stacks(cdk.App(context=context), envs, only="dev")}
    assert CI_ACCESS not in ids
    assert CI_ACCESS in {s.stack_name for s in add_stacks(cdk.App(context=context), envs)}


def test_a_parked_environment_has_no_endpoint_stack(synth: Synth) -> None:
    """`parked: true` (the idle-dev workflow's commit): `cdk deploy -c env=dev` cannot bring
    the destroyed endpoint back; its platform stack stays."""
    envs = load_all(synth.manifests)
    envs["dev"] = envs["dev"].model_copy(update={"parked": True})
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    ids = {s.stack_name for s in add_stacks(cdk.App(context=context), envs, only="dev")}
    assert "SageMakerEndpoint-dev" not in ids
    assert f"SageMakerPlatform-{ACCOUNT}-{REGION}" in ids


def test_one_account_names_one_repository(synth: Synth) -> None:
    envs = load_all(synth.manifests)
    other = envs["prod"].model_copy(
        update={"github": envs["prod"].github.model_copy(update={"repository": "evil/fork"})}
    )
    with pytest.raises(ManifestError, match=r"prod.yaml: github: .* got evil/fork@main"):
        ci_accounts({**envs, "prod": other})


def test_the_repository_is_validated() -> None:
    from pydantic import ValidationError

    from smlocal.core.manifest import GitHubAccess

    with pytest.raises(ValidationError, match="must be <org>/<repo>"):
        GitHubAccess(repository="not a repo")
