"""Which CloudFormation resource types the local cloud creates, which it only records, and which
it refuses: the one source of truth for stacks (`events` enforces it) and for the table in
docs/localcloud.md (`python -m localcloud.services.cloudformation.supported` prints it).

- creates: the resource exists and acts as on AWS (a bucket holds objects, a role's policies are
  enforced, an endpoint serves, an alarm evaluates);
- records: metadata the cloud keeps faithfully, with nothing behind it to act; the stack's
  events say so (`ResourceStatusReason` of the resource's CREATE_COMPLETE);
- refused: everything else. The resource ends CREATE_FAILED with a reason naming the type and
  the stack rolls back, as a stack with a type the region does not offer fails on AWS. That
  includes every type moto's CloudFormation knows but the cloud does not act on (moto would
  report a Lambda function created that can never run) and every type it does not know (moto
  would skip it and report the stack complete).
"""

from __future__ import annotations

from collections.abc import Mapping

CREATES = "creates"
RECORDS = "records"
REFUSED = "refused"

SUPPORTED: dict[str, tuple[str, str]] = {
    "AWS::SageMaker::Model": (
        CREATES,
        "CreateModel through the SageMaker API: every property the API takes, its checks",
    ),
    "AWS::SageMaker::EndpointConfig": (CREATES, "CreateEndpointConfig through the SageMaker API"),
    "AWS::SageMaker::Endpoint": (
        CREATES,
        "serving processes, waited for until InService; updated in place by UpdateEndpoint",
    ),
    "AWS::ApplicationAutoScaling::ScalableTarget": (CREATES, "scales the variant"),
    "AWS::ApplicationAutoScaling::ScalingPolicy": (CREATES, "its alarms scale the variant"),
    "AWS::CloudWatch::Alarm": (CREATES, "evaluated on the cloud's clock"),
    "AWS::S3::Bucket": (CREATES, "a delete of a bucket that holds objects fails"),
    "AWS::S3::BucketPolicy": (CREATES, ""),
    "AWS::IAM::Role": (
        CREATES,
        "`ManagedPolicyArns` attached (one that does not exist fails it: NoSuchEntity)",
    ),
    "AWS::IAM::Policy": (CREATES, ""),
    "AWS::IAM::ManagedPolicy": (CREATES, ""),
    "AWS::IAM::OIDCProvider": (CREATES, ""),
    "AWS::SSM::Parameter": (CREATES, ""),
    "AWS::Logs::LogGroup": (CREATES, ""),
    "AWS::ECR::Repository": (RECORDS, "no image can be pushed: the cloud runs no registry"),
    "AWS::KMS::Key": (
        RECORDS,
        "the key and its policy (KMS Encrypt / Decrypt answer); S3 does not encrypt with it",
    ),
    "AWS::KMS::Alias": (RECORDS, ""),
    "AWS::CDK::Metadata": (RECORDS, "the CDK's version report: nothing to create, as on AWS"),
    "AWS::CloudFormation::WaitConditionHandle": (
        RECORDS,
        "no presigned URL is made: nothing could signal it",
    ),
    "AWS::SageMaker::NotebookInstanceLifecycleConfig": (
        RECORDS,
        "the scripts; no notebook instance runs them",
    ),
}

# Why the cloud refuses the types a user is likeliest to meet.
_REFUSALS: dict[str, str] = {
    "AWS::Lambda::Function": "no Lambda runtime: the function could never run",
    "AWS::CloudFormation::CustomResource": "a custom resource needs a Lambda function",
    "AWS::CloudFormation::Stack": "nested stacks are not created",
    "AWS::CloudFormation::WaitCondition": "nothing would ever signal it",
}


def support(resource_type: str, refused_actions: Mapping[str, str]) -> tuple[str, str]:
    """(creates | records | refused, note) of a resource type. `refused_actions` are the
    SageMaker actions the cloud refuses, with why (the API audit's, wired in by `patches`): an
    `AWS::SageMaker::<X>` whose `Create<X>` is among them is refused for that reason."""
    if resource_type in SUPPORTED:
        return SUPPORTED[resource_type]
    if resource_type.startswith("Custom::"):
        return REFUSED, _REFUSALS["AWS::CloudFormation::CustomResource"]
    if resource_type in _REFUSALS:
        return REFUSED, _REFUSALS[resource_type]
    action = "Create" + resource_type.split("::")[-1]
    if resource_type.startswith("AWS::SageMaker::") and action in refused_actions:
        why = refused_actions[action]
        return REFUSED, f"the cloud refuses sagemaker:{action}" + (f" ({why})" if why else "")
    return REFUSED, "not a type the local cloud creates"


def refusal(resource_type: str, refused_actions: Mapping[str, str]) -> str:
    """The CREATE_FAILED reason of a refused type."""
    why = support(resource_type, refused_actions)[1]
    return f"The local cloud does not create {resource_type}: {why}."


def markdown() -> str:
    """The supported-types table for docs/localcloud.md."""
    rows = ["| type | local cloud | note |", "|---|---|---|"]
    rows += [f"| `{t}` | {kind} | {note} |" for t, (kind, note) in SUPPORTED.items()]
    refused = ", ".join(f"`{t}` ({why})" for t, why in _REFUSALS.items())
    tail = (
        "Refused (the resource `CREATE_FAILED` naming the type, the stack rolled back): every "
        f"other type, among them {refused}, `Custom::*`, and each `AWS::SageMaker::<X>` whose "
        "`Create<X>` the audit refuses (Domain, UserProfile, App, Space, NotebookInstance, "
        "MonitoringSchedule, ...)."
    )
    return "\n".join([*rows, "", tail]) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
