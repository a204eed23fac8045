"""PlatformStack: what every environment of one account+region shares (role and bucket)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, CfnOutput, Stack, Validations
from constructs import Construct

from smlocal.core.manifest import Platform
from smlocal.core.naming import OUTPUT_BUCKET_NAME, OUTPUT_ROLE_ARN
from stacks.default_bucket import DefaultBucket
from stacks.execution_role import ExecutionRole


class PlatformStack(Stack):
    """The `SageMaker-local` execution role and the default bucket of one account+region."""

    def __init__(
        self, scope: Construct, construct_id: str, *, platform: Platform, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=(
                f"smlocal platform of {platform.account}/{platform.region}: SageMaker execution "
                f"role and default bucket, shared by {', '.join(platform.environments)}"
            ),
            **kwargs,
        )
        self.execution_role = ExecutionRole(
            self,
            "ExecutionRole",
            role_name=platform.role_name,
            image_repository_arns=platform.image_repository_arns,
        )
        self.default_bucket = DefaultBucket(
            self,
            "DefaultBucket",
            bucket_name=platform.bucket_name,
            retain=platform.retain_bucket,
            kms_key_arn=platform.bucket_kms_key_arn,
        )
        self.default_bucket.bucket.grant_read_write(self.execution_role.role)
        # The grant's wildcards: object-level actions families on the one bucket's objects.
        grant_findings = [
            "Action::s3:Abort*",
            "Action::s3:DeleteObject*",
            "Action::s3:GetBucket*",
            "Action::s3:GetObject*",
            "Action::s3:List*",
            f"Resource::<{self.get_logical_id(self.default_bucket.bucket.node.default_child)}"
            ".Arn>/*",
        ]
        if platform.bucket_kms_key_arn:
            grant_findings += ["Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"]
        Validations.of(self.execution_role.role).acknowledge(
            *[
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[{finding}]",
                    reason="bucket.grant_read_write: read and write of the objects of the one "
                    "default bucket (and use of its KMS key), which training jobs write "
                    "artifacts to and endpoints read models from.",
                )
                for finding in grant_findings
            ]
        )
        CfnOutput(self, OUTPUT_ROLE_ARN, value=self.execution_role.role.role_arn)
        CfnOutput(self, OUTPUT_BUCKET_NAME, value=self.default_bucket.bucket.bucket_name)
