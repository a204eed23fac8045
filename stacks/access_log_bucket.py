"""The bucket that receives S3 server access logs of a retained default bucket."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.checkov import skip_checkov

LOG_RETENTION_DAYS = 365
"""Access logs are kept a year, then expire."""


class AccessLogBucket(Construct):
    """Private, TLS-only, SSE-S3 (the only encryption S3 log delivery writes to), versioned.

    Retained with the stack's removal: it holds the audit trail of a retained bucket, which must
    outlive a `destroy`. Log delivery is allowed by a bucket policy for
    `logging.s3.amazonaws.com` from the logged bucket only (CDK's
    `serverAccessLogsUseBucketPolicy` flag, cdk.json), not by an ACL.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-logs",
                    expiration=Duration.days(LOG_RETENTION_DAYS),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="this is the access log bucket; logging it into itself would loop and "
                "into a third bucket would only move the question.",
            )
        )
        skip_checkov(
            self.bucket, "CKV_AWS_18", "the access log bucket itself: logging it would loop"
        )
