"""CloudFormation resource types our stacks declare that moto 5.2.5 skips ("No Moto
CloudFormation support"), created for real through moto's own backends, and a bucket delete
that S3 refuses failing the stack delete as on AWS.

- `AWS::S3::BucketPolicy`: PutBucketPolicy on create / update, DeleteBucketPolicy on delete.
  A policy's `aws:SecureTransport` condition is evaluated as true: the cloud answers only on
  the loopback interface, which stands in for TLS here (moto ignores conditions, so the CDK's
  `enforceSSL` statement would deny every request).
- `AWS::CloudWatch::Alarm`: PutMetricAlarm / DeleteAlarms.
- `AWS::IAM::OIDCProvider` (the CiAccessStack's GitHub provider): IAM's
  CreateOpenIDConnectProvider / DeleteOpenIDConnectProvider; `Ref` and `Arn` give its ARN.
- `AWS::S3::Bucket` delete of a bucket that holds objects raises S3's `BucketNotEmpty`
  (moto leaves the bucket and reports the resource deleted).
"""

from __future__ import annotations

import json
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.s3.exceptions import BucketNotEmpty
from moto.s3.models import FakeBucket, s3_backends
from moto.utilities.utils import get_partition

from localcloud.services.cloudformation.resource_type import ResourceType

# The request context bucket policy conditions are evaluated against (see the docstring).
_CONTEXT = {"aws:securetransport": "true"}


def _s3(account_id: str, region_name: str) -> Any:
    return s3_backends[account_id][get_partition(region_name)]


def _policy_body(policy: Any) -> bytes:
    return (policy if isinstance(policy, str) else json.dumps(policy)).encode()


class BucketPolicyResource(ResourceType, CloudFormationModel):
    """`AWS::S3::BucketPolicy`; its physical id is the bucket name, as on AWS."""

    TYPE = "AWS::S3::BucketPolicy"

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.physical_resource_id = bucket

    @classmethod
    def physical_id(cls, name: str, properties: dict[str, Any]) -> str:
        return properties["Bucket"]

    @classmethod
    def create(
        cls, name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> BucketPolicyResource:
        bucket = properties["Bucket"]
        _s3(account_id, region_name).put_bucket_policy(
            bucket, _policy_body(properties["PolicyDocument"])
        )
        return cls(bucket)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _s3(account_id, region_name)
        if self.bucket in backend.buckets:  # a bucket deleted first took its policy along
            backend.delete_bucket_policy(self.bucket)


class AlarmResource(ResourceType, CloudFormationModel):
    """`AWS::CloudWatch::Alarm`; its physical id is the alarm name, as on AWS."""

    TYPE = "AWS::CloudWatch::Alarm"
    NAME_PROPERTY = "AlarmName"

    def __init__(self, name: str, arn: str) -> None:
        self.name = name
        self.arn = arn
        self.physical_resource_id = name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @classmethod
    def physical_id(cls, name: str, properties: dict[str, Any]) -> str:
        return properties.get("AlarmName", name)

    @classmethod
    def create(
        cls, name: str, p: dict[str, Any], account_id: str, region_name: str
    ) -> AlarmResource:
        name = cls.physical_id(name, p)
        cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name,
            namespace=p.get("Namespace"),
            metric_name=p.get("MetricName"),
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p["Period"]) if "Period" in p else None,
            threshold=float(p["Threshold"]) if "Threshold" in p else None,
            statistic=p.get("Statistic"),
            description=p.get("AlarmDescription"),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in p.get("Dimensions", [])],
            alarm_actions=p.get("AlarmActions", []),
            ok_actions=p.get("OKActions", []),
            insufficient_data_actions=p.get("InsufficientDataActions", []),
            datapoints_to_alarm=p.get("DatapointsToAlarm"),
            extended_statistic=p.get("ExtendedStatistic"),
            unit=p.get("Unit"),
            actions_enabled=str(p.get("ActionsEnabled", True)).lower() == "true",
            treat_missing_data=p.get("TreatMissingData"),
            tags=p.get("Tags", []),
        )
        return cls(name, f"arn:aws:cloudwatch:{region_name}:{account_id}:alarm:{name}")

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn


class OidcProviderResource(ResourceType, CloudFormationModel):
    """`AWS::IAM::OIDCProvider`; its physical id is its ARN, as on AWS."""

    TYPE = "AWS::IAM::OIDCProvider"

    def __init__(self, arn: str) -> None:
        self.arn = self.physical_resource_id = arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @classmethod
    def create(
        cls, name: str, p: dict[str, Any], account_id: str, region_name: str
    ) -> OidcProviderResource:
        from moto.iam.models import iam_backends

        backend = iam_backends[account_id][get_partition(region_name)]
        provider = backend.create_open_id_connect_provider(
            p["Url"], p.get("ThumbprintList", []), p.get("ClientIdList", []), p.get("Tags", [])
        )
        return cls(provider.arn)

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.iam.models import iam_backends

        backend = iam_backends[account_id][get_partition(region_name)]
        backend.delete_open_id_connect_provider(self.arn)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn


def _delete_bucket(
    cls: type[FakeBucket],
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> None:
    """S3 refuses to delete a bucket that holds objects; CloudFormation reports it."""
    backend = _s3(account_id, region_name)
    bucket = backend.buckets.get(resource_name)
    if bucket is not None and bucket.keys:
        raise BucketNotEmpty(resource_name)
    backend.delete_bucket(resource_name)


def _get_permission(self: FakeBucket, action: str, resource: str) -> Any:
    """A bucket policy decision with the statements whose conditions on known context keys
    (`aws:SecureTransport`) do not hold left out, as IAM evaluates them."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    applicable = [s for s in statements if _conditions_hold(s.get("Condition", {}))]
    document["Statement"] = applicable
    return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)


def _conditions_hold(conditions: dict[str, Any]) -> bool:
    """IAM's rule: a condition on a key the request context lacks is false (true for an
    `...IfExists` operator); the context holds `aws:SecureTransport` only, so a statement
    conditioned on anything else (`aws:PrincipalArn`, ...) is not applied here."""
    for operator, pairs in conditions.items():
        base, if_exists = operator.removesuffix("IfExists"), operator.endswith("IfExists")
        for key, expected in pairs.items():
            actual = _CONTEXT.get(key.lower())
            if actual is None:
                if if_exists:
                    continue
                return False
            if base not in ("Bool", "StringEquals"):
                return False  # an operator this cloud does not evaluate: not applied
            values = expected if isinstance(expected, list) else [expected]
            if actual not in [str(v).lower() for v in values]:
                return False
    return True


def install() -> None:
    """Register the resource types with moto's CloudFormation (its model lists are cached)."""
    from moto.cloudformation import parsing

    FakeBucket.delete_from_cloudformation_json = classmethod(_delete_bucket)  # type: ignore[method-assign,assignment]
    FakeBucket.get_permission = _get_permission  # type: ignore[method-assign]
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
