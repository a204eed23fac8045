"""CloudFormation stacks of SageMaker resources on the local cloud: named as the template says,
the endpoint serving when the stack is complete, updated in place, a broken model failing it."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from cloudkit import BUCKET, ROLE_ARN, model_archive, put_model

pytestmark = pytest.mark.slow


def template(model_data_url: str, config_name: str) -> str:
    return json.dumps(
        {
            "Resources": {
                "Model": {
                    "Type": "AWS::SageMaker::Model",
                    "Properties": {
                        "ExecutionRoleArn": ROLE_ARN,
                        "PrimaryContainer": {
                            "Image": "pytorch-inference:2.5-cpu-py311",
                            "ModelDataUrl": model_data_url,
                            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
                        },
                    },
                },
                "Config": {
                    "Type": "AWS::SageMaker::EndpointConfig",
                    "Properties": {
                        "EndpointConfigName": config_name,
                        "ProductionVariants": [
                            {
                                "VariantName": "AllTraffic",
                                "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
                                "InitialInstanceCount": 1,
                                "InstanceType": "ml.m5.xlarge",
                            }
                        ],
                    },
                },
                "Endpoint": {
                    "Type": "AWS::SageMaker::Endpoint",
                    "Properties": {
                        "EndpointName": "stacked",
                        "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]},
                    },
                },
            },
            "Outputs": {"EndpointName": {"Value": {"Fn::GetAtt": ["Endpoint", "EndpointName"]}}},
        }
    )


def stack_status(cfn: Any, name: str) -> str:
    deadline = time.monotonic() + 240
    while True:
        status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if not status.endswith("IN_PROGRESS"):
            return status
        assert time.monotonic() < deadline
        time.sleep(0.5)


def predict(runtime: Any) -> list[float]:
    answer = runtime.invoke_endpoint(
        EndpointName="stacked", Body=json.dumps([[[0.5] * 28] * 28]), ContentType="application/json"
    )
    return json.loads(answer["Body"].read())["predictions"][0]["probabilities"]


def test_stack_creates_updates_in_place_and_deletes(
    cloud: Any, s3: Any, sagemaker: Any, runtime: Any
) -> None:
    cfn = cloud.client("cloudformation")
    v1 = put_model(s3, "cfn/v1/model.tar.gz", model_archive(seed=11))
    v2 = put_model(s3, "cfn/v2/model.tar.gz", model_archive(seed=12))
    cfn.create_stack(StackName="served", TemplateBody=template(v1, "config-v1"))
    assert stack_status(cfn, "served") == "CREATE_COMPLETE"
    outputs = cfn.describe_stacks(StackName="served")["Stacks"][0]["Outputs"]
    assert outputs == [{"OutputKey": "EndpointName", "OutputValue": "stacked"}]
    described = sagemaker.describe_endpoint(EndpointName="stacked")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "config-v1"
    first = predict(runtime)

    cfn.update_stack(StackName="served", TemplateBody=template(v2, "config-v2"))
    assert stack_status(cfn, "served") == "UPDATE_COMPLETE"
    described = sagemaker.describe_endpoint(EndpointName="stacked")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "config-v2"
    model_name = sagemaker.describe_endpoint_config(EndpointConfigName="config-v2")[
        "ProductionVariants"
    ][0]["ModelName"]
    assert sagemaker.describe_model(ModelName=model_name)["PrimaryContainer"]["ModelDataUrl"] == v2
    assert predict(runtime) != first

    cfn.delete_stack(StackName="served")
    endpoints = sagemaker.list_endpoints()["Endpoints"]
    assert "stacked" not in [e["EndpointName"] for e in endpoints]


def test_a_stack_whose_endpoint_cannot_serve_fails(cloud: Any, sagemaker: Any) -> None:
    cfn = cloud.client("cloudformation")
    missing = f"s3://{BUCKET}/cfn/missing/model.tar.gz"
    cfn.create_stack(StackName="broken", TemplateBody=template(missing, "config-broken"))
    assert stack_status(cfn, "broken") == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="broken")["StackEvents"]
    reasons = [e.get("ResourceStatusReason", "") for e in events]
    assert any("could not download the model data" in r for r in reasons)
    assert "stacked" not in [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]]
