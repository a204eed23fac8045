"""EndpointStack: one environment's model, endpoint config and endpoint."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, CfnOutput, Stack, Tags, Validations
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from smlocal.core.manifest import AsyncEndpoint, Deployment, Environment, ProvisionedEndpoint
from smlocal.core.naming import (
    DATA_CAPTURE_PREFIX,
    OUTPUT_BUCKET_NAME,
    OUTPUT_ENDPOINT_CONFIG_NAME,
    OUTPUT_ENDPOINT_NAME,
    OUTPUT_MODEL_NAME,
    OUTPUT_ROLE_ARN,
)
from stacks.checkov import skip_checkov
from stacks.config_name import endpoint_config_name
from stacks.rollback_alarms import RollbackAlarms
from stacks.variant_autoscaling import VariantAutoscaling

VARIANT_NAME = "AllTraffic"
"""One variant, always this name: blue/green updates need the same variant name."""


def _traffic_routing(
    deployment: Deployment,
) -> sagemaker.CfnEndpoint.TrafficRoutingConfigProperty:
    """The manifest's traffic shifting as SageMaker's TrafficRoutingConfig."""
    if deployment.traffic == "canary":
        return sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
            type="CANARY",
            canary_size=sagemaker.CfnEndpoint.CapacitySizeProperty(
                type="CAPACITY_PERCENT", value=deployment.canary_percent
            ),
            wait_interval_in_seconds=deployment.wait_seconds,
        )
    if deployment.traffic == "linear":
        return sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
            type="LINEAR",
            linear_step_size=sagemaker.CfnEndpoint.CapacitySizeProperty(
                type="CAPACITY_PERCENT", value=deployment.linear_step_percent
            ),
            wait_interval_in_seconds=deployment.wait_seconds,
        )
    return sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
        type="ALL_AT_ONCE", wait_interval_in_seconds=0
    )


def model_container(environment: Environment) -> dict[str, Any]:
    """The model's primary container, as keyword names of `CfnModel.ContainerDefinitionProperty`.

    The PyTorch serving image runs `code/inference.py` from the unpacked model.tar.gz, as the
    SageMaker Python SDK sets it up for a repacked model.
    """
    assert environment.model.model_data_url is not None
    return {
        "image": environment.image_uri,
        "model_data_url": environment.model.model_data_url,
        "environment": {
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_REGION": environment.region,
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        },
    }


def production_variant(environment: Environment) -> dict[str, Any]:
    """The one production variant, as keyword names of `ProductionVariantProperty`, without
    its model name (a token known only at deploy)."""
    spec = environment.endpoint
    variant: dict[str, Any] = {"variant_name": VARIANT_NAME}
    if isinstance(spec, ProvisionedEndpoint):
        variant |= {
            "instance_type": spec.instance_type,
            "initial_instance_count": spec.initial_instance_count,
            "initial_variant_weight": 1,
        }
    else:
        serverless: dict[str, Any] = {
            "memory_size_in_mb": spec.memory_size_mb,
            "max_concurrency": spec.max_concurrency,
        }
        if spec.provisioned_concurrency is not None:
            serverless["provisioned_concurrency"] = spec.provisioned_concurrency
        variant["serverless_config"] = serverless
    return variant


def data_capture(environment: Environment) -> dict[str, Any] | None:
    """The endpoint config's data capture, as keyword names of `DataCaptureConfigProperty`
    (capture options as plain dicts); None when the manifest has no `data_capture` block."""
    spec = environment.endpoint
    capture = spec.data_capture if isinstance(spec, ProvisionedEndpoint) else None
    if capture is None:
        return None
    settings: dict[str, Any] = {
        "enable_capture": True,
        "initial_sampling_percentage": capture.sampling_percentage,
        "destination_s3_uri": capture.destination
        or f"s3://{environment.bucket_name}/{DATA_CAPTURE_PREFIX}",
        "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
    }
    if environment.bucket_kms_key_arn:  # the captures are encrypted as the bucket is
        settings["kms_key_id"] = environment.bucket_kms_key_arn
    return settings


def async_inference(environment: Environment) -> dict[str, Any] | None:
    """The endpoint config's AsyncInferenceConfig, as keyword names of its CDK property (the
    output and client configs as plain dicts); None unless the endpoint kind is async."""
    spec = environment.endpoint
    if not isinstance(spec, AsyncEndpoint):
        return None
    bucket = f"s3://{environment.bucket_name}"
    output: dict[str, Any] = {
        "s3_output_path": f"{bucket}/{spec.output_prefix}",
        "s3_failure_path": f"{bucket}/{spec.failure_prefix}",
    }
    if environment.bucket_kms_key_arn:  # the answers are encrypted as the bucket is
        output["kms_key_id"] = environment.bucket_kms_key_arn
    settings: dict[str, Any] = {"output_config": output}
    if spec.max_concurrent_invocations_per_instance is not None:
        settings["client_config"] = {
            "max_concurrent_invocations_per_instance": spec.max_concurrent_invocations_per_instance
        }
    return settings


def endpoint_config_content(environment: Environment) -> dict[str, Any]:
    """What the endpoint config pins down, the model's content included: its name's hash input.

    The model's name is a token, so the model's own settings stand in for it.
    """
    content = {
        "model": model_container(environment),
        "isolated": isinstance(environment.endpoint, ProvisionedEndpoint),
        "variants": [production_variant(environment)],
    }
    capture = data_capture(environment)
    if capture is not None:  # only then: the names of configs without capture stay as they were
        content["data_capture"] = capture
    queued = async_inference(environment)
    if queued is not None:  # likewise
        content["async_inference"] = queued
    return content


class EndpointStack(Stack):
    """Model from the environment's pin, endpoint config (content-hash name) and endpoint; an
    async endpoint's config answers into the default bucket.

    Provisioned and async endpoints also get autoscaling (when the manifest has it) and a blue/green
    deployment policy that rolls back on the 5xx and model-latency alarms. The role and the
    bucket belong to the PlatformStack and are referenced by their deterministic names.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, environment: Environment, **kwargs: Any
    ) -> None:
        if not environment.model.is_set:
            raise ValueError(f"environment {environment.name!r} has no model pin")
        super().__init__(
            scope,
            construct_id,
            description=f"smlocal endpoint of environment {environment.name}",
            **kwargs,
        )
        Tags.of(self).add("smlocal:environment", environment.name)
        spec = environment.endpoint
        provisioned = isinstance(spec, ProvisionedEndpoint)
        container = model_container(environment)
        variant = production_variant(environment)

        model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=environment.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(**container),
            # Serverless endpoints do not support network isolation.
            enable_network_isolation=True if provisioned else None,
            tags=[{"key": "smlocal:model-sha256", "value": environment.model.sha256 or ""}],
        )
        config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            endpoint_config_name=endpoint_config_name(
                environment.name, endpoint_config_content(environment)
            ),
            production_variants=[_variant_property(variant, model.attr_model_name)],
            data_capture_config=_capture_property(data_capture(environment)),
            async_inference_config=_async_property(async_inference(environment)),
        )
        endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_config_name=config.attr_endpoint_config_name
        )

        if isinstance(spec, ProvisionedEndpoint):
            alarms = RollbackAlarms(
                self,
                "RollbackAlarms",
                name_prefix=self.stack_name,
                endpoint_name=endpoint.attr_endpoint_name,
                variant_name=VARIANT_NAME,
            )
            deployment = spec.deployment
            endpoint.deployment_config = sagemaker.CfnEndpoint.DeploymentConfigProperty(
                blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                    traffic_routing_configuration=_traffic_routing(deployment),
                    termination_wait_in_seconds=deployment.bake_seconds,
                    maximum_execution_timeout_in_seconds=deployment.timeout_seconds,
                ),
                auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                    alarms=[
                        sagemaker.CfnEndpoint.AlarmProperty(alarm_name=name)
                        for name in alarms.alarm_names
                    ]
                ),
            )
            if spec.autoscaling is not None:
                VariantAutoscaling(
                    self,
                    "Autoscaling",
                    endpoint_name=endpoint.attr_endpoint_name,
                    variant_name=VARIANT_NAME,
                    settings=spec.autoscaling,
                )

        Validations.of(model).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SM1",
                reason="the project runs no VPC; serverless endpoints cannot use one.",
            ),
            Acknowledgment(
                id="AwsSolutions-SM3",
                reason="serverless endpoints do not support network isolation; "
                "provisioned ones have it.",
            ),
        )
        if not provisioned:
            skip_checkov(
                model, "CKV_AWS_370", "serverless endpoints do not support network isolation"
            )
        Validations.of(config).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SM2",
                reason="serverless endpoints take no KmsKeyId; the model artifact is "
                "encrypted at rest in the default bucket and instance volumes by SageMaker.",
            )
        )

        CfnOutput(self, OUTPUT_ENDPOINT_NAME, value=endpoint.attr_endpoint_name)
        CfnOutput(self, OUTPUT_ENDPOINT_CONFIG_NAME, value=config.attr_endpoint_config_name)
        CfnOutput(self, OUTPUT_MODEL_NAME, value=model.attr_model_name)
        CfnOutput(self, OUTPUT_ROLE_ARN, value=environment.role_arn)
        CfnOutput(self, OUTPUT_BUCKET_NAME, value=environment.bucket_name)


def _capture_property(
    capture: dict[str, Any] | None,
) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty | None:
    if capture is None:
        return None
    options = [
        sagemaker.CfnEndpointConfig.CaptureOptionProperty(**option)
        for option in capture["capture_options"]
    ]
    return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
        **{**capture, "capture_options": options}
    )


def _async_property(
    settings: dict[str, Any] | None,
) -> sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty | None:
    if settings is None:
        return None
    client = settings.get("client_config")
    return sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
        output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
            **settings["output_config"]
        ),
        client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(**client)
        if client
        else None,
    )


def _variant_property(
    variant: dict[str, Any], model_name: str
) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
    serverless = variant.get("serverless_config")
    return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
        **{
            **variant,
            "serverless_config": sagemaker.CfnEndpointConfig.ServerlessConfigProperty(**serverless)
            if serverless
            else None,
        },
        model_name=model_name,
    )
