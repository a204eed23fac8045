"""CloudWatch alarms that roll a blue/green endpoint deployment back."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct


class RollbackAlarms(Construct):
    """Alarms on the variant's 5xx errors and model latency, watched during a deployment.

    The alarms get deterministic names (`<prefix>-5xx-errors`, `<prefix>-model-latency`)
    because the endpoint lists them by name while they read the endpoint's name: referencing
    them by token would make the endpoint and the alarms depend on each other.
    Defaults: any 5xx in a minute, or a model latency above 1000 ms on average for two minutes.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        endpoint_name: str,
        variant_name: str,
        max_5xx_errors_per_minute: int = 0,
        max_model_latency_ms: int = 1000,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarm_names = [f"{name_prefix}-5xx-errors", f"{name_prefix}-model-latency"]
        """Names as the endpoint's AutoRollbackConfiguration lists them (plain strings)."""
        dimensions = {"EndpointName": endpoint_name, "VariantName": variant_name}
        self.errors = cloudwatch.Alarm(
            self,
            "Invocation5xxErrors",
            alarm_name=self.alarm_names[0],
            alarm_description="5xx answers of the model container; rolls a deployment back",
            metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name="Invocation5XXErrors",
                dimensions_map=dimensions,
                statistic="Sum",
                period=Duration.minutes(1),
            ),
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            threshold=max_5xx_errors_per_minute,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.latency = cloudwatch.Alarm(
            self,
            "ModelLatency",
            alarm_name=self.alarm_names[1],
            alarm_description="model latency (microseconds) too high; rolls a deployment back",
            metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name="ModelLatency",
                dimensions_map=dimensions,
                statistic="Average",
                period=Duration.minutes(1),
            ),
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            threshold=max_model_latency_ms * 1000,  # the metric is in microseconds
            evaluation_periods=2,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
