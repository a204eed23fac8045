"""SageMaker resources through CloudFormation take every shape the API takes (they are made
through the SageMaker API): a Model of `Containers` serves, the members moto's own
CloudFormation dropped are kept, a template's "1" is an integer, and what the API refuses fails
the resource with the API's own message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers.cloud import BUCKET, ROLE_ARN, put_model
from tests.helpers.cloudformation import stack_status
from tests.helpers.models import model_archive

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.5-cpu-py311"
# The smallest model the serving process loads: no weights to read.
ECHO = """
def model_fn(model_dir):
    return None


def predict_fn(data, model):
    return data
"""


def _model(**properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::SageMaker::Model",
        "Properties": {"ExecutionRoleArn": ROLE_ARN, **properties},
    }


def _config(**properties: Any) -> dict[str, Any]:
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
        "InitialInstanceCount": "1",  # a string, as templates often hold numbers
        "InstanceType": "ml.g5.xlarge",
    }
    return {
        "Type": "AWS::SageMaker::EndpointConfig",
        "Properties": {"ProductionVariants": [variant], **properties},
    }


def _failure(cfn: Any, stack: str) -> tuple[str, str]:
    [failed] = [
        e
        for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]
        if e["ResourceStatus"] == "CREATE_FAILED"
    ]
    return failed["LogicalResourceId"], failed["ResourceStatusReason"]


def test_a_model_of_containers_serves(cloud: Any, s3: Any, runtime: Any) -> None:
    cfn = cloud.client("cloudformation")
    url = put_model(s3, "cfn/containers/model.tar.gz", model_archive(ECHO, weights=False))
    container = {
        "Image": IMAGE,
        "ModelDataUrl": url,
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
    }
    template = {
        "Resources": {
            "Model": _model(Containers=[container], InferenceExecutionConfig={"Mode": "Serial"}),
            "Config": _config(),
            "Endpoint": {
                "Type": "AWS::SageMaker::Endpoint",
                "Properties": {
                    "EndpointName": "containers",
                    "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]},
                },
            },
        }
    }
    cfn.create_stack(StackName="containers", TemplateBody=json.dumps(template))

    assert stack_status(cfn, "containers") == "CREATE_COMPLETE"
    answer = runtime.invoke_endpoint(
        EndpointName="containers", Body=json.dumps([1, 2]), ContentType="application/json"
    )
    assert json.loads(answer["Body"].read()) == [1, 2]
    cfn.delete_stack(StackName="containers")


def test_members_moto_dropped_are_kept(cloud: Any, sagemaker: Any) -> None:
    cfn = cloud.client("cloudformation")
    container = {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/cfn/none/model.tar.gz"}
    shadow = {
        "VariantName": "Shadow",
        "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    capture = {
        "EnableCapture": "true",
        "InitialSamplingPercentage": 50,
        "DestinationS3Uri": f"s3://{BUCKET}/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}],
    }
    vpc = {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}
    template = {
        "Resources": {
            "Model": _model(
                ModelName="shaped",
                PrimaryContainer=container,
                EnableNetworkIsolation="true",
                VpcConfig=vpc,
            ),
            "Config": _config(
                EndpointConfigName="shaped",
                ShadowProductionVariants=[shadow],
                DataCaptureConfig=capture,
            ),
        }
    }
    cfn.create_stack(StackName="shaped", TemplateBody=json.dumps(template))

    assert stack_status(cfn, "shaped") == "CREATE_COMPLETE"
    model = sagemaker.describe_model(ModelName="shaped")
    assert model["EnableNetworkIsolation"] is True
    assert model["VpcConfig"] == vpc
    described = sagemaker.describe_endpoint_config(EndpointConfigName="shaped")
    assert described["ProductionVariants"][0]["InitialInstanceCount"] == 1
    assert described["ShadowProductionVariants"][0]["VariantName"] == "Shadow"
    assert described["DataCaptureConfig"]["InitialSamplingPercentage"] == 50
    cfn.delete_stack(StackName="shaped")


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (
            {"InstanceType": "ml.bogus.xlarge"},
            "1 validation error detected: Value 'ml.bogus.xlarge' at "
            "'productionVariants.1.member.instanceType' failed to satisfy constraint: Member "
            "must satisfy enum value set: [",
        ),
        (
            {"VariantName": "../../x"},
            "1 validation error detected: Value '../../x' at "
            "'productionVariants.1.member.variantName' failed to satisfy constraint: Member "
            "must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62} "
            "(Service: AmazonSageMaker; Status Code: 400; Error Code: ValidationException)",
        ),
        (
            {"InitialInstanceCount": "one"},
            "Properties validation failed for resource Config with message: "
            "#/ProductionVariants/0/InitialInstanceCount: expected type: integer, found: 'one'",
        ),
    ],
)
def test_what_the_api_refuses_fails_the_resource(
    cloud: Any, sagemaker: Any, config: dict[str, Any], reason: str
) -> None:
    cfn = cloud.client("cloudformation")
    container = {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/cfn/none/model.tar.gz"}
    variant_config = _config()
    variant_config["Properties"]["ProductionVariants"][0].update(config)
    template = {
        "Resources": {"Model": _model(PrimaryContainer=container), "Config": variant_config}
    }
    name = f"refused-config-{sorted(config)[0].lower()}"
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))

    assert stack_status(cfn, name) == "ROLLBACK_COMPLETE"
    logical, message = _failure(cfn, name)
    assert logical == "Config"
    assert message.startswith(reason)
    models = [m["ModelName"] for m in sagemaker.list_models()["Models"]]
    assert not [m for m in models if m.startswith(name)]  # the model is rolled back


def test_a_property_the_type_does_not_have_fails_it(cloud: Any) -> None:
    cfn = cloud.client("cloudformation")
    container = {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/cfn/none/model.tar.gz"}
    template = {"Resources": {"Model": _model(PrimaryContainer=container, Colour="blue")}}
    cfn.create_stack(StackName="extraneous", TemplateBody=json.dumps(template))

    assert stack_status(cfn, "extraneous") == "ROLLBACK_COMPLETE"
    assert _failure(cfn, "extraneous") == (
        "Model",
        "Properties validation failed for resource Model with message: "
        "#: extraneous key [Colour] is not permitted",
    )
