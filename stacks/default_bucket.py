"""The SageMaker default bucket `sagemaker-{region}-{account}` of an account+region."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.checkov import skip_checkov

NONCURRENT_VERSION_DAYS = 30
"""Old versions of an artifact are kept this long after being overwritten or deleted."""

TRAINING_PREFIX = "training-jobs"
"""Where training jobs write (`training.spec.training_prefix`): `<prefix>/<job>/output/…`,
checkpoints and the uploaded sourcedir."""

PROMOTED_PREFIX = "promoted"
"""Where `smlocal promote` copies the artifacts it pins (`smlocal.gitops.artifacts.promoted_key`:
`promoted/<sha256>/model.tar.gz`); staging and prod serve from here."""

PROMOTED_DELETE_ACTIONS = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
JOB_DENIED_ACTIONS = ["s3:PutObject", *PROMOTED_DELETE_ACTIONS]


class DefaultBucket(Construct):
    """Private, TLS-only, encrypted and versioned; old noncurrent versions expire.

    `kms_key_arn` None (the default) encrypts with S3-managed keys (SSE-S3); a key ARN encrypts
    with that existing KMS key (SSE-KMS, with an S3 bucket key to keep KMS calls down).
    `access_logs` (default none) receives the bucket's server access logs under
    `<bucket name>/`. Promoted artifacts are never deleted: the bucket policy denies object
    deletes under `promoted/` to every principal (`promote` only ever adds a new key).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket_name: str,
        retain: bool,
        kms_key_arn: str | None = None,
        access_logs: s3.IBucket | None = None,
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
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=f"{bucket_name}/" if access_logs else None,
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
        self.promoted_objects = self.bucket.arn_for_objects(f"{PROMOTED_PREFIX}/*")
        self._deny_promoted("PromotedArtifactsAreNeverDeleted", PROMOTED_DELETE_ACTIONS)
        if access_logs is None:
            reason = (
                "a bucket that `destroy` removes gets no access logs: their bucket would need "
                "emptying by a Lambda custom resource; retained buckets log."
            )
            Validations.of(self.bucket).acknowledge(
                Acknowledgment(id="AwsSolutions-S1", reason=reason)
            )
            skip_checkov(self.bucket, "CKV_AWS_18", reason)

    def deny_promoted_writes(self, principal_arn: str) -> None:
        """Deny `principal_arn` (any session of it) writes and deletes under `promoted/`.

        An explicit deny in the bucket's own policy: whatever the principal's identity policy
        grants now or later, it cannot replace or remove an artifact an environment pins.
        """
        self._deny_promoted(
            "JobsCannotWritePromotedArtifacts",
            JOB_DENIED_ACTIONS,
            conditions={"ArnEquals": {"aws:PrincipalArn": principal_arn}},
        )

    def _deny_promoted(
        self, sid: str, actions: list[str], conditions: dict[str, Any] | None = None
    ) -> None:
        """A statement of the bucket's policy denying `actions` on `promoted/` to anyone
        (that `conditions` matches)."""
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=actions,
                resources=[self.promoted_objects],
                conditions=conditions,
            )
        )
