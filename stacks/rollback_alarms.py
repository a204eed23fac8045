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
        self._dimensions = {"EndpointName": endpoint_name, "VariantName": variant_name}
        self.errors = self._alarm(
            "Invocation5xxErrors",
            self.alarm_names[0],
            "5xx answers of the model container; rolls a deployment back",
            self._metric("Invocation5XXErrors", "Sum"),
            threshold=max_5xx_errors_per_minute,
            evaluation_periods=1,
        )
        self.latency = self._alarm(
            "ModelLatency",
            self.alarm_names[1],
            "model latency (microseconds) too high; rolls a deployment back",
            self._metric("ModelLatency", "Average"),
            threshold=max_model_latency_ms * 1000,  # the metric is in microseconds
            evaluation_periods=2,
        )

    def _metric(self, metric_name: str, statistic: str) -> cloudwatch.Metric:
        """The variant's SageMaker metric `metric_name`, as its per-minute `statistic`."""
        return cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name=metric_name,
            dimensions_map=self._dimensions,
            statistic=statistic,
            period=Duration.minutes(1),
        )

    def _alarm(
        self,
        construct_id: str,
        alarm_name: str,
        description: str,
        metric: cloudwatch.Metric,
        *,
        threshold: float,
        evaluation_periods: int,
    ) -> cloudwatch.Alarm:
        """An alarm when `metric` goes above `threshold` for `evaluation_periods` minutes."""
        return cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=alarm_name,
            alarm_description=description,
            metric=metric,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
