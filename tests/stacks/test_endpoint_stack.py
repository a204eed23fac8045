"""EndpointStack: model, endpoint config, endpoint, autoscaling and rollback alarms."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from smlocal.core.environments import load_all
from stacks.config_name import endpoint_config_name
from stacks.endpoint_stack import endpoint_config_content
from tests.helpers.stacks import SHA_A, SHA_B, URL_A, URL_B, Synth

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"
ROLE_ARN = "arn:aws:iam::123456789012:role/SageMaker-local"


@pytest.fixture(scope="module")
def dev(synth: Synth) -> Template:
    return Template.from_json(synth.template("SageMakerEndpoint-dev"))


@pytest.fixture(scope="module")
def staging(synth: Synth) -> Template:
    return Template.from_json(synth.template("SageMakerEndpoint-staging"))


@pytest.fixture(scope="module")
def prod(synth: Synth) -> Template:
    return Template.from_json(synth.template("SageMakerEndpoint-prod"))


@pytest.fixture(scope="module")
def queue(synth: Synth) -> Template:
    return Template.from_json(synth.template("SageMakerEndpoint-queue"))


@pytest.fixture(scope="module")
def eu(synth: Synth) -> Template:
    return Template.from_json(synth.template("SageMakerEndpoint-eu"))


def _only(template: Template, kind: str) -> tuple[str, dict[str, Any]]:
    (item,) = template.find_resources(kind).items()
    return item


def test_model_serves_the_pinned_artifact_with_the_execution_role(prod: Template) -> None:
    prod.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "ExecutionRoleArn": ROLE_ARN,
            "EnableNetworkIsolation": True,
            "PrimaryContainer": {
                "Image": IMAGE,
                "ModelDataUrl": URL_A,
                "Environment": Match.object_like(
                    {
                        "SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                        "SAGEMAKER_REGION": "us-east-1",
                    }
                ),
            },
            "Tags": Match.array_with([{"Key": "smlocal:model-sha256", "Value": SHA_A}]),
        },
    )


@pytest.mark.parametrize("name", ["dev", "staging", "prod", "queue", "eu"])
def test_model_and_endpoint_get_no_physical_names(synth: Synth, name: str) -> None:
    t = Template.from_json(synth.template(f"SageMakerEndpoint-{name}"))
    t.has_resource_properties("AWS::SageMaker::Model", {"ModelName": Match.absent()})
    t.has_resource_properties("AWS::SageMaker::Endpoint", {"EndpointName": Match.absent()})


@pytest.mark.parametrize("name", ["dev", "staging", "prod", "queue", "eu"])
def test_config_name_is_env_and_content_hash(synth: Synth, name: str) -> None:
    t = Template.from_json(synth.template(f"SageMakerEndpoint-{name}"))
    _, config = _only(t, "AWS::SageMaker::EndpointConfig")
    assert re.fullmatch(rf"{name}-[0-9a-f]{{10}}", config["Properties"]["EndpointConfigName"])


def test_config_references_model_and_endpoint_references_config_by_name(prod: Template) -> None:
    model_id, _ = _only(prod, "AWS::SageMaker::Model")
    config_id, _ = _only(prod, "AWS::SageMaker::EndpointConfig")
    prod.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like({"ModelName": {"Fn::GetAtt": [model_id, "ModelName"]}})
            ]
        },
    )
    prod.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {"EndpointConfigName": {"Fn::GetAtt": [config_id, "EndpointConfigName"]}},
    )


def test_serverless_variant(dev: Template) -> None:
    dev.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like(
                    {
                        "VariantName": "AllTraffic",
                        "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
                        "InstanceType": Match.absent(),
                        "InitialInstanceCount": Match.absent(),
                    }
                )
            ]
        },
    )
    # Serverless: no network isolation, no blue/green policy, no autoscaling, no alarms.
    dev.has_resource_properties("AWS::SageMaker::Model", {"EnableNetworkIsolation": Match.absent()})
    dev.has_resource_properties("AWS::SageMaker::Endpoint", {"DeploymentConfig": Match.absent()})
    dev.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    dev.resource_count_is("AWS::CloudWatch::Alarm", 0)


def test_serverless_provisioned_concurrency(staging: Template) -> None:
    staging.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like(
                    {
                        "ServerlessConfig": {
                            "MemorySizeInMB": 3072,
                            "MaxConcurrency": 10,
                            "ProvisionedConcurrency": 2,
                        }
                    }
                )
            ]
        },
    )


def test_provisioned_variant(prod: Template) -> None:
    prod.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like(
                    {
                        "VariantName": "AllTraffic",
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": 2,
                        "InitialVariantWeight": 1,
                        "ServerlessConfig": Match.absent(),
                    }
                )
            ]
        },
    )


def test_autoscaling_tracks_invocations_per_instance(prod: Template) -> None:
    endpoint_id, _ = _only(prod, "AWS::SageMaker::Endpoint")
    target_id, _ = _only(prod, "AWS::ApplicationAutoScaling::ScalableTarget")
    prod.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ServiceNamespace": "sagemaker",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "MinCapacity": 1,
            "MaxCapacity": 4,
            "ResourceId": {
                "Fn::Join": [
                    "",
                    [
                        "endpoint/",
                        {"Fn::GetAtt": [endpoint_id, "EndpointName"]},
                        "/variant/AllTraffic",
                    ],
                ]
            },
            # Application Auto Scaling's service-linked role, no role of our own.
            "RoleARN": {
                "Fn::Join": [
                    "",
                    Match.array_with(
                        [
                            Match.string_like_regexp(
                                "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint$"
                            )
                        ]
                    ),
                ]
            },
        },
    )
    prod.resource_count_is("AWS::IAM::Role", 0)
    prod.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": {"Ref": target_id},
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
                "TargetValue": 200,
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        },
    )


def test_data_capture_goes_to_the_default_bucket_unless_named(
    prod: Template, eu: Template, dev: Template
) -> None:
    prod.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 50,
                "DestinationS3Uri": "s3://sagemaker-us-east-1-123456789012/data-capture",
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            }
        },
    )
    for template in (eu, dev):  # no data_capture block: none declared
        template.has_resource_properties(
            "AWS::SageMaker::EndpointConfig", {"DataCaptureConfig": Match.absent()}
        )


def test_provisioned_without_autoscaling_has_no_scaling(eu: Template) -> None:
    eu.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    eu.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 0)
    eu.has_resource_properties("AWS::SageMaker::Endpoint", {"DeploymentConfig": Match.any_value()})


def test_a_canary_deployment_is_the_manifests_choice(eu: Template) -> None:
    _, endpoint = _only(eu, "AWS::SageMaker::Endpoint")
    assert endpoint["Properties"]["DeploymentConfig"]["BlueGreenUpdatePolicy"] == {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            "WaitIntervalInSeconds": 120,
        },
        "TerminationWaitInSeconds": 600,
        "MaximumExecutionTimeoutInSeconds": 1800,
    }


def test_blue_green_deployment_rolls_back_on_the_alarms(prod: Template) -> None:
    alarms = prod.find_resources("AWS::CloudWatch::Alarm")
    names = sorted(a["Properties"]["AlarmName"] for a in alarms.values())
    assert names == ["SageMakerEndpoint-prod-5xx-errors", "SageMakerEndpoint-prod-model-latency"]
    _, endpoint = _only(prod, "AWS::SageMaker::Endpoint")
    deployment = endpoint["Properties"]["DeploymentConfig"]
    assert deployment["BlueGreenUpdatePolicy"] == {
        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
        "TerminationWaitInSeconds": 300,
        "MaximumExecutionTimeoutInSeconds": 1800,
    }
    rollback = sorted(a["AlarmName"] for a in deployment["AutoRollbackConfiguration"]["Alarms"])
    assert rollback == names


@pytest.mark.parametrize(
    ("metric", "statistic", "threshold"),
    [("Invocation5XXErrors", "Sum", 0), ("ModelLatency", "Average", 1_000_000)],
)
def test_rollback_alarm_watches_the_variant(
    prod: Template, metric: str, statistic: str, threshold: int
) -> None:
    endpoint_id, _ = _only(prod, "AWS::SageMaker::Endpoint")
    prod.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SageMaker",
            "MetricName": metric,
            "Statistic": statistic,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "Dimensions": [
                {"Name": "EndpointName", "Value": {"Fn::GetAtt": [endpoint_id, "EndpointName"]}},
                {"Name": "VariantName", "Value": "AllTraffic"},
            ],
        },
    )


def test_outputs(prod: Template) -> None:
    endpoint_id, _ = _only(prod, "AWS::SageMaker::Endpoint")
    config_id, _ = _only(prod, "AWS::SageMaker::EndpointConfig")
    model_id, _ = _only(prod, "AWS::SageMaker::Model")
    prod.has_output("EndpointName", {"Value": {"Fn::GetAtt": [endpoint_id, "EndpointName"]}})
    prod.has_output(
        "EndpointConfigName", {"Value": {"Fn::GetAtt": [config_id, "EndpointConfigName"]}}
    )
    prod.has_output("ModelName", {"Value": {"Fn::GetAtt": [model_id, "ModelName"]}})
    prod.has_output("RoleArn", {"Value": ROLE_ARN})
    prod.has_output("BucketName", {"Value": "sagemaker-us-east-1-123456789012"})


def test_changed_pin_changes_only_the_model_and_the_config_name(synth: Synth) -> None:
    before = synth.template("SageMakerEndpoint-prod")["Resources"]
    after = synth.changed_pin_prod["Resources"]
    assert before.keys() == after.keys()
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"Model", "EndpointConfig"}

    container = after["Model"]["Properties"]["PrimaryContainer"]
    assert (
        before["Model"]["Properties"]["PrimaryContainer"]["ModelDataUrl"],
        container["ModelDataUrl"],
    ) == (URL_A, URL_B)
    assert {"Key": "smlocal:model-sha256", "Value": SHA_B} in after["Model"]["Properties"]["Tags"]

    old_config, new_config = before["EndpointConfig"], after["EndpointConfig"]
    assert (
        old_config["Properties"]["EndpointConfigName"]
        != new_config["Properties"]["EndpointConfigName"]
    )
    del (
        old_config["Properties"]["EndpointConfigName"],
        new_config["Properties"]["EndpointConfigName"],
    )
    assert old_config == new_config  # the rest still points at the model by GetAtt


BUCKET = "sagemaker-us-east-1-123456789012"


def test_async_config_answers_into_the_default_bucket(queue: Template, prod: Template) -> None:
    queue.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "AsyncInferenceConfig": {
                "OutputConfig": {
                    "S3OutputPath": f"s3://{BUCKET}/async-inference/output",
                    "S3FailurePath": f"s3://{BUCKET}/async-inference/failures",
                },
                "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
            },
            "ProductionVariants": [
                Match.object_like(
                    {
                        "VariantName": "AllTraffic",
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": 1,
                        "ServerlessConfig": Match.absent(),
                    }
                )
            ],
            "DataCaptureConfig": Match.absent(),
        },
    )
    prod.has_resource_properties(
        "AWS::SageMaker::EndpointConfig", {"AsyncInferenceConfig": Match.absent()}
    )


def test_async_endpoint_is_isolated_autoscaled_and_rolled_back_as_provisioned(
    queue: Template,
) -> None:
    queue.has_resource_properties("AWS::SageMaker::Model", {"EnableNetworkIsolation": True})
    queue.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 1, "MaxCapacity": 3}
    )
    queue.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {"DeploymentConfig": Match.object_like({"AutoRollbackConfiguration": Match.any_value()})},
    )
    # The request timeout is a setting of each request (smlocal predict), not of the config.
    assert "600" not in json.dumps(queue.find_resources("AWS::SageMaker::EndpointConfig"))


def test_async_settings_name_the_config(synth: Synth) -> None:
    queue = load_all(synth.manifests)["queue"]
    spec = queue.async_
    assert spec is not None
    other = queue.model_copy(
        update={"async_": spec.model_copy(update={"output_prefix": "elsewhere/out"})}
    )
    names = {endpoint_config_name(env.name, endpoint_config_content(env)) for env in (queue, other)}
    assert len(names) == 2
