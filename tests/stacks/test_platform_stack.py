"""PlatformStack: the execution role and the default bucket, property by property."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from conftest import Synth
from stack_fixtures import KMS_KEY_ARN, PLATFORM_EU, PLATFORM_US


@pytest.fixture(scope="module")
def us(synth: Synth) -> Template:
    return Template.from_json(synth.template(PLATFORM_US))


@pytest.fixture(scope="module")
def eu(synth: Synth) -> Template:
    return Template.from_json(synth.template(PLATFORM_EU))


def _statements(template: Template) -> list[dict[str, Any]]:
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_role_is_named_and_trusted_by_sagemaker_only(us: Template) -> None:
    us.resource_count_is("AWS::IAM::Role", 1)
    us.has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": "SageMaker-local",
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                    }
                ]
            },
            "ManagedPolicyArns": Match.absent(),
        },
    )


def test_role_has_no_broad_actions(us: Template) -> None:
    actions = [a for s in _statements(us) for a in _as_list(s["Action"])]
    assert not [a for a in actions if a == "*" or a.endswith(":*")]
    assert "AmazonSageMakerFullAccess" not in str(us.to_json())


def test_only_unscopable_actions_have_star_resources(us: Template) -> None:
    star = {a for s in _statements(us) if s["Resource"] == "*" for a in _as_list(s["Action"])}
    assert star == {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}


def test_metrics_are_limited_to_sagemaker_namespaces(us: Template) -> None:
    (metrics,) = [s for s in _statements(us) if s["Action"] == "cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*"]}}


def test_ecr_pull_is_scoped_to_the_pytorch_repositories(us: Template) -> None:
    (pull,) = [s for s in _statements(us) if "ecr:BatchGetImage" in _as_list(s["Action"])]
    assert sorted(pull["Resource"]) == [
        "arn:aws:ecr:us-east-1:763104351884:repository/pytorch-inference",
        "arn:aws:ecr:us-east-1:763104351884:repository/pytorch-training",
    ]


def test_logs_are_scoped_to_sagemaker_log_groups(us: Template) -> None:
    (logs,) = [s for s in _statements(us) if "logs:PutLogEvents" in _as_list(s["Action"])]
    tails = sorted(r["Fn::Join"][1][-1] for r in logs["Resource"])
    assert tails == [
        ":logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/*",
        ":logs:us-east-1:123456789012:log-group:/aws/sagemaker/TrainingJobs:*",
    ]


def test_bucket_access_is_the_default_bucket_only(us: Template) -> None:
    (s3,) = [s for s in _statements(us) if "s3:PutObject" in _as_list(s["Action"])]
    (bucket_id,) = us.find_resources("AWS::S3::Bucket")
    assert s3["Resource"] == [
        {"Fn::GetAtt": [bucket_id, "Arn"]},
        {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]},
    ]


def test_bucket_is_private_versioned_and_encrypted(us: Template) -> None:
    us.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": "sagemaker-us-east-1-123456789012",
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
        },
    )


def test_bucket_expires_old_noncurrent_versions(us: Template) -> None:
    us.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like(
                        {
                            "Status": "Enabled",
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                        }
                    )
                ]
            }
        },
    )


def test_bucket_policy_denies_requests_without_tls(us: Template) -> None:
    us.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_bucket_is_retained_when_any_environment_retains_it(us: Template, eu: Template) -> None:
    # prod (retain) shares the us-east-1 bucket with dev (destroy); eu destroys.
    us.has_resource(
        "AWS::S3::Bucket", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )
    eu.has_resource(
        "AWS::S3::Bucket", {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"}
    )


def test_kms_variant_encrypts_with_the_manifest_key(eu: Template) -> None:
    eu.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": "sagemaker-eu-west-1-210987654321",
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": KMS_KEY_ARN,
                        },
                    }
                ]
            },
        },
    )
    (kms,) = [s for s in _statements(eu) if "kms:Decrypt" in _as_list(s["Action"])]
    assert kms["Resource"] == KMS_KEY_ARN
    eu.resource_count_is("AWS::KMS::Key", 0)  # an existing key, never a new one


def test_outputs_role_arn_and_bucket_name(us: Template) -> None:
    (role_id,) = us.find_resources("AWS::IAM::Role")
    (bucket_id,) = us.find_resources("AWS::S3::Bucket")
    us.has_output("RoleArn", {"Value": {"Fn::GetAtt": [role_id, "Arn"]}})
    us.has_output("BucketName", {"Value": {"Ref": bucket_id}})


def test_unpinned_environment_is_reported_on_its_platform_stack(synth: Synth) -> None:
    artifact = synth.manifest()["artifacts"][PLATFORM_US]
    metadata = json.loads((synth.outdir / artifact["additionalMetadataFile"]).read_text())
    warnings = [
        entry["data"]
        for entries in metadata.values()
        for entry in entries
        if entry["type"] == "aws:cdk:warning"
    ]
    assert any("environment 'qa' has no model pin" in w for w in warnings), warnings
    assert not any("'dev'" in w for w in warnings)
