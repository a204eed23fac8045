"""The CloudFormation resource types of Application Auto Scaling on the local cloud: a stack's
target and target tracking policy go through the service (the variant is checked, the policy's
alarms are made), and deleting the stack takes the target, the policy and the alarms away."""

from __future__ import annotations

import json

from tests.helpers.cloud import Cloud
from tests.helpers.cloudformation import stack_status

DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def _template(endpoint: str) -> str:
    return json.dumps(
        {
            "Resources": {
                "Target": {
                    "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
                    "Properties": {
                        "ServiceNamespace": "sagemaker",
                        "ResourceId": f"endpoint/{endpoint}/variant/AllTraffic",
                        "ScalableDimension": DIMENSION,
                        "MinCapacity": 1,
                        "MaxCapacity": 2,
                        "RoleARN": "arn:aws:iam::123456789012:role/autoscaling",
                    },
                },
                "Policy": {
                    "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                    "Properties": {
                        "PolicyName": "stack-invocations",
                        "PolicyType": "TargetTrackingScaling",
                        "ScalingTargetId": {"Ref": "Target"},
                        "TargetTrackingScalingPolicyConfiguration": {
                            "TargetValue": 200,
                            "PredefinedMetricSpecification": {
                                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                            },
                        },
                    },
                },
            }
        }
    )


def test_a_stacks_scaling_is_the_services_and_goes_with_the_stack(
    fast_cloud: Cloud, scaled_endpoint: str
) -> None:
    cfn = fast_cloud.client("cloudformation")
    scaling = fast_cloud.client("application-autoscaling")
    cloudwatch = fast_cloud.client("cloudwatch")
    resource = f"endpoint/{scaled_endpoint}/variant/AllTraffic"

    cfn.create_stack(StackName="scaling", TemplateBody=_template(scaled_endpoint))
    assert stack_status(cfn, "scaling") == "CREATE_COMPLETE"
    policies = scaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)
    [policy] = policies["ScalingPolicies"]
    names = [a["AlarmName"] for a in policy["Alarms"]]
    assert len(names) == 2
    assert len(cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]) == 2

    cfn.create_stack(StackName="scaling-nope", TemplateBody=_template("nope"))
    assert stack_status(cfn, "scaling-nope") == "ROLLBACK_COMPLETE"
    reasons = [
        e.get("ResourceStatusReason", "")
        for e in cfn.describe_stack_events(StackName="scaling-nope")["StackEvents"]
        if e["ResourceStatus"] == "CREATE_FAILED"
    ]
    assert any("Could not find endpoint nope" in r for r in reasons), reasons
    cfn.delete_stack(StackName="scaling-nope")

    cfn.delete_stack(StackName="scaling")  # moto's CloudFormation deletes before it answers
    assert (
        scaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])[
            "ScalableTargets"
        ]
        == []
    )
    assert cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"] == []
