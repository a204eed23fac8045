"""Application Auto Scaling acts on a SageMaker variant of a running endpoint, through boto3 at
a 60x clock: targets checked, target tracking alarms as AWS makes them, load (PutMetricData, as
the endpoint's InvocationsPerInstance) scales 1 -> 3 and idle back to the minimum, a raised
MinCapacity scales at once, and DescribeScalingActivities tells each step."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.services.autoscaling.scaling import step_capacity
from tests.helpers.cloud import Cloud, poll, wait_endpoint

ENDPOINT = "scaled"  # the `scaled_endpoint` fixture's
RESOURCE = f"endpoint/{ENDPOINT}/variant/AllTraffic"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@pytest.fixture(scope="module")
def clients(fast_cloud: Cloud, scaled_endpoint: str) -> tuple[Any, Any, Any]:
    assert scaled_endpoint == ENDPOINT
    return (
        fast_cloud.client("application-autoscaling"),
        fast_cloud.client("cloudwatch"),
        fast_cloud.client("sagemaker"),
    )


def _register(autoscaling: Any, resource: str, low: int, high: int) -> None:
    autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=DIMENSION,
        MinCapacity=low,
        MaxCapacity=high,
    )


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (
            "endpoint/nope/variant/AllTraffic",
            "Could not find endpoint nope for resource ID endpoint/nope/variant/AllTraffic",
        ),
        (
            f"endpoint/{ENDPOINT}/variant/Nope",
            f"Could not find variant Nope of endpoint {ENDPOINT} for resource ID "
            f"endpoint/{ENDPOINT}/variant/Nope",
        ),
    ],
)
def test_a_variant_that_does_not_exist_is_refused(
    clients: tuple[Any, Any, Any], resource: str, message: str
) -> None:
    autoscaling = clients[0]
    with pytest.raises(ClientError) as refused:
        _register(autoscaling, resource, 1, 2)
    error = refused.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("ValidationException", message)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    found = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")
    assert resource not in [t["ResourceId"] for t in found["ScalableTargets"]]


def _variant(sagemaker: Any) -> dict[str, Any]:
    return sagemaker.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"][0]


def _invocations(cloudwatch: Any, value: float) -> None:
    """What the endpoint publishes each minute, as PutMetricData."""
    cloudwatch.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "InvocationsPerInstance",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": ENDPOINT},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Value": value,
            }
        ],
    )


def _until_count(sagemaker: Any, cloudwatch: Any, load: float, count: int) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        _invocations(cloudwatch, load)
        return _variant(sagemaker)

    return poll(
        read,
        lambda v: v.get("DesiredInstanceCount") == count,
        lambda v: f"variant at {v.get('DesiredInstanceCount')} instances, not {count}",
        timeout_s=90,
        interval_s=0.2,
    )


def test_target_tracking_scales_out_under_load_and_back_in_when_idle(
    clients: tuple[Any, Any, Any],
) -> None:
    autoscaling, cloudwatch, sagemaker = clients
    _register(autoscaling, RESOURCE, 1, 3)
    put = autoscaling.put_scaling_policy(
        PolicyName="invocations",
        ServiceNamespace="sagemaker",
        ResourceId=RESOURCE,
        ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 100.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleOutCooldown": 60,
            "ScaleInCooldown": 60,
        },
    )
    names = sorted(a["AlarmName"] for a in put["Alarms"])
    uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    assert re.fullmatch(f"TargetTracking-{RESOURCE}-AlarmHigh-{uuid}", names[0])
    assert re.fullmatch(f"TargetTracking-{RESOURCE}-AlarmLow-{uuid}", names[1])
    alarms = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    shapes = {
        (
            a["MetricName"],
            a["Namespace"],
            a["Statistic"],
            a["Period"],
            a["EvaluationPeriods"],
            a["DatapointsToAlarm"],
            a["ComparisonOperator"],
            a["Threshold"],
        )
        for a in alarms
    }
    assert shapes == {
        ("InvocationsPerInstance", "AWS/SageMaker", "Sum", 60, 3, 3, "GreaterThanThreshold", 100),
        ("InvocationsPerInstance", "AWS/SageMaker", "Sum", 60, 15, 15, "LessThanThreshold", 90),
    }
    assert all(a["AlarmActions"][0].startswith(put["PolicyARN"]) for a in alarms)

    assert _variant(sagemaker)["DesiredInstanceCount"] == 1
    _until_count(sagemaker, cloudwatch, 150.0, 3)  # load: well above 100 per instance
    _until_count(sagemaker, cloudwatch, 0.0, 1)  # idle: back to the minimum

    wait_endpoint(sagemaker, ENDPOINT)  # the instances are stopped
    _register(autoscaling, RESOURCE, 2, 3)  # a raised minimum scales at once
    assert _variant(sagemaker)["DesiredInstanceCount"] == 2
    assert wait_endpoint(sagemaker, ENDPOINT)["ProductionVariants"][0]["CurrentInstanceCount"] == 2

    activities = autoscaling.describe_scaling_activities(
        ServiceNamespace="sagemaker", ResourceId=RESOURCE
    )["ScalingActivities"]
    steps = [(a["Description"], a["StatusCode"]) for a in activities]
    assert steps == [
        ("Setting desired instance count to 2.", "Successful"),
        ("Setting desired instance count to 1.", "Successful"),
        ("Setting desired instance count to 3.", "Successful"),
    ]
    causes = [a["Cause"] for a in activities]
    assert causes[0] == "minimum capacity was set to 2"
    assert re.fullmatch(
        f"monitor alarm {re.escape(names[1])} in state ALARM triggered policy invocations",
        causes[1],
    )
    assert re.fullmatch(
        f"monitor alarm {re.escape(names[0])} in state ALARM triggered policy invocations",
        causes[2],
    )
    assert activities[0]["StatusMessage"] == (
        "Successfully set desired instance count to 2. Change successfully fulfilled by sagemaker."
    )

    # Deleting the policy deletes its alarms; deregistering leaves no target.
    autoscaling.delete_scaling_policy(
        PolicyName="invocations",
        ServiceNamespace="sagemaker",
        ResourceId=RESOURCE,
        ScalableDimension=DIMENSION,
    )
    assert cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"] == []
    autoscaling.deregister_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=RESOURCE, ScalableDimension=DIMENSION
    )


STEPS = [
    {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 50, "ScalingAdjustment": 1},
    {"MetricIntervalLowerBound": 50, "ScalingAdjustment": 3},
]


@pytest.mark.parametrize(
    ("kind", "breach", "current", "desired"),
    [
        ("ChangeInCapacity", 10.0, 2, 3),  # in the first step
        ("ChangeInCapacity", 50.0, 2, 5),  # a lower bound is inclusive
        ("ExactCapacity", 80.0, 2, 3),
        ("PercentChangeInCapacity", 10.0, 4, 4),  # 1 % of 4 rounds to 0, at least 0
        ("ChangeInCapacity", -5.0, 2, 2),  # below every step: no change
    ],
)
def test_step_scaling_takes_the_step_the_breach_falls_in(
    kind: str, breach: float, current: int, desired: int
) -> None:
    config = {"AdjustmentType": kind, "StepAdjustments": STEPS}
    assert step_capacity(config, current, breach) == desired
