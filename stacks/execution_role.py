"""The SageMaker execution role that training jobs and endpoints of an account+region assume."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Acknowledgment, ArnFormat, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.default_bucket import TRAINING_PREFIX


class ExecutionRole(Construct):
    """Role trusted by sagemaker.amazonaws.com, allowed only what jobs and endpoints need.

    Only SageMaker acting for a resource of this account+region may assume it (confused deputy).
    Pulls from the given ECR repositories, writes its own log groups and SageMaker metrics;
    `allow_job_storage` adds the default bucket: read, and write under `training-jobs/` only.
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
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(service="sagemaker", resource="*")
                    },
                },
            ),
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

    def allow_job_storage(self, bucket: s3.IBucket, *, kms_key_arn: str | None = None) -> None:
        """Read the default bucket; write only where training jobs write; never delete.

        Jobs read their data, sourcedir and checkpoints, endpoints their pinned model, which may
        be any key of the bucket; SageMaker writes model, output, checkpoints, profiler and
        debugger files under `<S3OutputPath>/<job>/`, and the project's output path is
        `training-jobs`. What endpoints write is granted by `allow_endpoint_output`.
        """
        stack = Stack.of(self)
        objects = bucket.arn_for_objects("*")
        training = bucket.arn_for_objects(f"{TRAINING_PREFIX}/*")
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListDefaultBucket",
                actions=["s3:GetBucketLocation", "s3:ListBucket"],
                resources=[bucket.bucket_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadDefaultBucketObjects", actions=["s3:GetObject"], resources=[objects]
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteTrainingJobOutput",
                actions=["s3:AbortMultipartUpload", "s3:PutObject"],
                resources=[training],
            )
        )
        if kms_key_arn:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="UseDefaultBucketKey",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[kms_key_arn],
                )
            )
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{_nag_arn(objects, stack)}]",
                reason="read-only (s3:GetObject): a job reads its data and sourcedir, an "
                "endpoint the model its manifest pins, which may be any key of the bucket.",
            ),
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{_nag_arn(training, stack)}]",
                reason="SageMaker names each job's output folder at run time; writes are "
                "limited to the training-jobs/ prefix, deletes are not allowed at all.",
            ),
        )

    def allow_endpoint_output(self, bucket: s3.IBucket, prefixes: Sequence[str]) -> None:
        """Write (never delete) under the default bucket's prefixes that endpoints write to:
        data capture files, async inference answers and failures. Nothing when there are none."""
        if not prefixes:
            return
        stack = Stack.of(self)
        arns = [bucket.arn_for_objects(f"{prefix}/*") for prefix in prefixes]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteEndpointOutput",
                actions=["s3:AbortMultipartUpload", "s3:PutObject"],
                resources=arns,
            )
        )
        Validations.of(self.role).acknowledge(
            *[
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{_nag_arn(arn, stack)}]",
                    reason="SageMaker names each capture file and each async answer at run "
                    "time (endpoint, variant, date; inference id); writes are limited to the "
                    "prefixes the manifests declare, deletes are not allowed at all.",
                )
                for arn in arns
            ]
        )


def _nag_arn(arn: str, stack: Stack) -> str:
    """An ARN as cdk-nag spells it in a finding id (pseudo parameters in angle brackets)."""
    resolved = stack.resolve(arn)
    parts = resolved["Fn::Join"][1] if isinstance(resolved, dict) else [resolved]
    return "".join(_nag_token(p) if isinstance(p, dict) else p for p in parts)


def _nag_token(token: dict[str, Any]) -> str:
    if "Fn::GetAtt" in token:
        return f"<{'.'.join(token['Fn::GetAtt'])}>"
    return f"<{token['Ref']}>"
