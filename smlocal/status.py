"""`smlocal status`: what is deployed for an environment, compared with its manifest.

Reads only through boto3 (CloudFormation outputs, SageMaker describe calls, Application Auto
Scaling), so it reports the same way for AWS and for the local cloud.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from smlocal.core import aws
from smlocal.core.errors import UserError
from smlocal.core.manifest import AsyncEndpoint, Environment, ProvisionedEndpoint
from smlocal.core.naming import OUTPUT_ENDPOINT_NAME, platform_stack_name


@dataclass(frozen=True)
class Drift:
    """One setting whose deployed value differs from the manifest."""

    field: str
    desired: Any
    deployed: Any


@dataclass
class Status:
    """What is deployed for one environment and how it differs from the manifest."""

    env: str
    deployed: bool
    endpoint_name: str | None = None
    endpoint_status: str | None = None
    endpoint_config_name: str | None = None
    actual: dict[str, Any] = field(default_factory=dict)
    drift: list[Drift] = field(default_factory=list)
    reason: str | None = None
    kept_bucket: str | None = None  # what outlived a destroyed platform stack, if anything

    @property
    def in_sync(self) -> bool:
        return self.deployed and not self.drift and self.endpoint_status == "InService"


def desired_settings(env: Environment) -> dict[str, Any]:
    """The settings a deployed endpoint of this manifest must show."""
    spec = env.endpoint
    wanted: dict[str, Any] = {
        "kind": env.endpoint_kind,
        "model_data_url": env.model.model_data_url,
        "image": env.image_uri,
    }
    if isinstance(spec, ProvisionedEndpoint):
        wanted["instance_type"] = spec.instance_type
        wanted["initial_instance_count"] = spec.initial_instance_count
        if spec.autoscaling is not None:
            wanted["autoscaling_min"] = spec.autoscaling.min
            wanted["autoscaling_max"] = spec.autoscaling.max
        if isinstance(spec, AsyncEndpoint):
            wanted["async_output_path"] = f"s3://{env.bucket_name}/{spec.output_prefix}"
            wanted["async_failure_path"] = f"s3://{env.bucket_name}/{spec.failure_prefix}"
            if spec.max_concurrent_invocations_per_instance is not None:
                wanted["max_concurrent_invocations_per_instance"] = (
                    spec.max_concurrent_invocations_per_instance
                )
    else:
        wanted["memory_size_mb"] = spec.memory_size_mb
        wanted["max_concurrency"] = spec.max_concurrency
        if spec.provisioned_concurrency is not None:
            wanted["provisioned_concurrency"] = spec.provisioned_concurrency
    return wanted


def kept_bucket(env: Environment) -> str | None:
    """After `cdk destroy`: the default bucket if it outlived its platform stack (a manifest of
    that account and region marks it `retain`, or, as on AWS, `destroy` found it not empty),
    with how many objects it holds."""
    platform = platform_stack_name(env.account, env.region)
    try:
        aws.client("cloudformation", env).describe_stacks(StackName=platform)
        return None  # the platform stack is deployed: the bucket is its own
    except ClientError:
        pass
    s3 = aws.client("s3", env)
    try:
        listed = s3.list_objects_v2(Bucket=env.bucket_name, MaxKeys=1000)
    except ClientError:
        return None  # gone with its stack, or never created
    count = f"{listed.get('KeyCount', 0)}{'+' if listed.get('IsTruncated') else ''}"
    return (
        f"bucket {env.bucket_name} was kept after its platform stack {platform} was destroyed "
        f"(bucket_removal_policy retain, or a bucket that was not empty) and holds {count} "
        f"objects; delete it by hand if unwanted"
    )


def _deployed_settings(env: Environment, endpoint_name: str) -> tuple[str, str, dict[str, Any]]:
    sm = aws.client("sagemaker", env)
    endpoint = sm.describe_endpoint(EndpointName=endpoint_name)
    config_name = endpoint["EndpointConfigName"]
    config = sm.describe_endpoint_config(EndpointConfigName=config_name)
    variant = config["ProductionVariants"][0]
    model = sm.describe_model(ModelName=variant["ModelName"])
    container = model.get("PrimaryContainer") or model["Containers"][0]
    actual: dict[str, Any] = {
        "model_data_url": container.get("ModelDataUrl"),
        "image": container.get("Image"),
    }
    serverless = variant.get("ServerlessConfig")
    if serverless:
        actual["kind"] = "serverless"
        actual["memory_size_mb"] = serverless.get("MemorySizeInMB")
        actual["max_concurrency"] = serverless.get("MaxConcurrency")
        if "ProvisionedConcurrency" in serverless:
            actual["provisioned_concurrency"] = serverless["ProvisionedConcurrency"]
    else:
        queued = config.get("AsyncInferenceConfig")
        actual["kind"] = "async" if queued else "provisioned"
        if queued:
            output = queued.get("OutputConfig") or {}
            actual["async_output_path"] = output.get("S3OutputPath")
            actual["async_failure_path"] = output.get("S3FailurePath")
            client = queued.get("ClientConfig") or {}
            if "MaxConcurrentInvocationsPerInstance" in client:
                actual["max_concurrent_invocations_per_instance"] = client[
                    "MaxConcurrentInvocationsPerInstance"
                ]
        actual["instance_type"] = variant.get("InstanceType")
        actual["initial_instance_count"] = variant.get("InitialInstanceCount")
        resource_id = f"endpoint/{endpoint_name}/variant/{variant['VariantName']}"
        targets = aws.client("application-autoscaling", env).describe_scalable_targets(
            ServiceNamespace="sagemaker", ResourceIds=[resource_id]
        )["ScalableTargets"]
        if targets:
            actual["autoscaling_min"] = targets[0]["MinCapacity"]
            actual["autoscaling_max"] = targets[0]["MaxCapacity"]
    return endpoint["EndpointStatus"], config_name, actual


def compare(env: Environment) -> Status:
    """Describe what is deployed for `env` and list every difference from its manifest."""
    if not env.model.is_set:
        return Status(env=env.name, deployed=False, reason="no model is pinned in the manifest")
    try:
        stack = aws.describe_endpoint_stack(aws.client("cloudformation", env), env.name)
    except UserError as err:
        return Status(env=env.name, deployed=False, reason=str(err), kept_bucket=kept_bucket(env))
    endpoint_name = stack.outputs.get(OUTPUT_ENDPOINT_NAME)
    if not endpoint_name:
        # A stack whose creation rolled back keeps its name and loses its outputs.
        return Status(
            env=env.name,
            deployed=False,
            reason=f"stack {stack.name} is {stack.status} and has no {OUTPUT_ENDPOINT_NAME} output",
        )
    try:
        endpoint_status, config_name, actual = _deployed_settings(env, endpoint_name)
    except ClientError as err:
        return Status(
            env=env.name,
            deployed=False,
            endpoint_name=endpoint_name,
            reason=f"endpoint {endpoint_name}: {err.response['Error'].get('Message', err)}",
        )
    wanted = desired_settings(env)
    keys = list(wanted) + [k for k in actual if k not in wanted]
    drift = [Drift(k, wanted.get(k), actual.get(k)) for k in keys if wanted.get(k) != actual.get(k)]
    return Status(
        env=env.name,
        deployed=True,
        endpoint_name=endpoint_name,
        endpoint_status=endpoint_status,
        endpoint_config_name=config_name,
        actual=actual,
        drift=drift,
    )
