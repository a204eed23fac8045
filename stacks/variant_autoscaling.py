"""Application Auto Scaling of a provisioned endpoint variant."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_iam as iam
from constructs import Construct

from smlocal.core.manifest import Autoscaling


class VariantAutoscaling(Construct):
    """Target tracking on invocations per instance (`SageMakerVariantInvocationsPerInstance`).

    Scales out after 60 s and in after 300 s of cooldown, so a burst does not flap the fleet.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        variant_name: str,
        settings: Autoscaling,
    ) -> None:
        super().__init__(scope, construct_id)
        # Application Auto Scaling's service-linked role (created on first registration)
        # instead of a new role per endpoint that CloudFormation would have to manage.
        service_linked_role = iam.Role.from_role_arn(
            self,
            "ServiceLinkedRole",
            Stack.of(self).format_arn(
                service="iam",
                region="",
                resource="role",
                resource_name="aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
                "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
            ),
            mutable=False,
        )
        self.target = appscaling.ScalableTarget(
            self,
            "Target",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{endpoint_name}/variant/{variant_name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=settings.min,
            max_capacity=settings.max,
            role=service_linked_role,
        )
        self.target.scale_to_track_metric(
            "InvocationsPerInstance",
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            target_value=settings.target_invocations_per_instance,
            scale_out_cooldown=Duration.seconds(60),
            scale_in_cooldown=Duration.seconds(300),
        )
