"""PlatformStack: what every environment of one account+region shares (role and bucket)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from smlocal.core.manifest import Platform
from smlocal.core.naming import OUTPUT_BUCKET_NAME, OUTPUT_ROLE_ARN
from stacks.access_log_bucket import AccessLogBucket
from stacks.default_bucket import DefaultBucket
from stacks.execution_role import ExecutionRole


class PlatformStack(Stack):
    """The `SageMaker-local` execution role and the default bucket of one account+region, and
    the bucket of its access logs when it is retained."""

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
        # Server access logs for a retained bucket only: a bucket that `destroy` removes would
        # leave a log bucket that nothing empties (no Lambda custom resources here).
        self.access_logs = AccessLogBucket(self, "AccessLogs") if platform.retain_bucket else None
        self.default_bucket = DefaultBucket(
            self,
            "DefaultBucket",
            bucket_name=platform.bucket_name,
            retain=platform.retain_bucket,
            kms_key_arn=platform.bucket_kms_key_arn,
            access_logs=self.access_logs.bucket if self.access_logs else None,
        )
        self.execution_role.allow_job_storage(
            self.default_bucket.bucket, kms_key_arn=platform.bucket_kms_key_arn
        )
        self.execution_role.allow_endpoint_output(
            self.default_bucket.bucket, platform.endpoint_write_prefixes
        )
        self.default_bucket.deny_promoted_writes(self.execution_role.role.role_arn)
        CfnOutput(self, OUTPUT_ROLE_ARN, value=self.execution_role.role.role_arn)
        CfnOutput(self, OUTPUT_BUCKET_NAME, value=self.default_bucket.bucket.bucket_name)
