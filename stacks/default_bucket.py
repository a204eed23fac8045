"""The SageMaker default bucket `sagemaker-{region}-{account}` of an account+region."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

NONCURRENT_VERSION_DAYS = 30
"""Old versions of an artifact are kept this long after being overwritten or deleted."""


class DefaultBucket(Construct):
    """Private, TLS-only, encrypted and versioned; old noncurrent versions expire.

    `kms_key_arn` None (the default) encrypts with S3-managed keys (SSE-S3); a key ARN encrypts
    with that existing KMS key (SSE-KMS, with an S3 bucket key to keep KMS calls down).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket_name: str,
        retain: bool,
        kms_key_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key.from_key_arn(self, "Key", kms_key_arn) if kms_key_arn else None
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=key,
            bucket_key_enabled=True if key else None,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            # `destroy` deletes an empty bucket only: emptying it would need a Lambda-backed
            # custom resource (auto_delete_objects), which the local cloud cannot run.
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason=(
                    "server access logs would need a second bucket that `destroy` cannot "
                    "empty without a Lambda custom resource; object-level auditing of the "
                    "artifacts is left to CloudTrail data events of the account."
                ),
            )
        )
