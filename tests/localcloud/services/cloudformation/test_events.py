"""Every resource of a stack acts, is recorded, or fails naming its type: a type the cloud does
not create (unknown, Lambda, Studio, notebook instances, monitoring schedules) ends CREATE_FAILED
with a reason naming it and the stack rolls back, taking what it had created along; a type the
cloud only records says so in its event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.services.cloudformation.supported import SUPPORTED
from tests.helpers.cloud import ROLE_ARN
from tests.helpers.cloudformation import stack_status

REFUSED = {
    "AWS::Fake::Thing": {},
    "AWS::Lambda::Function": {
        "Role": ROLE_ARN,
        "Runtime": "python3.11",
        "Handler": "index.handler",
        "Code": {"ZipFile": "def handler(event, context):\n    return 1\n"},
    },
    "AWS::SageMaker::NotebookInstance": {"InstanceType": "ml.t3.medium", "RoleArn": ROLE_ARN},
    "AWS::SageMaker::Domain": {
        "DomainName": "d",
        "AuthMode": "IAM",
        "DefaultUserSettings": {"ExecutionRole": ROLE_ARN},
        "SubnetIds": ["subnet-1"],
        "VpcId": "vpc-1",
    },
    "AWS::SageMaker::MonitoringSchedule": {"MonitoringScheduleName": "m"},
    "Custom::Thing": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f"},
}


def _events(cfn: Any, stack: str) -> list[tuple[str, str, str, str]]:
    """(logical id, type, status, reason) of the stack's events, oldest first."""
    return [
        (
            e["LogicalResourceId"],
            e["ResourceType"],
            e["ResourceStatus"],
            e.get("ResourceStatusReason", ""),
        )
        for e in reversed(cfn.describe_stack_events(StackName=stack)["StackEvents"])
    ]


@pytest.mark.parametrize("resource_type", sorted(REFUSED))
def test_a_type_the_cloud_does_not_create_fails_the_stack(cloud: Any, resource_type: str) -> None:
    cfn, s3 = cloud.client("cloudformation"), cloud.client("s3")
    name = "refused-" + resource_type.replace("::", "-").lower()
    bucket = f"{name}-bucket"
    template = {
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket}},
            "Thing": {
                "Type": resource_type,
                "Properties": REFUSED[resource_type],
                "DependsOn": "Bucket",
            },
        }
    }
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))

    assert stack_status(cfn, name) == "ROLLBACK_COMPLETE"
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatusReason"] == (
        "The following resource(s) failed to create: [Thing]. Rollback requested by user."
    )
    [failed] = [e for e in _events(cfn, name) if e[2] == "CREATE_FAILED"]
    assert failed[:3] == ("Thing", resource_type, "CREATE_FAILED")
    assert failed[3].startswith(f"The local cloud does not create {resource_type}: ")
    # what the stack had created is rolled back
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_a_recorded_type_says_so_and_a_created_one_completes(cloud: Any) -> None:
    cfn = cloud.client("cloudformation")
    template = {
        "Resources": {
            "CDKMetadata": {"Type": "AWS::CDK::Metadata", "Properties": {"Analytics": "v2:x"}},
            "Parameter": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "/events/p", "Type": "String", "Value": "v"},
            },
        }
    }
    cfn.create_stack(StackName="recorded", TemplateBody=json.dumps(template))

    assert stack_status(cfn, "recorded") == "CREATE_COMPLETE"
    complete = {e[0]: e[3] for e in _events(cfn, "recorded") if e[2] == "CREATE_COMPLETE"}
    assert complete["CDKMetadata"] == "Recorded only: " + SUPPORTED["AWS::CDK::Metadata"][1]
    assert complete["Parameter"] == ""
    assert cloud.client("ssm").get_parameter(Name="/events/p")["Parameter"]["Value"] == "v"
    cfn.delete_stack(StackName="recorded")


def test_an_update_that_adds_a_refused_type_rolls_back(cloud: Any) -> None:
    cfn, ssm = cloud.client("cloudformation"), cloud.client("ssm")
    parameter = {
        "Type": "AWS::SSM::Parameter",
        "Properties": {"Name": "/events/kept", "Type": "String", "Value": "v1"},
    }
    cfn.create_stack(
        StackName="grown", TemplateBody=json.dumps({"Resources": {"Parameter": parameter}})
    )
    assert stack_status(cfn, "grown") == "CREATE_COMPLETE"
    grown = {"Parameter": parameter, "Function": {"Type": "AWS::Lambda::Function"}}
    cfn.update_stack(StackName="grown", TemplateBody=json.dumps({"Resources": grown}))

    assert stack_status(cfn, "grown") == "UPDATE_ROLLBACK_COMPLETE"
    stack = cfn.describe_stacks(StackName="grown")["Stacks"][0]
    assert stack["StackStatusReason"] == "The following resource(s) failed to create: [Function]."
    [failed] = [e for e in _events(cfn, "grown") if e[2] == "CREATE_FAILED"]
    assert failed[3].startswith("The local cloud does not create AWS::Lambda::Function: ")
    assert ssm.get_parameter(Name="/events/kept")["Parameter"]["Value"] == "v1"
    cfn.delete_stack(StackName="grown")
