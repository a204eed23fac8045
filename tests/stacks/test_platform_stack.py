"""PlatformStack: the execution role and the default bucket, property by property."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from smlocal.core.environments import load_all
from smlocal.core.manifest import DataCapture
from smlocal.gitops.artifacts import promoted_key
from stacks.default_bucket import PROMOTED_PREFIX, TRAINING_PREFIX
from tests.helpers.stacks import ACCOUNT, EU_ACCOUNT, KMS_KEY_ARN, PLATFORM_EU, PLATFORM_US, Synth
from training.spec import training_prefix


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
                    Match.object_like(
                        {
                            "Action": "sts:AssumeRole",
                            "Effect": "Allow",
                            "Principal": {"Service": "sagemaker.amazonaws.com"},
                        }
                    )
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


def test_trust_is_limited_to_sagemaker_acting_for_this_account_and_region(
    us: Template, eu: Template
) -> None:
    for template, account, region in ((us, ACCOUNT, "us-east-1"), (eu, EU_ACCOUNT, "eu-west-1")):
        (role,) = template.find_resources("AWS::IAM::Role").values()
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Condition"] == {
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {
                "aws:SourceArn": {
                    "Fn::Join": [
                        "",
                        ["arn:", {"Ref": "AWS::Partition"}, f":sagemaker:{region}:{account}:*"],
                    ]
                }
            },
        }


def _s3_actions(template: Template) -> set[str]:
    return {a for s in _statements(template) for a in _as_list(s["Action"]) if a.startswith("s3:")}


def test_role_can_never_delete_objects(us: Template, eu: Template) -> None:
    for template in (us, eu):
        actions = _s3_actions(template)
        assert actions == {
            "s3:AbortMultipartUpload",
            "s3:GetBucketLocation",
            "s3:GetObject",
            "s3:ListBucket",
            "s3:PutObject",
        }
        assert not [a for a in actions if "Delete" in a or "*" in a]


def _bucket_arn(template: Template) -> dict[str, Any]:
    (bucket_id,) = [
        logical_id
        for logical_id, r in template.find_resources("AWS::S3::Bucket").items()
        if "BucketName" in r["Properties"]
    ]
    return {"Fn::GetAtt": [bucket_id, "Arn"]}


def _objects(template: Template, pattern: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [_bucket_arn(template), f"/{pattern}"]]}


def _writes(template: Template) -> list[tuple[list[str], Any]]:
    return [
        (sorted(_as_list(s["Action"])), s["Resource"])
        for s in _statements(template)
        if {"s3:PutObject", "s3:AbortMultipartUpload"} & set(_as_list(s["Action"]))
    ]


def test_role_writes_only_where_jobs_and_the_declared_endpoints_write(
    us: Template, eu: Template
) -> None:
    put = ["s3:AbortMultipartUpload", "s3:PutObject"]
    # us: prod captures into data-capture/, queue (async) answers into async-inference/.
    assert _writes(us) == [
        (put, _objects(us, "training-jobs/*")),
        (
            put,
            [
                _objects(us, "async-inference/failures/*"),
                _objects(us, "async-inference/output/*"),
                _objects(us, "data-capture/*"),
            ],
        ),
    ]
    # eu: no capture, not async: its endpoint writes nothing.
    assert _writes(eu) == [(put, _objects(eu, "training-jobs/*"))]


def test_endpoint_write_prefixes_follow_the_manifests(synth: Synth) -> None:
    envs = load_all(synth.manifests)
    assert envs["queue"].endpoint_write_prefixes == (
        "async-inference/output",
        "async-inference/failures",
    )
    assert envs["prod"].endpoint_write_prefixes == ("data-capture",)
    assert envs["dev"].endpoint_write_prefixes == ()
    custom = envs["prod"].model_copy(
        update={
            "provisioned": envs["prod"].provisioned.model_copy(  # type: ignore[union-attr]
                update={
                    "data_capture": DataCapture(
                        destination=f"s3://{envs['prod'].bucket_name}/captures/prod/"
                    )
                }
            )
        }
    )
    assert custom.endpoint_write_prefixes == ("captures/prod",)
    elsewhere = custom.model_copy(
        update={
            "provisioned": custom.provisioned.model_copy(  # type: ignore[union-attr]
                update={"data_capture": DataCapture(destination="s3://another-bucket/captures")}
            )
        }
    )
    assert elsewhere.endpoint_write_prefixes == ()  # another bucket: granted by its owner


def test_role_reads_and_lists_the_default_bucket_only(us: Template) -> None:
    (read,) = [s for s in _statements(us) if "s3:GetObject" in _as_list(s["Action"])]
    assert (read["Action"], read["Resource"]) == ("s3:GetObject", _objects(us, "*"))
    (listing,) = [s for s in _statements(us) if "s3:ListBucket" in _as_list(s["Action"])]
    assert listing["Resource"] == _bucket_arn(us)


def test_prefixes_are_where_training_and_promotion_write(synth: Synth) -> None:
    dev = load_all(synth.manifests)["dev"]
    assert training_prefix(dev) == f"s3://{dev.bucket_name}/{TRAINING_PREFIX}"
    assert promoted_key("a" * 64).startswith(f"{PROMOTED_PREFIX}/")


def _bucket_policy(template: Template, bucket_arn: dict[str, Any]) -> list[dict[str, Any]]:
    (policy,) = [
        p
        for p in template.find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"]["Ref"] == bucket_arn["Fn::GetAtt"][0]
    ]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_nobody_may_delete_promoted_artifacts(us: Template, eu: Template) -> None:
    for template in (us, eu):
        denies = [
            s
            for s in _bucket_policy(template, _bucket_arn(template))
            if s["Effect"] == "Deny" and "Condition" not in s
        ]
        assert denies == [
            {
                "Sid": "PromotedArtifactsAreNeverDeleted",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                "Resource": _objects(template, "promoted/*"),
            }
        ]


def test_the_role_may_not_write_promoted_artifacts_whatever_it_is_granted(us: Template) -> None:
    (role_id,) = us.find_resources("AWS::IAM::Role")
    (deny,) = [
        s
        for s in _bucket_policy(us, _bucket_arn(us))
        if s.get("Sid") == "JobsCannotWritePromotedArtifacts"
    ]
    assert deny == {
        "Sid": "JobsCannotWritePromotedArtifacts",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObject"],
        "Resource": _objects(us, "promoted/*"),
        "Condition": {"ArnEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [role_id, "Arn"]}}},
    }


def _log_bucket(template: Template) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, r)
        for logical_id, r in template.find_resources("AWS::S3::Bucket").items()
        if "BucketName" not in r["Properties"]
    ]
    return found


def test_retained_bucket_writes_access_logs_to_a_retained_private_log_bucket(
    us: Template,
) -> None:
    log_id, log = _log_bucket(us)
    us.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": "sagemaker-us-east-1-123456789012",
            "LoggingConfiguration": {
                "DestinationBucketName": {"Ref": log_id},
                "LogFilePrefix": "sagemaker-us-east-1-123456789012/",
            },
        },
    )
    assert (log["DeletionPolicy"], log["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = log["Properties"]
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert props["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "AccessControl" not in props  # delivery is allowed by the policy, not an ACL
    log_arn = {"Fn::GetAtt": [log_id, "Arn"]}
    statements = _bucket_policy(us, log_arn)
    assert {
        "Action": "s3:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": [log_arn, {"Fn::Join": ["", [log_arn, "/*"]]}],
    } in statements
    (delivery,) = [s for s in statements if s["Effect"] == "Allow"]
    assert delivery == {
        "Action": "s3:PutObject",
        "Condition": {
            "ArnLike": {"aws:SourceArn": _bucket_arn(us)},
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        },
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Resource": {"Fn::Join": ["", [log_arn, "/sagemaker-us-east-1-123456789012/*"]]},
    }


def test_a_bucket_that_destroy_removes_has_no_log_bucket(eu: Template) -> None:
    eu.resource_count_is("AWS::S3::Bucket", 1)
    eu.has_resource_properties("AWS::S3::Bucket", {"LoggingConfiguration": Match.absent()})


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
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    eu.resource_count_is("AWS::KMS::Key", 0)  # an existing key, never a new one


def test_outputs_role_arn_and_bucket_name(us: Template) -> None:
    (role_id,) = us.find_resources("AWS::IAM::Role")
    us.has_output("RoleArn", {"Value": {"Fn::GetAtt": [role_id, "Arn"]}})
    us.has_output("BucketName", {"Value": {"Ref": _bucket_arn(us)["Fn::GetAtt"][0]}})


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
