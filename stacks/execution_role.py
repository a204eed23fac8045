"""The SageMaker execution role that training jobs and endpoints of an account+region assume."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, ArnFormat, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct


class ExecutionRole(Construct):
    """Role trusted by sagemaker.amazonaws.com, allowed only what jobs and endpoints need.

    Pulls from the given ECR repositories, writes its own log groups and SageMaker metrics;
    access to the default bucket is granted by the bucket (`bucket.grant_read_write`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_name: str,
        image_repository_arns: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker execution role of smlocal (training jobs and endpoints)",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PullServingAndTrainingImages",
                actions=[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                resources=list(image_repository_arns),
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="EcrLogin",
                actions=["ecr:GetAuthorizationToken"],
                resources=["*"],
            )
        )
        log_groups = [
            stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"/aws/sagemaker/{kind}",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for kind in ("TrainingJobs:*", "Endpoints/*")
        ]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="OwnLogGroups",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                resources=log_groups,
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="SageMakerMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*"]}},
            )
        )
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no "
                "resource-level permissions; PutMetricData is limited to the /aws/sagemaker/ "
                "namespaces by a condition instead.",
            ),
            *[
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{_nag_arn(arn, stack)}]",
                    reason="SageMaker names a log stream per training job and per endpoint at "
                    "run time; the role may write only under its own log-group prefixes.",
                )
                for arn in log_groups
            ],
        )


def _nag_arn(arn: str, stack: Stack) -> str:
    """An ARN as cdk-nag spells it in a finding id (pseudo parameters in angle brackets)."""
    resolved = stack.resolve(arn)
    parts = resolved["Fn::Join"][1] if isinstance(resolved, dict) else [resolved]
    return "".join(f"<{p['Ref']}>" if isinstance(p, dict) else p for p in parts)
