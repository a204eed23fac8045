"""CloudFormation on the local cloud: a stack of one served SageMaker endpoint (`stacked`), the
wait for a stack to settle, and a prediction from that endpoint."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers.cloud import PYTORCH_IMAGE, ROLE_ARN, poll, put_model
from tests.helpers.models import model_archive


def template(model_data_url: str, config_name: str) -> str:
    """A model, an endpoint config named `config_name` and the endpoint `stacked`."""
    return json.dumps(
        {
            "Resources": {
                "Model": {
                    "Type": "AWS::SageMaker::Model",
                    "Properties": {
                        "ExecutionRoleArn": ROLE_ARN,
                        "PrimaryContainer": {
                            "Image": PYTORCH_IMAGE,
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
    """The stack's status once it is no longer IN_PROGRESS."""
    return poll(
        lambda: cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"],
        lambda status: not status.endswith("IN_PROGRESS"),
        lambda status: f"stack {name} still {status}",
        240,
        0.5,
    )


def two_models(s3: Any, prefix: str, seed: int) -> tuple[str, str]:
    """The S3 URLs of two models (seeds `seed`, `seed + 1`) put at `<prefix>/v1/model.tar.gz`
    and `<prefix>/v2/model.tar.gz`."""
    v1 = put_model(s3, f"{prefix}/v1/model.tar.gz", model_archive(seed=seed))
    v2 = put_model(s3, f"{prefix}/v2/model.tar.gz", model_archive(seed=seed + 1))
    return v1, v2


def predict(runtime: Any) -> list[float]:
    """The `stacked` endpoint's probabilities for one grey image."""
    answer = runtime.invoke_endpoint(
        EndpointName="stacked", Body=json.dumps([[[0.5] * 28] * 28]), ContentType="application/json"
    )
    return json.loads(answer["Body"].read())["predictions"][0]["probabilities"]
