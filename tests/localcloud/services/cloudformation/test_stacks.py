"""CloudFormation stacks of SageMaker resources on the local cloud: named as the template says,
the endpoint serving when the stack is complete, updated in place, a broken model failing it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers.cloud import BUCKET
from tests.helpers.cloudformation import predict, stack_status, template, two_models

pytestmark = pytest.mark.slow


def test_stack_creates_updates_in_place_and_deletes(
    cloud: Any, s3: Any, sagemaker: Any, runtime: Any
) -> None:
    cfn = cloud.client("cloudformation")
    v1, v2 = two_models(s3, "cfn", seed=11)
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
    second = predict(runtime)

    # An update that fails rolls the stack back: its template is v2's again, v2 serves.
    missing = f"s3://{BUCKET}/cfn/missing/model.tar.gz"
    cfn.update_stack(StackName="served", TemplateBody=template(missing, "config-v3"))
    assert stack_status(cfn, "served") == "UPDATE_ROLLBACK_COMPLETE"
    body = cfn.get_template(StackName="served")["TemplateBody"]
    assert (json.loads(body) if isinstance(body, str) else body) == json.loads(
        template(v2, "config-v2")
    )
    assert cfn.describe_stacks(StackName="served")["Stacks"][0]["Outputs"] == outputs
    assert sagemaker.describe_endpoint(EndpointName="stacked")["EndpointConfigName"] == "config-v2"
    assert predict(runtime) == second

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
