"""CiAccessStack: what GitHub Actions may do in one account, as code (issue 17).

GitHub's OIDC provider and two roles that its workflows assume with a short-lived token:
- `smlocal-github-plan`: read what `cdk diff`, `smlocal diff`, `smlocal status` and
  `smlocal reconcile --plan` read (stacks, their templates and change sets, endpoints, scaling
  targets, the default bucket's listing); trusted by the repository's pull requests and its
  main branch (the scheduled drift check). It can create and delete change sets on our stacks
  (what `cdk diff` does) but never execute one.
- `smlocal-github-deploy`: what `cdk deploy -c env=E` of our stacks needs and no more. The
  stacks are synthesized without bootstrap (no assets), so the CLI deploys them directly with
  this role's credentials and CloudFormation acts with them: CloudFormation on our stack names
  only, the execution role (by its name) and `iam:PassRole` of it to SageMaker only, the
  default bucket and the platform's access log bucket, SageMaker models, endpoint configs and
  endpoints of the account's regions, the endpoint's scaling target and alarms. The execution
  role's IAM rights hold only in calls CloudFormation makes (`aws:CalledVia`). Trusted by
  `repo:<org>/<repo>:environment:<env>` of the account's environments only, so the GitHub
  Environment's protection rules (prod's reviewers) gate every deploy.

An administrator deploys this stack once per account (`cdk deploy SmlocalCiAccess-<account>`);
CI never deploys it (it is left out whenever one environment is selected with `-c env=E`), so
the deploy role cannot widen its own permissions.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, CfnOutput, Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

from smlocal.core.manifest import CiAccount
from smlocal.core.naming import (
    CI_DEPLOY_ROLE,
    CI_PLAN_ROLE,
    default_bucket_name,
    endpoint_stack_name,
    platform_stack_name,
)
from smlocal.core.registry import MODEL_PACKAGE_GROUP
from stacks.checkov import skip_checkov

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"

# `cdk diff` reads the deployed template and makes (then deletes) a change set to tell
# replacements apart; `smlocal status` and `reconcile` read the stacks' outputs.
_CFN_READ = [
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "cloudformation:DescribeStackResources",
    "cloudformation:ListStackResources",
    "cloudformation:GetTemplate",
    "cloudformation:GetTemplateSummary",
    "cloudformation:DescribeChangeSet",
]
_CFN_CHANGE_SETS = ["cloudformation:CreateChangeSet", "cloudformation:DeleteChangeSet"]
_CFN_DEPLOY = ["cloudformation:CreateStack", "cloudformation:UpdateStack"]
_CFN_EXECUTE = ["cloudformation:ExecuteChangeSet"]

_SAGEMAKER_READ = [
    "sagemaker:DescribeEndpoint",
    "sagemaker:DescribeEndpointConfig",
    "sagemaker:DescribeModel",
    "sagemaker:ListTags",
]
# DeleteModel/DeleteEndpointConfig: CloudFormation removes the replaced ones after an update;
# DeleteEndpoint: it rolls back a failed create. InvokeEndpoint: the smoke prediction.
_SAGEMAKER_DEPLOY = [
    "sagemaker:CreateModel",
    "sagemaker:DeleteModel",
    "sagemaker:CreateEndpointConfig",
    "sagemaker:DeleteEndpointConfig",
    "sagemaker:CreateEndpoint",
    "sagemaker:UpdateEndpoint",
    "sagemaker:DeleteEndpoint",
    "sagemaker:AddTags",
    "sagemaker:DeleteTags",
    "sagemaker:InvokeEndpoint",
]
_EXECUTION_ROLE = [
    "iam:CreateRole",
    "iam:GetRole",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutRolePolicy",
    "iam:GetRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:ListRoleTags",
]
_BUCKET_DEPLOY = [
    "s3:CreateBucket",
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:GetBucketPublicAccessBlock",
    "s3:PutBucketPublicAccessBlock",
    "s3:GetEncryptionConfiguration",
    "s3:PutEncryptionConfiguration",
    "s3:GetBucketVersioning",
    "s3:PutBucketVersioning",
    "s3:GetLifecycleConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:GetBucketLogging",
    "s3:PutBucketLogging",
    "s3:GetBucketOwnershipControls",
    "s3:PutBucketOwnershipControls",
    "s3:GetBucketTagging",
    "s3:PutBucketTagging",
]
_SCALING = [
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:DeregisterScalableTarget",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:PutScalingPolicy",
    "application-autoscaling:DeleteScalingPolicy",
    "application-autoscaling:DescribeScalingPolicies",
]
_ALARMS = ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"]
_SCALING_SLR = "sagemaker.application-autoscaling.amazonaws.com"
_CLOUDFORMATION = "cloudformation.amazonaws.com"


class CiAccessStack(Stack):
    """GitHub's OIDC provider and the plan and deploy roles of one account."""

    def __init__(
        self, scope: Construct, construct_id: str, *, ci: CiAccount, **kwargs: Any
    ) -> None:
        names = ", ".join(e for e, _ in ci.environments)
        super().__init__(
            scope,
            construct_id,
            description=f"smlocal CI access of {ci.account} for {ci.repository} ({names})",
            **kwargs,
        )
        self.ci = ci
        self.arn_partition = partition_of(ci.region)
        self.provider = iam.CfnOIDCProvider(
            self,
            "GitHubOidc",
            url=f"https://{GITHUB_OIDC_HOST}",
            client_id_list=[GITHUB_AUDIENCE],
        )
        repo = f"repo:{ci.repository}"
        self.plan_role = self._role(
            "PlanRole",
            CI_PLAN_ROLE,
            [f"{repo}:pull_request", f"{repo}:ref:refs/heads/{ci.main_branch}"],
            "smlocal CI plan: read-only, cdk diff and smlocal diff/status (PRs, main)",
        )
        self.deploy_role = self._role(
            "DeployRole",
            CI_DEPLOY_ROLE,
            [f"{repo}:environment:{env}" for env, _ in ci.environments],
            f"smlocal CI deploy: cdk deploy of {names} (their GitHub Environments only)",
        )
        self._plan_policy()
        self._deploy_policy()
        CfnOutput(self, "OidcProviderArn", value=self.provider.attr_arn)
        CfnOutput(self, "PlanRoleArn", value=self.plan_role.role_arn)
        CfnOutput(self, "DeployRoleArn", value=self.deploy_role.role_arn)

    # --- the ARNs the roles are scoped to -----------------------------------------------------
    def _arn(self, service: str, region: str, resource: str) -> str:
        return f"arn:{self.arn_partition}:{service}:{region}:{self.ci.account}:{resource}"

    def stack_arns(self) -> list[str]:
        """Our stacks in this account: each region's platform stack, each environment's
        endpoint stack (the trailing `/*` is the stack id CloudFormation appends)."""
        platforms = [
            self._arn("cloudformation", r, f"stack/{platform_stack_name(self.ci.account, r)}/*")
            for r in self.ci.regions
        ]
        endpoints = [
            self._arn("cloudformation", r, f"stack/{endpoint_stack_name(e)}/*")
            for e, r in self.ci.environments
        ]
        return platforms + endpoints

    def bucket_arns(self) -> list[str]:
        return [
            f"arn:{self.arn_partition}:s3:::{default_bucket_name(self.ci.account, r)}"
            for r in self.ci.regions
        ]

    def sagemaker_arns(self) -> list[str]:
        return [
            self._arn("sagemaker", r, f"{kind}/*")
            for r in self.ci.regions
            for kind in ("model", "endpoint-config", "endpoint")
        ]

    # --- roles ----------------------------------------------------------------------------------
    def _role(self, cid: str, name: str, subjects: list[str], description: str) -> iam.Role:
        return iam.Role(
            self,
            cid,
            role_name=name,
            description=description,
            max_session_duration=Duration.hours(1),
            assumed_by=iam.WebIdentityPrincipal(
                self.provider.attr_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": GITHUB_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": subjects,
                    }
                },
            ),
        )

    def _read_registry(self, role: iam.Role) -> None:
        """`smlocal status` and `history` read the project's model package group."""
        group = [
            self._arn("sagemaker", r, f"model-package-group/{MODEL_PACKAGE_GROUP}")
            for r in self.ci.regions
        ]
        packages = [
            self._arn("sagemaker", r, f"model-package/{MODEL_PACKAGE_GROUP}/*")
            for r in self.ci.regions
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadTheModelRegistry",
                actions=["sagemaker:DescribeModelPackageGroup", "sagemaker:DescribeModelPackage"],
                resources=group + packages,
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListModelVersions", actions=["sagemaker:ListModelPackages"], resources=["*"]
            )
        )
        Validations.of(role).acknowledge(
            *[
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{arn}]",
                    reason="the versions of the project's one model package group: SageMaker "
                    "numbers them as they are registered.",
                )
                for arn in packages
            ]
        )

    def _plan_policy(self) -> None:
        role = self.plan_role
        stacks, sagemaker = self.stack_arns(), self.sagemaker_arns()
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadAndDiffOurStacks", actions=_CFN_READ + _CFN_CHANGE_SETS, resources=stacks
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(sid="ReadEndpoints", actions=_SAGEMAKER_READ, resources=sagemaker)
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListDefaultBucket",
                actions=["s3:GetBucketLocation", "s3:ListBucket"],
                resources=self.bucket_arns(),
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadScalingTargets",
                actions=["application-autoscaling:DescribeScalableTargets"],
                resources=["*"],
            )
        )
        self._read_registry(role)
        self._acknowledge(role, stacks + sagemaker, scaling_only_reads=True)

    def _deploy_policy(self) -> None:
        role, ci = self.deploy_role, self.ci
        stacks, sagemaker = self.stack_arns(), self.sagemaker_arns()
        execution_role = f"arn:{self.arn_partition}:iam::{ci.account}:role/{ci.role_name}"
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DeployOurStacks",
                actions=_CFN_READ + _CFN_CHANGE_SETS + _CFN_EXECUTE + _CFN_DEPLOY,
                resources=stacks,
            )
        )
        idle = [
            self._arn("cloudformation", r, f"stack/{endpoint_stack_name(e)}/*")
            for e, r in ci.environments
            if e in ci.destroyable
        ]
        if idle:
            # the scheduled idle-dev workflow: `cdk destroy` of an endpoint stack whose
            # manifest sets cost.idle_limit_hours (billed until deleted), and of no other
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="DestroyIdleEndpointStacks",
                    actions=["cloudformation:DeleteStack"],
                    resources=idle,
                )
            )
        # The platform stack owns the execution role; CI may change it only through a
        # CloudFormation deploy of that stack, never by a direct IAM call (aws:CalledVia holds
        # the services that made the request on the role's behalf).
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ManageTheExecutionRoleThroughCloudFormation",
                actions=_EXECUTION_ROLE,
                resources=[execution_role],
                conditions={"ForAnyValue:StringEquals": {"aws:CalledVia": [_CLOUDFORMATION]}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PassTheExecutionRoleToSageMaker",
                actions=["iam:PassRole"],
                resources=[execution_role],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        access_logs = f"arn:{self.arn_partition}:s3:::{_access_log_bucket_prefix(ci.account)}*"
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ManageTheDefaultBucket",
                actions=_BUCKET_DEPLOY,
                resources=[*self.bucket_arns(), access_logs],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="SageMakerEndpoints",
                actions=_SAGEMAKER_DEPLOY + _SAGEMAKER_READ,
                resources=sagemaker,
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(sid="EndpointScaling", actions=_SCALING, resources=["*"])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ScalingServiceLinkedRole",
                actions=["iam:CreateServiceLinkedRole"],
                resources=[
                    f"arn:{self.arn_partition}:iam::{ci.account}:role/aws-service-role/{_SCALING_SLR}/"
                    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
                ],
                conditions={"StringEquals": {"iam:AWSServiceName": _SCALING_SLR}},
            )
        )
        alarms = [
            self._arn("cloudwatch", r, f"alarm:{endpoint_stack_name(e)}-*")
            for e, r in ci.environments
        ]
        role.add_to_policy(
            iam.PolicyStatement(sid="RollbackAlarms", actions=_ALARMS, resources=alarms)
        )
        Validations.of(role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{access_logs}]",
                reason="CloudFormation names the platform stack's access log bucket "
                "<stack name>-<logical id>-<random>; the prefix is our platform stacks' own.",
            ),
            *[
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{arn}]",
                    reason="one endpoint stack's alarms: their names start with the stack name "
                    "and end with what they watch (5xx errors, model latency).",
                )
                for arn in alarms
            ],
        )
        self._read_registry(role)
        self._acknowledge(role, stacks + sagemaker, scaling_only_reads=False)
        skip_checkov(
            role.node.find_child("DefaultPolicy"),
            "CKV_AWS_111",
            "Application Auto Scaling has no resource-level permissions for SageMaker variants "
            "(RegisterScalableTarget, PutScalingPolicy); every other write is scoped to our "
            "stacks, the execution role, the default bucket and this account's SageMaker ARNs.",
        )

    def _acknowledge(self, role: iam.Role, arns: list[str], *, scaling_only_reads: bool) -> None:
        what = (
            "DescribeScalableTargets has no resource-level permissions"
            if scaling_only_reads
            else "Application Auto Scaling has no resource-level permissions for SageMaker "
            "variants; the scaling target and policy are the endpoint stack's own"
        )
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason=f"{what}; sagemaker:ListModelPackages has none either (it reads the "
                "versions' summaries only).",
            ),
            *[
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{arn}]",
                    reason=_WHY_STAR[arn.split(":")[2]],
                )
                for arn in arns
            ],
        )


_WHY_STAR = {
    "cloudformation": "CloudFormation appends a stack id to the stack name in the ARN; the "
    "name (ours, from smlocal.core.naming) is fixed, only the id is matched by the wildcard.",
    "sagemaker": "models are named by CloudFormation and endpoint configs by a content hash "
    "at synth time, so no fixed name exists; scoped to this account and region.",
}


def _access_log_bucket_prefix(account: str) -> str:
    """What CloudFormation's generated name of a platform stack's access log bucket starts with:
    the stack name lowercased, `SageMakerPlatform-<account>-<region>`."""
    return f"sagemakerplatform-{account}-"


def partition_of(region: str) -> str:
    """The ARN partition of a region, spelled out so that ARNs (and cdk-nag's finding ids)
    carry no `AWS::Partition` token."""
    if region.startswith("cn-"):
        return "aws-cn"
    if "-gov-" in region:
        return "aws-us-gov"
    return "aws"
