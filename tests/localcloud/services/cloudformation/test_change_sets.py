"""CloudFormation change sets on the local cloud, as `cdk deploy` uses them by default: create,
describe, list, execute, delete; Outputs kept; the endpoint served when the stack is complete;
S3 bucket policies and CloudWatch alarms created for real; a delete S3 refuses fails the stack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.cloudformation import predict, stack_status, template, two_models

pytestmark = pytest.mark.slow

NO_CHANGES = (
    "The submitted information didn't contain changes. "
    "Submit different information to create a change set."
)


def change_set(cfn: Any, stack: str, name: str, body: str, kind: str) -> dict[str, Any]:
    cfn.create_change_set(
        StackName=stack, ChangeSetName=name, TemplateBody=body, ChangeSetType=kind
    )
    return cfn.describe_change_set(StackName=stack, ChangeSetName=name)


def test_change_sets_create_and_update_a_served_stack_with_its_outputs(
    cloud: Any, s3: Any, sagemaker: Any, runtime: Any
) -> None:
    cfn = cloud.client("cloudformation")
    v1, v2 = two_models(s3, "cs", seed=21)

    created = change_set(cfn, "changed", "deploy", template(v1, "cs-config-v1"), "CREATE")
    assert (created["Status"], created["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")
    stack = cfn.describe_stacks(StackName="changed")["Stacks"][0]
    assert stack["StackStatus"] == "REVIEW_IN_PROGRESS"
    listed = cfn.list_change_sets(StackName="changed")["Summaries"]
    assert [c["ChangeSetName"] for c in listed] == ["deploy"]

    cfn.execute_change_set(StackName="changed", ChangeSetName="deploy")
    assert stack_status(cfn, "changed") == "CREATE_COMPLETE"
    stack = cfn.describe_stacks(StackName="changed")["Stacks"][0]
    assert stack["Outputs"] == [{"OutputKey": "EndpointName", "OutputValue": "stacked"}]
    assert sagemaker.describe_endpoint(EndpointName="stacked")["EndpointStatus"] == "InService"
    first = predict(runtime)
    assert cfn.list_change_sets(StackName="changed")["Summaries"] == []  # executed: gone

    # The same template again: a FAILED change set that says why, deleted by name (cdk diff).
    same = change_set(cfn, "changed", "diff", template(v1, "cs-config-v1"), "UPDATE")
    assert (same["Status"], same["ExecutionStatus"]) == ("FAILED", "UNAVAILABLE")
    assert same["StatusReason"] == NO_CHANGES
    cfn.delete_change_set(StackName="changed", ChangeSetName="diff")
    cfn.delete_change_set(StackName="changed", ChangeSetName="diff")  # by name: no error
    assert cfn.list_change_sets(StackName="changed")["Summaries"] == []
    with pytest.raises(ClientError) as missing:
        cfn.describe_change_set(StackName="changed", ChangeSetName="diff")
    assert missing.value.response["Error"]["Code"] == "ChangeSetNotFound"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    updated = change_set(cfn, "changed", "deploy", template(v2, "cs-config-v2"), "UPDATE")
    assert updated["Status"] == "CREATE_COMPLETE"
    cfn.execute_change_set(StackName="changed", ChangeSetName="deploy")
    assert stack_status(cfn, "changed") == "UPDATE_COMPLETE"
    stack = cfn.describe_stacks(StackName="changed")["Stacks"][0]
    assert stack["Outputs"] == [{"OutputKey": "EndpointName", "OutputValue": "stacked"}]
    described = sagemaker.describe_endpoint(EndpointName="stacked")
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == (
        "InService",
        "cs-config-v2",
    )
    assert predict(runtime) != first

    cfn.delete_stack(StackName="changed")
    assert "stacked" not in [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]]


def bucket_template(bucket: str, *, retain: bool) -> str:
    arn = f"arn:aws:s3:::{bucket}"
    policy = {  # what the CDK writes for enforceSSL
        "Version": "2012-10-17",
        "Statement": [
            {
                "Action": "s3:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Resource": [arn, f"{arn}/*"],
            }
        ],
    }
    return json.dumps(
        {
            "Resources": {
                "Bucket": {
                    "Type": "AWS::S3::Bucket",
                    "Properties": {"BucketName": bucket},
                    "DeletionPolicy": "Retain" if retain else "Delete",
                },
                "Policy": {
                    "Type": "AWS::S3::BucketPolicy",
                    "Properties": {"Bucket": {"Ref": "Bucket"}, "PolicyDocument": policy},
                },
                "Alarm": {
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "AlarmName": f"{bucket}-errors",
                        "ComparisonOperator": "GreaterThanThreshold",
                        "EvaluationPeriods": 1,
                        "MetricName": "Invocation5XXErrors",
                        "Namespace": "AWS/SageMaker",
                        "Period": 60,
                        "Statistic": "Sum",
                        "Threshold": 0,
                        "Dimensions": [{"Name": "EndpointName", "Value": bucket}],
                    },
                },
            },
            "Outputs": {"BucketName": {"Value": {"Ref": "Bucket"}}},
        }
    )


def test_bucket_policy_and_alarm_are_real_resources(cloud: Any) -> None:
    cfn, s3 = cloud.client("cloudformation"), cloud.client("s3")
    cloudwatch = cloud.client("cloudwatch")
    change_set(cfn, "policed", "deploy", bucket_template("policed-bucket", retain=True), "CREATE")
    cfn.execute_change_set(StackName="policed", ChangeSetName="deploy")
    assert stack_status(cfn, "policed") == "CREATE_COMPLETE"

    policy = json.loads(s3.get_bucket_policy(Bucket="policed-bucket")["Policy"])
    assert policy["Statement"][0]["Effect"] == "Deny"
    # The loopback cloud stands for TLS: the enforce-SSL statement does not deny its clients.
    s3.put_object(Bucket="policed-bucket", Key="k", Body=b"kept")
    assert s3.get_object(Bucket="policed-bucket", Key="k")["Body"].read() == b"kept"
    alarms = cloudwatch.describe_alarms(AlarmNames=["policed-bucket-errors"])["MetricAlarms"]
    assert [(a["MetricName"], a["Threshold"]) for a in alarms] == [("Invocation5XXErrors", 0.0)]

    cfn.delete_stack(StackName="policed")
    assert cloudwatch.describe_alarms(AlarmNames=["policed-bucket-errors"])["MetricAlarms"] == []
    with pytest.raises(ClientError) as gone:  # the retained bucket stays, without the policy
        s3.get_bucket_policy(Bucket="policed-bucket")
    assert gone.value.response["Error"]["Code"] == "NoSuchBucketPolicy"


def test_deleting_a_stack_whose_bucket_holds_objects_fails_with_the_reason(cloud: Any) -> None:
    cfn, s3 = cloud.client("cloudformation"), cloud.client("s3")
    cfn.create_stack(StackName="full", TemplateBody=bucket_template("full-bucket", retain=False))
    assert stack_status(cfn, "full") == "CREATE_COMPLETE"
    s3.put_object(Bucket="full-bucket", Key="model.tar.gz", Body=b"weights")

    cfn.delete_stack(StackName="full")

    stack = cfn.describe_stacks(StackName="full")["Stacks"][0]
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert "The bucket you tried to delete is not empty" in stack["StackStatusReason"]
    events = cfn.describe_stack_events(StackName="full")["StackEvents"]
    failed = [
        (e["LogicalResourceId"], e["ResourceType"], e["ResourceStatusReason"])
        for e in events
        if e["ResourceStatus"] == "DELETE_FAILED" and e["LogicalResourceId"] != "full"
    ]
    assert failed == [("Bucket", "AWS::S3::Bucket", "The bucket you tried to delete is not empty")]
    assert s3.head_bucket(Bucket="full-bucket")["ResponseMetadata"]["HTTPStatusCode"] == 200

    s3.delete_object(Bucket="full-bucket", Key="model.tar.gz")
    cfn.delete_stack(StackName="full")  # a retry deletes what is left
    live = [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]]
    statuses = {
        s["StackStatus"] for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "full"
    }
    assert "full" in live and statuses == {"DELETE_COMPLETE"}
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket="full-bucket")
